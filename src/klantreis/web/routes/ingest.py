"""``POST /api/v1/events``: event ingest over HTTP, a thin adapter.

It checks the token, reads and parses the request, and hands the events to the single writer
(``klantreis.ingest.writer``, where events are written), which validates them (422 with a reason per rejected row; nothing of the request is stored) and
answers only after it has committed, so ``ok: true`` means durable. Events are idempotent on
``event_id`` (derived from the content when absent). Limits: the ``max_request_bytes`` and
``max_request_events`` settings (413). Needs a token with the ``ingest`` scope.

The endpoint is declared on the FastAPI router (for the OpenAPI spec and as a fallback), and
served by :class:`IngestFastPath`, a plain ASGI layer that skips FastAPI's routing and
dependency machinery: the same :func:`ingest` function answers either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from klantreis.ingest.limits import too_deep
from klantreis.ingest.writer import Rejected, WriteResult
from klantreis.model.events import EVENT_COLUMNS
from klantreis.web.envelope import ApiError, error_response, ok_response
from klantreis.web.state import web_state

__all__ = [
    "PATH",
    "IngestFastPath",
    "answer_data",
    "api_error",
    "hand_over",
    "ingest",
    "internal_error",
    "require_ingest",
    "router",
]

log = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])
PATH = "/api/v1/events"

_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["occurred_at", "kind"],
    "properties": {name: {"description": desc} for name, (_, desc) in EVENT_COLUMNS.items()},
    "additionalProperties": True,
}
_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"oneOf": [_EVENT_SCHEMA, {"type": "array", "items": _EVENT_SCHEMA}]}
        }
    },
}


#: JSON values that nest (``isinstance`` with a tuple: ``dict | list`` would build a union
#: type per call).
_NESTED = (dict, list)


def require_ingest(state: Any, authorization: str | None) -> None:
    """A valid token with the ``ingest`` scope (the token cache answers; the token's user
    and role are not needed here, so no store query per request)."""
    if not authorization:
        raise ApiError(401, "an API token with the 'ingest' scope is required", "unauthorized")
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "use 'Authorization: Bearer <token>'", "unauthorized")
    token = state.security.token(secret.strip())
    if token is None:
        raise ApiError(401, "invalid API token", "unauthorized")
    if "ingest" not in token.scopes:
        raise ApiError(403, "this token has no 'ingest' scope", "forbidden")


async def _read_body(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body larger than {limit} bytes", "payload_too_large")
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body larger than {limit} bytes", "payload_too_large")
        parts.append(chunk)
    return b"".join(parts)


def _parse(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "recursion" in str(exc).lower():  # orjson stops at 1,024 levels
            raise ApiError(422, "body is nested deeper than 1,024 levels", "invalid_json") from exc
    try:  # the standard parser also takes huge integers, and words errors familiarly
        return json.loads(body)
    except RecursionError as exc:
        raise ApiError(422, "body is nested too deeply", "invalid_json") from exc
    except ValueError as exc:  # also 5,000-digit integers (int_max_str_digits)
        raise ApiError(422, f"body is not valid JSON: {exc}"[:500], "invalid_json") from exc


def _records(body: bytes, max_events: int, max_depth: int = 64) -> list[dict[str, Any]]:
    payload = _parse(body)
    records = payload if isinstance(payload, list) else [payload]
    if len(records) > max_events:
        raise ApiError(
            413,
            f"more than {max_events} events in one request",
            "too_many_events",
            {"events": len(records), "max": max_events},
        )
    if not records:
        raise ApiError(422, "no events in the request", "invalid_input")
    if _plain(records):  # the common case, checked for the whole request at once
        return records
    bad = [
        {"index": i, "reason": reason}
        for i, r in enumerate(records)
        if (reason := _record_problem(r, max_depth))
    ]
    if bad:
        raise ApiError(
            422, f"{len(bad)} of {len(records)} events rejected", "invalid_events", bad[:1000]
        )
    return records


def _plain(records: list[Any]) -> bool:
    """True when every record is a JSON object without a nested value, so none can have a
    :func:`_record_problem`: one pass over the value types of the whole request (0.3 us
    an event, against 1.9 us for a check per record)."""
    if not all(type(r) is dict for r in records):
        return False
    kinds = {type(v) for r in records for v in r.values()}
    return dict not in kinds and list not in kinds


def _record_problem(record: Any, max_depth: int) -> str | None:
    """Why a parsed record cannot be an event (before the validation rules), or None."""
    if not isinstance(record, dict):
        return "an event must be a JSON object"
    if any(isinstance(v, _NESTED) for v in record.values()) and too_deep(record, max_depth):
        return f"nested deeper than {max_depth} levels (setting max_json_depth)"
    return None


async def ingest(
    state: Any, authorization: str | None, content_length: str | None, chunks: AsyncIterator[bytes]
) -> dict[str, int]:
    """Check the token, read and parse the body, and wait for the writer's commit."""
    require_ingest(state, authorization)
    body = await _read_body(chunks, content_length, state.app.settings.max_request_bytes)
    return await _store(state, body)


async def _store(state: Any, body: bytes) -> dict[str, int]:
    """Parse the body, hand the events to the writer and wait for its commit."""
    future, received = hand_over(state, body)
    with contextlib.suppress(Rejected):  # answered by ``answer_data``
        await future
    return answer_data(future, received)


def hand_over(state: Any, body: bytes) -> tuple[asyncio.Future[WriteResult], int]:
    """Parse the body (413 past ``max_request_bytes``) and hand its events to the writer:
    the writer's future and the number of events."""
    settings = state.app.settings
    if len(body) > settings.max_request_bytes:
        raise ApiError(
            413, f"request body larger than {settings.max_request_bytes} bytes", "payload_too_large"
        )
    records = _records(body, settings.max_request_events, settings.max_json_depth)
    return state.writer.submit(records), len(records)


def answer_data(future: asyncio.Future[WriteResult], received: int) -> dict[str, int]:
    """The answer's ``data`` for the writer's settled ``future`` (``received`` events);
    :class:`ApiError` 422 with the reasons when the writer rejected them. Any other failure
    of the writer is raised as it is (a 500: nothing acknowledged)."""
    try:
        result = future.result()
    except Rejected as exc:
        raise ApiError(
            422,
            f"{len(exc.details)} of {received} events rejected; nothing stored",
            "invalid_events",
            exc.details[:1000],
        ) from exc
    return {"received": result.received, "stored": result.stored, "duplicates": result.duplicates}


def api_error(exc: ApiError) -> Response:
    """The error answer for ``exc`` (a 401 says which scheme to use)."""
    extra = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(exc.status, exc.message, exc.code, exc.details, extra)


def internal_error() -> Response:
    """The answer when the events could not be stored (nothing acknowledged)."""
    return error_response(500, "the events could not be stored", "internal_error")


@router.post(
    PATH,
    summary="Ingest one event or a batch (durable on success)",
    openapi_extra={"requestBody": _BODY},
    status_code=200,
)
async def post_events(request: Request) -> Response:
    data = await ingest(
        web_state(request),
        request.headers.get("authorization"),
        request.headers.get("content-length"),
        request.stream(),
    )
    return ok_response(data)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class IngestFastPath:
    """ASGI layer answering ``POST /api/v1/events`` directly (everything else passes on).

    Per request it reads two headers and the body straight from the ASGI messages and
    answers with two raw messages: at thousands of requests per second, FastAPI's routing,
    a ``Request`` object and a ``Response`` object each cost measurably."""

    def __init__(self, app: Any, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        authorization = declared = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
            elif key == b"content-length":
                declared = value.decode("latin-1")
        try:
            require_ingest(self.state, authorization)
            limit = self.state.app.settings.max_request_bytes
            body = await _receive_body(receive, declared, limit)
            data = await _store(self.state, body)
        except ApiError as exc:
            await api_error(exc)(scope, receive, send)
            return
        except Exception:  # e.g. the writer failed to commit: never acknowledged
            log.exception("event ingest failed")
            await internal_error()(scope, receive, send)
            return
        await _send_ok(send, orjson.dumps({"ok": True, "data": data, "meta": {}}))


async def _send_ok(send: Send, body: bytes) -> None:
    """The success answer as two raw ASGI messages (the server writes them together)."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _receive_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The request body from the ASGI messages (413 past ``limit`` bytes). The common case,
    a body in one message, takes one ``receive``."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body larger than {limit} bytes", "payload_too_large")
    message = await receive()
    body: bytes = message.get("body", b"")
    if len(body) > limit:
        raise ApiError(413, f"request body larger than {limit} bytes", "payload_too_large")
    if not message.get("more_body", False) or message["type"] == "http.disconnect":
        return body
    parts, size = [body], len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body larger than {limit} bytes", "payload_too_large")
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)
