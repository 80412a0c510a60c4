"""The event loop's CPU per single-event request, in process: the HTTP protocol that
``klantreis serve`` runs (uvicorn's httptools protocol as ``server_config`` builds it), the
ingest route and the answer, without sockets and without the writer (a stub answers each
request on the next turn of the event loop). Raw request bytes, as ``bench_web`` sends them,
are fed to 64 connections in turn.

    PYTHONPATH=src:. python -m bench.profile_ingest_protocol [--requests 20000] [--rounds 3]

Run it with another checkout's ``src`` first on ``PYTHONPATH`` for its code (interleave
the two). It prints the CPU per request of each round and checks every answer is a 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bench_web import SECRET, make_event

CONNECTIONS = 64


class _Transport:
    """Keeps what the protocol writes."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.out.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 1), "peername": ("127.0.0.1", 2)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Writer:
    """Answers every request on the next turn of the event loop, as stored."""

    def submit(self, records: list[dict[str, Any]]) -> asyncio.Future[Any]:
        from klantreis.ingest.writer import WriteResult

        future = asyncio.get_running_loop().create_future()
        future.get_loop().call_soon(future.set_result, WriteResult(len(records), len(records), 0))
        return future


def requests(n: int, secret: str) -> list[bytes]:
    rng = random.Random(7)
    end = datetime.now(UTC)
    out = []
    for i in range(n):
        body = json.dumps(make_event(i, rng, end)).encode()
        head = (
            f"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {secret}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def one_round(config: Any, reqs: list[bytes]) -> tuple[float, int]:
    """CPU seconds per request, and the number of 200 answers."""
    from uvicorn.server import ServerState

    loop = asyncio.get_running_loop()
    state = ServerState()
    protocols, transports = [], []
    for _ in range(CONNECTIONS):
        protocol = config.http_protocol_class(
            config=config, server_state=state, app_state={}, _loop=loop
        )
        protocol.access_log = False  # as ``klantreis serve`` runs
        transport = _Transport()
        protocol.connection_made(transport)
        protocols.append(protocol)
        transports.append(transport)
    t0 = time.process_time()
    for k in range(0, len(reqs), CONNECTIONS):
        for protocol, request in zip(protocols, reqs[k : k + CONNECTIONS], strict=False):
            protocol.data_received(request)
        for _ in range(6):  # the stub's answer, the answer's callbacks
            await asyncio.sleep(0)
    cpu = (time.process_time() - t0) / len(reqs)
    ok = sum(out.startswith(b"HTTP/1.1 200 ") for t in transports for out in t.out)
    for protocol in protocols:
        protocol.connection_lost(None)
    return cpu, ok


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from klantreis.access import accounts
    from klantreis.app import App
    from klantreis.settings import Settings
    from klantreis.web.app import create_app, server_config

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp()
    try:
        with App(Settings.load(env={}, db_path=str(Path(tmp) / "p.duckdb"))) as app:
            secret, _ = accounts.create_token(app.store, ["ingest"], name="bench")
            api = create_app(app, secret_key=SECRET, page_modules=[])
            api.state.web.writer = _Writer()
            asgi, options = server_config(api, app.settings, host="127.0.0.1", port=1)
            config = uvicorn.Config(asgi, **options, log_config=None)
            config.load()
            reqs = requests(args.requests, secret)
            for r in range(args.rounds):
                cpu, ok = asyncio.run(one_round(config, reqs))
                if ok != len(reqs):
                    raise SystemExit(f"{ok} of {len(reqs)} answers were 200")
                print(f"round {r + 1}: {cpu * 1e6:.1f} µs CPU per request ({len(reqs):,} requests)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
