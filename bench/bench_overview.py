"""Overview page latency on a large store: ``python -m bench.bench_overview --db PATH``.

Starts ``klantreis serve`` on a free loopback port for an existing store (make one with
``klantreis demo --no-serve --orders 1000000 --db PATH``, ~10M events), creates a read token,
times the first request (the index cache may still be warming up), then ``--runs`` requests of
the overview page (``/``, HTML) and its JSON (``/api/v1/index``), one at a time, and prints
p50/p95/max. Loopback only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str) -> tuple[int, float]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as resp:
        resp.read()
        status = resp.status
    return status, time.perf_counter() - t0


def _token(db: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [
            str(BIN / "klantreis"),
            "token",
            "create",
            "--scope",
            "read",
            "--name",
            "bench",
            "--db",
            db,
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return next(w for w in out.split() if w.startswith("kr_"))


def _wait(base: str, token: str, deadline: float) -> float:
    while time.time() < deadline:
        try:
            return _get(f"{base}/api/v1/health", token)[1]
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("server did not start")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument(
        "--settle",
        type=float,
        default=30.0,
        help="seconds to wait for the start-up warm-up before timing warm runs",
    )
    args = parser.parse_args(argv)
    env = dict(os.environ, KLANTREIS_SECRET_KEY="bench-secret-key-0123456789")
    token = _token(args.db, env)
    port = _port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "klantreis"), "serve", "--db", args.db, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait(base, token, time.time() + 120)
        status, first = _get(f"{base}/api/v1/index", token)
        time.sleep(args.settle)
        rows = []
        for path in ("/", "/api/v1/index"):
            times = [_get(base + path, token)[1] for _ in range(args.runs)]
            q = statistics.quantiles(times, n=20)
            rows.append((path, statistics.median(times), q[18], max(times)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"store: {args.db}; first /api/v1/index right after start: {first:.3f} s"
        f" (status {status})\n"
    )
    print("| page | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|")
    for path, p50, p95, worst in rows:
        print(f"| `{path}` | {p50 * 1000:.1f} | {p95 * 1000:.1f} | {worst * 1000:.1f} |")


if __name__ == "__main__":
    main()
