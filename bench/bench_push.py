"""Web Push cost: ``python -m bench.bench_push --messages 500``.

1. The sender's own work per message: ``aes128gcm`` encryption (a fresh ECDH key and salt
   each time) and a VAPID token (an ES256 signature), without HTTP.
2. End to end: ``--messages`` alerts queued for as many devices in a fresh store file,
   delivered by the outbox to a local push service (``http.server`` in a thread of this
   process, answering 201) — claim, key look-up, encrypt, sign, POST, record.

Prints a markdown table with the load average beside each row (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from klantreis.act import push
from klantreis.outbox import Message, Outbox
from klantreis.outbox.ece import b64url, encrypt, public_bytes
from klantreis.outbox.vapid import new_key
from klantreis.outbox.webpush import WebPushSender, push_body
from klantreis.store import EventStore

__all__ = ["main"]

TEXT = "Bezorging -4,1: VlotBezorgd, 312 te late pakketten"


class _Service(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(201)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def _crypto(n: int) -> float:
    key = new_key()
    ua = ec.generate_private_key(ec.SECP256R1())
    ua_public, auth = public_bytes(ua), os.urandom(16)
    body = push_body(Message("k", "push", to="https://push.example/x", text=TEXT))
    start = time.perf_counter()
    for _ in range(n):
        encrypt(body, ua_public, auth)
        key.authorization("https://push.example/x")
    return time.perf_counter() - start


def _end_to_end(n: int, folder: Path) -> float:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    with EventStore(str(folder / "push.duckdb")) as store:
        for i in range(n):
            ua = ec.generate_private_key(ec.SECP256R1())
            push.add_device(
                store,
                "u",
                f"{origin}/p/{i}",
                b64url(public_bytes(ua)),
                b64url(os.urandom(16)),
                max_devices=n,
            )
        outbox = Outbox(store)
        outbox.enqueue_many(
            Message(f"a:{d.device_id}", "push", to=d.endpoint, text=TEXT, payload={"url": "/"})
            for d in push.devices(store, "u")
        )
        sender = WebPushSender(new_key(), push.keys_for(store), gone=push.forget_endpoint(store))
        start = time.perf_counter()
        report = outbox.deliver_due(senders={"push": sender})
        took = time.perf_counter() - start
        assert report.sent == n, report
    server.shutdown()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=500)
    n = parser.parse_args().messages
    print("| what | messages | seconds | per second | load (1 min) |")
    print("|---|---:|---:|---:|---:|")
    load = _load()
    took = _crypto(n)
    print(f"| encrypt + VAPID token, no HTTP | {n} | {took:.2f} | {n / took:,.0f} | {load} |")
    with tempfile.TemporaryDirectory() as tmp:
        load = _load()
        took = _end_to_end(n, Path(tmp))
    print(f"| outbox -> local push service | {n} | {took:.2f} | {n / took:,.0f} | {load} |")


if __name__ == "__main__":
    main()
