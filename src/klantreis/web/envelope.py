"""The one JSON envelope for every API answer, success or error.

Success: ``{"ok": true, "data": ..., "meta": {...}}``.
Error: ``{"ok": false, "error": {"code": str, "message": str, "details": ...}}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["ApiError", "error_response", "ok_response", "to_jsonable"]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised by handlers for a clean error envelope with a status code."""

    def __init__(
        self, status: int, message: str, code: str | None = None, details: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _HTTP_CODES.get(status, "error")
        self.message = message
        self.details = details


def to_jsonable(value: Any) -> Any:
    """Dates as ISO strings, NaN/inf as null, dataclass-like objects via ``to_dict``."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return to_jsonable(value.item())
    return value


class EnvelopeJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(
            to_jsonable(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")


def ok_response(data: Any, meta: dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    return EnvelopeJSON({"ok": True, "data": data, "meta": meta or {}}, status_code=status)


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {
        "ok": False,
        "error": {
            "code": code or _HTTP_CODES.get(status, "error"),
            "message": message,
            "details": details,
        },
    }
    return EnvelopeJSON(body, status_code=status, headers=headers)
