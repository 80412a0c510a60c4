"""Static assets from the package, the web-app manifest, the service worker, health, and
the OpenAPI docs served offline (Swagger UI from the ``swagger-ui-bundle-v2`` package when it is
installed, else a small built-in page)."""

from __future__ import annotations

import mimetypes
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from klantreis.web.envelope import ApiError, ok_response
from klantreis.web.state import web_state
from klantreis.web.vendor import vega_bundle

router = APIRouter()

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".map": "application/json",
}
_CACHE = "public, max-age=3600"


def _static_file(name: str) -> bytes:
    if ".." in name.split("/") or name.startswith("/") or Path(name).suffix not in _TYPES:
        raise ApiError(404, "no such asset", "not_found")
    ref = resources.files("klantreis.web").joinpath("static").joinpath(name)
    if not ref.is_file():
        raise ApiError(404, "no such asset", "not_found")
    return ref.read_bytes()


@router.get("/static/vendor/vega-bundle.js", include_in_schema=False)
def vega() -> Response:
    return Response(
        vega_bundle(), media_type=_TYPES[".js"], headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/static/{name:path}", include_in_schema=False)
def static(name: str) -> Response:
    return Response(
        _static_file(name), media_type=_TYPES[Path(name).suffix], headers={"Cache-Control": _CACHE}
    )


@router.get("/manifest.webmanifest", include_in_schema=False)
def manifest() -> Response:
    return Response(_static_file("manifest.webmanifest"), media_type=_TYPES[".webmanifest"])


@router.get("/sw.js", include_in_schema=False)
def service_worker() -> Response:
    """Served from the root so that its scope covers every page."""
    return Response(
        _static_file("sw.js"),
        media_type=_TYPES[".js"],
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@router.get("/api/v1/health", tags=["meta"], summary="Liveness: the store answers")
def health(request: Request) -> Response:
    store = web_state(request).app.store
    rows = store.query("SELECT count(*) AS n FROM events").to_pylist()
    return ok_response({"status": "ok", "events": rows[0]["n"]})


def _swagger_dir() -> Path | None:
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    return Path(swagger_ui_bundle.swagger_ui_path)


@router.get("/api/v1/docs", include_in_schema=False)
def docs() -> Response:
    if _swagger_dir() is None:
        html = resources.files("klantreis.web").joinpath("static/apidocs.html").read_text("utf-8")
        return HTMLResponse(html)
    return get_swagger_ui_html(
        openapi_url="/api/v1/openapi.json",
        title="klantreis API",
        swagger_js_url="/api/v1/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/api/v1/docs/assets/swagger-ui.css",
        swagger_favicon_url="/static/icon.svg",
    )


@router.get("/api/v1/docs/assets/{name}", include_in_schema=False)
def docs_asset(name: str) -> Response:
    folder = _swagger_dir()
    allowed = {"swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"}
    if folder is None or name not in allowed:
        raise ApiError(404, "no such asset", "not_found")
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(
        (folder / name).read_bytes(), media_type=media, headers={"Cache-Control": _CACHE}
    )
