"""Web benchmark (loopback only): ingest events/s over HTTP and the overview page's latency.

One uvicorn process serves a fresh store (``klantreis serve``); this process is the load
generator: a small keep-alive HTTP/1.1 client on asyncio (httpx itself would be the
bottleneck), ``--concurrency`` connections in flight.

    python -m bench.bench_web [--single 20000] [--batches 1000] [--concurrency 64]
        [--wide-concurrency 256] [--batch-concurrency 8,32] [--ingest-only]

The load generator runs in this process, the server in its own: on a small machine they
share the CPU, so both CPU costs per event are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SECRET = "bench-secret-key-0123456789abcdef"
TOUCHPOINTS = ["bezorging", "betalen", "website", "bestellen", "retour", "klantenservice"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_event(i: int, rng: random.Random, end: datetime) -> dict[str, Any]:
    metric = rng.choice(["nps", "ces", "csat"])
    top = {"nps": 10, "ces": 7, "csat": 5}[metric]
    return {
        "event_id": f"bench-{i}",
        "kind": "survey.response",
        "occurred_at": (end - timedelta(minutes=rng.randrange(90 * 24 * 60))).isoformat(),
        "customer_id": f"C{rng.randrange(100_000)}",
        "journey_id": f"O{i}",
        "touchpoint": rng.choice(TOUCHPOINTS),
        "channel": rng.choice(["email", "web", "app"]),
        "metric": metric,
        "score": rng.randint(0 if metric == "nps" else 1, top),
    }


class Connection:
    """One keep-alive HTTP/1.1 connection: send a request, read the whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        lines = [
            f"{method} {path} HTTP/1.1",
            "Host: 127.0.0.1",
            f"Content-Length: {len(body)}",
            "Content-Type: application/json",
        ]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def load(port: int, bodies: list[bytes], concurrency: int, headers: dict[str, str]) -> float:
    """Send every body (POST /api/v1/events) with ``concurrency`` connections; seconds."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)

    async def worker() -> None:
        conn = await Connection.open(port)
        try:
            while not queue.empty():
                body = queue.get_nowait()
                status, answer = await conn.request("POST", "/api/v1/events", body, headers)
                if status != 200:
                    raise RuntimeError(f"ingest answered {status}: {answer[:200]!r}")
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


async def latencies(port: int, path: str, headers: dict[str, str], runs: int) -> list[float]:
    conn = await Connection.open(port)
    out = []
    try:
        for _ in range(runs):
            t0 = time.perf_counter()
            status, body = await conn.request("GET", path, headers=headers)
            out.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}: {body[:200]!r}")
    finally:
        conn.close()
    return out


def prepare_store(db: Path) -> str:
    from klantreis.access import accounts
    from klantreis.app import App
    from klantreis.settings import Settings

    with App(Settings.load(env={}, db_path=str(db))) as app:
        secret, _ = accounts.create_token(app.store, ["ingest", "read"], name="bench")
    return secret


def start_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KLANTREIS_SECRET_KEY": SECRET,
        "KLANTREIS_DB_PATH": str(db),
        "KLANTREIS_PORT": str(port),
        "KLANTREIS_MAX_REQUEST_EVENTS": "10000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", "from klantreis.cli.main import cli; cli()", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    err = proc.stderr.read() if proc.stderr else b""
    raise RuntimeError("server did not start: " + err.decode()[-2000:])


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Stop the server (a scheduled job it is running may hold it up: then kill it after
    30 s, so the figures already taken are still printed)."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        print("the server did not stop within 30 s: killed", file=sys.stderr)
        server.kill()
        server.wait(timeout=30)


def cpu_seconds(pid: int, task: int | None = None) -> float:
    """User + system CPU time of a process (Linux), to show the server's own cost; with
    ``task``, of that thread only (the process id is its event-loop thread)."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    pid: int, port: int, bodies: list[bytes], conc: int, auth: dict[str, str], events: int
) -> str:
    """Send ``bodies``; events/s, and server CPU per event (all threads, and the event-loop
    thread alone: the rest is the writer and DuckDB) and the load client's, with the load
    average (the machine may be shared)."""
    cpu0, loop0, client0 = cpu_seconds(pid), cpu_seconds(pid, pid), time.process_time()
    secs = asyncio.run(load(port, bodies, conc, auth))
    cpu = (cpu_seconds(pid) - cpu0) * 1e6 / events
    loop = (cpu_seconds(pid, pid) - loop0) * 1e6 / events
    client = (time.process_time() - client0) * 1e6 / events
    digits = 0 if cpu >= 100 else 1
    return (
        f"{events / secs:,.0f} events/s (CPU per event: server {cpu:,.{digits}f} µs, of which"
        f" event loop {loop:,.{digits}f} µs; load client {client:,.{digits}f} µs;"
        f" load average {os.getloadavg()[0]:.2f})"
    )


async def cold_latencies(
    port: int, path: str, headers: dict[str, str], runs: int, rng: random.Random, end: datetime
) -> list[float]:
    """Latency right after the store changed (page data cannot be reused)."""
    out = []
    for _ in range(runs):
        body = json.dumps(make_event(rng.randrange(10**12, 10**13), rng, end)).encode()
        await load(port, [body], 1, headers)
        await asyncio.sleep(2.1)  # past the page cache's always-fresh window
        out += await latencies(port, path, headers, 1)
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def ingest_bodies(
    args: argparse.Namespace, rng: random.Random, end: datetime
) -> list[tuple[str, str, int, list[bytes], int]]:
    """Every ingest run's request bodies, built before the server starts: building them
    takes the load client seconds, which between two runs would be a pause in ingest (the
    server's scheduled jobs run in such pauses). Per run: what, load, in flight, bodies,
    events."""
    runs = []
    for k, conc in enumerate(dict.fromkeys([args.concurrency, args.wide_concurrency])):
        first = args.single * k
        singles = [json.dumps(make_event(first + i, rng, end)).encode() for i in range(args.single)]
        load_text = f"{args.single:,} requests, {conc} in flight"
        runs.append(("ingest, 1 event per request", load_text, conc, singles, args.single))
    first = args.single * 2
    for k, conc in enumerate(int(c) for c in str(args.batch_concurrency).split(",")):
        start = first + k * args.batches * 1000
        batches = [
            json.dumps([make_event(start + b * 1000 + i, rng, end) for i in range(1000)]).encode()
            for b in range(args.batches)
        ]
        load_text = f"{args.batches:,} requests, {conc} in flight"
        events = max(args.batches * 1000, 1)
        runs.append(("ingest, 1,000 events per request", load_text, conc, batches, events))
    return runs


def ingest_rows(
    port: int,
    auth: dict[str, str],
    pid: int,
    runs: list[tuple[str, str, int, list[bytes], int]],
) -> list[tuple[str, str, str]]:
    """Send each run's bodies, one run after the other without a pause."""
    return [
        (what, load_text, measure(pid, port, bodies, conc, auth, events))
        for what, load_text, conc, bodies, events in runs
    ]


def page_rows(
    port: int, auth: dict[str, str], args: argparse.Namespace, rng: random.Random, end: datetime
) -> list[tuple[str, str, str]]:
    rows = []
    total = args.single * len({args.concurrency, args.wide_concurrency}) + args.batches * 1000
    for path in ("/", "/api/v1/index", "/api/v1/scores"):
        asyncio.run(latencies(port, path, auth, 1))  # warm-up: compute once
        ms = asyncio.run(latencies(port, path, auth, args.page_runs))
        rows.append(
            (
                f"GET {path} ({total:,} events), warm",
                f"{args.page_runs} runs",
                f"p50 {statistics.median(ms):,.0f} ms, p95 {pct(ms, 95):,.0f} ms",
            )
        )
        ms = asyncio.run(cold_latencies(port, path, auth, args.cold_runs, rng, end))
        rows.append(
            (
                f"GET {path}, cold (store just changed)",
                f"{args.cold_runs} runs",
                f"p50 {statistics.median(ms):,.0f} ms, max {max(ms):,.0f} ms",
            )
        )
    return rows


def run(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    rng = random.Random(7)
    end = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        secret = prepare_store(db)
        runs = ingest_bodies(args, rng, end)
        port = free_port()
        server = start_server(db, port)
        auth = {"Authorization": f"Bearer {secret}"}
        try:
            rows = ingest_rows(port, auth, server.pid, runs)
            return rows if args.ingest_only else rows + page_rows(port, auth, args, rng, end)
        finally:
            stop_server(server)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=20_000)
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--batch-concurrency",
        default="8,32",
        help="requests of 1,000 events in flight; a comma-separated list gives one run each",
    )
    parser.add_argument(
        "--wide-concurrency", type=int, default=256, help="a second single-event run, more clients"
    )
    parser.add_argument("--page-runs", type=int, default=20)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--ingest-only", action="store_true", help="skip the page latencies")
    args, _ = parser.parse_known_args(argv)
    print("| what | load | result |\n|---|---|---|")
    for what, how, result in run(args):
        print(f"| {what} | {how} | {result} |")


if __name__ == "__main__":
    main()
