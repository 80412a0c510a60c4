"""Working with a store while ``klantreis serve`` holds it.

DuckDB allows one process per file to write, and (DuckDB 2.0) refuses even a read-only open
while that process runs. So the running server announces itself: at start it writes a small
discovery file next to the store (``<store>.server.json``, mode 0600: owner only) with its
URL, its PID and a random local admin secret, and removes it at exit. Another process that
finds the store locked reads that file and asks the server:

* to **write accounts** (``klantreis user add``, ``token create``, ...): the local admin API
  (``/api/v1/local/...``, header :data:`SECRET_HEADER`), see :class:`LiveClient`;
* to **read** (every read command, ``klantreis.open()`` in a notebook): a snapshot, a
  consistent copy of the store the server writes next to it
  (``<store>.snapshot-<n>.duckdb``, :func:`snapshot_path`) that the caller opens read-only. It is as fresh as the moment it
  was made; the server makes a new one when events arrived or accounts changed since the
  last, or when that one is older than :data:`SNAPSHOT_MAX_AGE` seconds.

A lock held by anything else (another ingest, a second server) stays a
:class:`~klantreis.store.StoreLockedError`: one clear line.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from klantreis.access import accounts
from klantreis.store import EventStore, StoreLockedError

__all__ = [
    "SECRET_HEADER",
    "SNAPSHOT_MAX_AGE",
    "LiveClient",
    "LiveError",
    "ServerInfo",
    "Snapshots",
    "announce",
    "explain_lock",
    "find_server",
    "info_path",
    "snapshot_path",
    "withdraw",
]

log = logging.getLogger(__name__)

#: The request header that carries the local admin secret.
SECRET_HEADER = "X-Klantreis-Local-Secret"

#: A snapshot without new events or account changes is reused for this many seconds.
SNAPSHOT_MAX_AGE = 30.0

_ATTEMPTS = 6


class LiveError(RuntimeError):
    """The running server could not do what was asked (its message, one line)."""


@dataclass(frozen=True)
class ServerInfo:
    """What a running ``klantreis serve`` tells other processes about itself."""

    url: str
    pid: int
    secret: str
    store: str


def info_path(db_path: str | Path) -> Path:
    """The discovery file of the store at ``db_path``."""
    path = Path(db_path).resolve()
    return path.with_name(path.name + ".server.json")


def snapshot_path(db_path: str | Path, serial: int) -> Path:
    """Where the server writes its read snapshot number ``serial`` of the store at
    ``db_path``: next to it, so that files found relative to the store (contact models) are
    the same. Each snapshot gets a new name: DuckDB shares one database per path within a
    process, so a notebook that opens again must not get its older copy back."""
    path = Path(db_path).resolve()
    return path.with_name(f"{path.name}.snapshot-{serial}.duckdb")


def _snapshots_of(db_path: str | Path) -> list[Path]:
    path = Path(db_path).resolve()
    return sorted(path.parent.glob(f"{path.name}.snapshot-*.duckdb"))


def announce(db_path: str | Path, url: str) -> ServerInfo:
    """Write the discovery file for a server at ``url`` (this process) with a new secret;
    readable and writable by the owner only."""
    info = ServerInfo(url.rstrip("/"), os.getpid(), secrets.token_urlsafe(32), str(db_path))
    target = info_path(db_path)
    partial = target.with_name(target.name + f".{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(info), out)
    os.chmod(partial, 0o600)  # whatever the umask
    partial.replace(target)
    return info


def withdraw(info: ServerInfo) -> None:
    """Remove the discovery file (if it is still this server's) and the snapshot."""
    target = info_path(info.store)
    found = _read(target)
    if found is not None and found.pid == info.pid:
        target.unlink(missing_ok=True)
    for snapshot in _snapshots_of(info.store):
        snapshot.unlink(missing_ok=True)


def find_server(db_path: str | Path) -> ServerInfo | None:
    """The running server of the store at ``db_path``: None when there is no discovery
    file, its process is gone, or the file is not this user's alone (another owner, or
    readable by others)."""
    target = info_path(db_path)
    try:
        found = target.stat()
    except OSError:
        return None
    if found.st_mode & 0o077 or found.st_uid != os.getuid():
        log.warning("ignoring %s: not private to this user", target)
        return None
    info = _read(target)
    return info if info is not None and _alive(info.pid) else None


def explain_lock(error: StoreLockedError) -> str:
    """One line for a lock conflict: who holds the store and what to do instead."""
    info = find_server(error.path)
    if info is None:
        return f"{error}; stop it, or wait until it is done"
    return (
        f"{error}: klantreis serve at {info.url} holds it; reading commands and user/token"
        " changes go through it, events through its POST /api/v1/events (or stop it)"
    )


def _read(target: Path) -> ServerInfo | None:
    try:
        return ServerInfo(**json.loads(target.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LiveClient:
    """Calls the local admin API of a running server (JSON in, the envelope's data out)."""

    def __init__(self, info: ServerInfo, timeout: float = 300.0) -> None:
        self.info = info
        self.timeout = timeout

    @classmethod
    def for_locked(cls, error: StoreLockedError) -> LiveClient:
        """The client for the server that holds the store of ``error``; re-raises ``error``
        (one clear line) when no klantreis server announced itself for it."""
        info = find_server(error.path)
        if info is None:
            raise error
        return cls(info)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """``method path`` with ``body`` as JSON; the answer's ``data``. A refusal or an
        unreachable server raises :class:`LiveError` with a one-line message."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.info.url + path,
            data=data,
            method=method,
            headers={SECRET_HEADER: self.info.secret, "Content-Type": "application/json"},
        )
        for attempt in range(_ATTEMPTS):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    return json.loads(answer.read())["data"]
            except urllib.error.HTTPError as exc:
                raise LiveError(_error_message(exc)) from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, ConnectionRefusedError) and attempt + 1 < _ATTEMPTS:
                    time.sleep(0.5)  # announced just before it listens
                    continue
                message = f"klantreis serve at {self.info.url} did not answer: {reason}"
                raise LiveError(message) from None
        raise AssertionError("unreachable")

    def snapshot(self) -> Path:
        """Ask the server for a fresh read snapshot; its path."""
        return Path(self.call("POST", "/api/v1/local/snapshot")["path"])


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"klantreis serve answered HTTP {exc.code}"


class Snapshots:
    """The server's side of snapshots: makes one when asked, reused while nothing changed
    (same event fingerprint, no account change in this process or through :meth:`changed`)
    and younger than ``max_age`` seconds. One at a time; a new one replaces the previous
    file (a process reading that one keeps it open until it closes it)."""

    def __init__(self, store: EventStore, max_age: float = SNAPSHOT_MAX_AGE) -> None:
        self.store = store
        self.max_age = max_age
        self._lock = threading.Lock()
        self._made: tuple[tuple[Any, ...], float, Path] | None = None

    def changed(self) -> None:
        """Something a snapshot holds changed outside the event log (an account)."""
        self._made = None

    def fresh(self) -> Path:
        """The path of a snapshot that is current now."""
        with self._lock:
            version = (*self.store.version(), accounts.changes())
            made, now = self._made, time.monotonic()
            if made and made[0] == version and now - made[1] < self.max_age and made[2].exists():
                return made[2]
            started = time.perf_counter()
            target = self.store.snapshot(snapshot_path(self.store.path, time.time_ns()))
            for old in _snapshots_of(self.store.path):
                if old != target:
                    old.unlink(missing_ok=True)
            self._made = (version, now, target)
            log.info("snapshot %s in %.2f s", target, time.perf_counter() - started)
            return target
