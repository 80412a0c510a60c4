"""``POST /api/v1/events``: event ingest over HTTP.

One event (a JSON object) or a batch (a JSON array). The whole request is validated first
(422 with a reason per rejected row, nothing stored), then handed to the writer queue; the
answer comes only after the writer has committed, so ``ok: true`` means durable. Events are
idempotent on ``event_id`` (derived from the content when absent). Limits: the
``max_request_bytes`` and ``max_request_events`` settings (413).
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.responses import Response

from klantreis.model.events import EVENT_COLUMNS, derive_event_id, events_from_records, \
    validate_events
from klantreis.web.envelope import ApiError, ok_response

router = APIRouter(tags=["ingest"])

_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["occurred_at", "kind"],
    "properties": {name: {"description": desc} for name, (_, desc) in EVENT_COLUMNS.items()},
    "additionalProperties": True,
}
_BODY = {"required": True, "content": {"application/json": {"schema": {
    "oneOf": [_EVENT_SCHEMA, {"type": "array", "items": _EVENT_SCHEMA}]}}}}


def _require_ingest(request: Request) -> str:
    principal = request.app.state.security.principal(request)
    if principal is None:
        raise ApiError(401, "an API token with the 'ingest' scope is required", "unauthorized")
    if principal.via != "token" or "ingest" not in principal.scopes:
        raise ApiError(403, "this token has no 'ingest' scope", "forbidden")
    return str(principal.name)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body larger than {limit} bytes", "payload_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body larger than {limit} bytes", "payload_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _records(body: bytes, max_events: int) -> list[dict[str, Any]]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ApiError(422, f"body is not valid JSON: {exc}", "invalid_json") from exc
    records = payload if isinstance(payload, list) else [payload]
    if len(records) > max_events:
        raise ApiError(413, f"more than {max_events} events in one request",
                       "too_many_events", {"events": len(records), "max": max_events})
    if not records:
        raise ApiError(422, "no events in the request", "invalid_input")
    bad = [{"index": i, "reason": "an event must be a JSON object"}
           for i, r in enumerate(records) if not isinstance(r, dict)]
    if bad:
        raise ApiError(422, f"{len(bad)} of {len(records)} events rejected", "invalid_events",
                       bad[:1000])
    for record in records:
        if not record.get("event_id"):
            record["event_id"] = derive_event_id(
                "api", json.dumps(record, sort_keys=True, default=str))
    return records


def _validated(records: list[dict[str, Any]]) -> pa.Table:
    try:
        table = events_from_records(records, source="api")
    except (TypeError, ValueError, OverflowError, pa.ArrowException) as exc:
        raise ApiError(422, f"events could not be read: {exc}", "invalid_events") from exc
    result = validate_events(table)
    if result.rejected_index:
        details = [{"index": i, "reason": reason} for i, reason in
                   zip(result.rejected_index, result.rejected_reason, strict=True)]
        raise ApiError(422, f"{len(details)} of {len(records)} events rejected; nothing stored",
                       "invalid_events", details[:1000])
    return result.valid


@router.post("/api/v1/events", summary="Ingest one event or a batch (durable on success)",
             openapi_extra={"requestBody": _BODY}, status_code=200)
async def post_events(request: Request) -> Response:
    _require_ingest(request)
    settings = request.app.state.klantreis.settings
    body = await _read_body(request, settings.max_request_bytes)
    records = _records(body, settings.max_request_events)
    table = _validated(records)
    result = await request.app.state.writer.submit(table)
    return ok_response({"received": result.received, "stored": result.stored,
                        "duplicates": result.duplicates})
