"""Small event posts answered inside the HTTP protocol, without an ASGI request cycle.

At thousands of single events per second, most of the event loop's work per request was
uvicorn's ASGI cycle around it, not the ingest: a task, an event, a ``receive`` and two
``send`` coroutines, the response headers checked against regular expressions, and a held
head written on the next turn. :func:`ingest_protocol` subclasses the server's httptools
protocol: a ``POST /api/v1/events`` whose body is at most ``FAST_BODY_BYTES`` is read by the
parser callbacks, handed to the writer by the same functions as the ASGI path
(``klantreis.web.routes.ingest``), and answered in one write when the writer's future
settles. The answers are the same: 200 after the commit, 401/403/413/422 with the same
envelope, 500 when the writer failed.

Every other request takes uvicorn's path unchanged, and so does an ingest request with
anything unusual: a larger or chunked body, ``Expect: 100-continue``, HTTP/1.0, a request
pipelined behind one still in flight, an access log, a concurrency limit, a root path.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import orjson

from klantreis.web.envelope import ApiError
from klantreis.web.routes.ingest import (
    PATH,
    IngestFastPath,
    answer_data,
    api_error,
    hand_over,
    internal_error,
    require_ingest,
)

__all__ = ["FAST_BODY_BYTES", "ingest_protocol"]

log = logging.getLogger("klantreis.web.routes.ingest")

#: Bodies up to this size take the protocol's own path (a single event is ~300 bytes);
#: larger ones go through ASGI, where their cost is the events, not the request.
FAST_BODY_BYTES = 65_536
_PATH = PATH.encode()


class _Request:
    """An ingest request the protocol answers itself. It stands in for uvicorn's request
    cycle (``protocol.cycle``) in the protocol's other callbacks: ``connection_lost`` marks
    it ``disconnected``, ``shutdown`` clears ``keep_alive``, a pipelined request waits while
    it is not ``response_complete``."""

    __slots__ = ("authorization", "body", "disconnected", "keep_alive", "response_complete")

    def __init__(self, authorization: bytes | None) -> None:
        self.authorization = authorization
        self.body = bytearray()
        self.response_complete = False
        self.keep_alive = True
        self.disconnected = False

    @property
    def message_event(self) -> _Request:
        return self  # ``connection_lost`` sets the cycle's message event: nobody waits here

    def set(self) -> None:
        pass


def ingest_protocol(base: Any) -> Any:
    """``base`` (uvicorn's ``HttpToolsProtocol`` or a subclass) with the ingest path."""
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE

    class IngestHttpProtocol(base):  # type: ignore[misc]
        _ingest: _Request | None = None

        def on_message_begin(self) -> None:
            self._ingest = None
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            request = self._ingest_request()
            if request is None:
                super().on_headers_complete()
                return
            self._ingest = self.cycle = request

        def _ingest_request(self) -> _Request | None:
            """A :class:`_Request` when this request takes the protocol's path, else None."""
            parser = self.parser
            if (
                self.url != _PATH
                or not isinstance(self.app, IngestFastPath)
                or self.root_path
                or self.access_log
                or self.limit_concurrency is not None
                or self.expect_100_continue
                or (self.cycle is not None and not self.cycle.response_complete)
                or parser.get_method() != b"POST"
                or parser.get_http_version() != "1.1"
                or not parser.should_keep_alive()
                or parser.should_upgrade()
            ):
                return None
            authorization = length = None
            for name, value in self.headers:
                if name == b"content-length":
                    length = value
                elif name == b"authorization":
                    authorization = value
                elif name == b"transfer-encoding":
                    return None
            if length is None or not length.isdigit() or int(length) > FAST_BODY_BYTES:
                return None
            return _Request(authorization)

        def on_body(self, body: bytes) -> None:
            if self._ingest is None:
                super().on_body(body)
            else:
                self._ingest.body += body

        def on_message_complete(self) -> None:
            request, self._ingest = self._ingest, None
            if request is None:
                super().on_message_complete()
                return
            state = self.app.state
            authorization = request.authorization
            try:
                require_ingest(
                    state, None if authorization is None else authorization.decode("latin-1")
                )
                future, received = hand_over(state, bytes(request.body))
            except ApiError as exc:
                self._answer_error(request, exc)
                return
            except Exception:
                log.exception("event ingest failed")
                self._answer_response(request, internal_error())
                return
            future.add_done_callback(partial(self._settled, request, received))

        def _settled(self, request: _Request, received: int, future: Any) -> None:
            if request.disconnected or self.transport.is_closing():
                return  # nobody to answer; a re-sent request adds nothing
            try:
                data = answer_data(future, received)
            except ApiError as exc:
                self._answer_error(request, exc)
                return
            except Exception:  # e.g. the writer failed to commit: never acknowledged
                log.exception("event ingest failed")
                self._answer_response(request, internal_error())
                return
            body = orjson.dumps({"ok": True, "data": data, "meta": {}})
            self._answer(request, 200, [(b"content-type", b"application/json")], body)

        def _answer_error(self, request: _Request, exc: ApiError) -> None:
            self._answer_response(request, api_error(exc))

        def _answer_response(self, request: _Request, response: Any) -> None:
            headers = [(k, v) for k, v in response.raw_headers if k != b"content-length"]
            self._answer(request, response.status_code, headers, bytes(response.body))

        def _answer(
            self, request: _Request, status: int, headers: list[tuple[bytes, bytes]], body: bytes
        ) -> None:
            """Write the whole answer at once, then let uvicorn close the request (the
            keep-alive timer, reading again, a pipelined request)."""
            parts = [STATUS_LINE[status]]
            for name, value in [*self.server_state.default_headers, *headers]:
                parts += [name, b": ", value, b"\r\n"]
            parts += [b"content-length: %d\r\n" % len(body)]
            if not request.keep_alive:
                parts.append(b"connection: close\r\n")
            parts += [b"\r\n", body]
            self.transport.write(b"".join(parts))
            request.response_complete = True
            if not request.keep_alive:
                self.transport.close()
            self.on_response_complete()

    return IngestHttpProtocol
