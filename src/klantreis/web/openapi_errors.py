"""The error statuses in the OpenAPI spec: every operation declares the statuses the
app's shared layers can answer it with, each with the error envelope as its schema.

Routes declare their own success status (and may declare more); this adds, where a route
has not: 400, 401, 403, 404, 422 and 429 everywhere (the error handlers, the token and
session checks, a resource named by a path or query parameter that does not exist, request
validation, rate limits), 413 and 415 for operations with a body. ``tests/web/test_openapi_fuzz.py`` fails on a status that is not
declared.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

__all__ = ["ERROR_SCHEMA", "declare_error_statuses", "error_statuses"]

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ok", "error"],
    "properties": {
        "ok": {"type": "boolean", "enum": [False]},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        },
    },
}

_DESCRIPTIONS = {
    400: "Bad request",
    401: "No or invalid credentials",
    403: "Not allowed for this role or token scope, or a failed CSRF check",
    404: "Not found",
    413: "Request body or event count too large",
    415: "Unsupported media type",
    422: "Invalid input (the reasons are in error.details)",
    429: "Too many requests",
}


def error_statuses(path: str, method: str) -> list[int]:
    """The error statuses an operation declares."""
    del path  # the same for every path today
    statuses = [400, 401, 403, 404, 422, 429]
    if method.lower() in ("post", "put", "patch"):
        statuses += [413, 415]
    return sorted(statuses)


def declare_error_statuses(api: FastAPI) -> None:
    """Make ``api.openapi()`` declare the error statuses of every operation."""
    build = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema:
            return api.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for status in error_statuses(path, method):
                    responses.setdefault(
                        str(status), {"description": _DESCRIPTIONS[status], "content": ref}
                    )
        api.openapi_schema = schema
        return schema

    api.openapi = openapi  # type: ignore[method-assign]
