"""Live updates (``GET /stream/updates``): server-sent events for a logged-in page.

The stream sends ``update`` when new events arrive in the store (its version changes) and
``alert`` with the sentence of each new alert of the reader's subscriptions. The index page
listens (``static/app.js``): it fetches itself again and swaps its content, and announces
alerts in a polite live region — no reload. A stream ends after ``MAX_SECONDS`` and the
browser reconnects (``retry``), so no request lives forever; a comment line keeps proxies
from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from klantreis.web.envelope import ApiError
from klantreis.web.state import web_state

__all__ = ["router"]

router = APIRouter()

#: How often the store's version is looked at (seconds), and a stream's longest life.
POLL_SECONDS = 2.0
MAX_SECONDS = 300.0
KEEP_ALIVE_SECONDS = 15.0


def _message(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def _new_alerts(app: Any, user: str, since: datetime) -> list[dict[str, Any]]:
    from klantreis.act.alerts import alert_log

    return [
        {"text": r["text"], "at": r["created_at"]}
        for r in alert_log(app.store, user, limit=20)
        if r["status"] == "sent" and r["created_at"] > since
    ]


@router.get("/stream/updates", include_in_schema=False)
async def updates(request: Request) -> StreamingResponse:
    state = web_state(request)
    principal = state.security.principal(request)
    if principal is None:
        raise ApiError(401, "log in first", "unauthorized")
    app, user = state.app, principal.name
    poll = float(getattr(request.app.state, "stream_poll_seconds", POLL_SECONDS))

    async def events() -> AsyncIterator[str]:
        began = time.monotonic()
        since = datetime.now(UTC)
        last = await asyncio.to_thread(app.store.version)
        quiet = 0.0
        yield f"retry: {int(poll * 2500)}\n\n"
        while time.monotonic() - began < MAX_SECONDS:
            await asyncio.sleep(poll)
            if await request.is_disconnected():
                return
            version = await asyncio.to_thread(app.store.version)
            fresh = await asyncio.to_thread(_new_alerts, app, user, since)
            for alert in fresh:
                since = max(since, alert["at"])
                yield _message("alert", {"text": alert["text"]})
            if version != last:
                last, quiet = version, 0.0
                yield _message("update", {"events": version[1]})
            elif not fresh:
                quiet += poll
                if quiet >= KEEP_ALIVE_SECONDS:
                    quiet = 0.0
                    yield ": keep-alive\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
