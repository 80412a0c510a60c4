"""Which hosts the server may post to on a user's behalf: a setting's comma-separated host
names, a host below one counting too (``updates.push.services.mozilla.com`` under
``push.services.mozilla.com``). Keeps a signed-in user from aiming the server at an
internal address (a push endpoint, an alert webhook)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit


def allowed_hosts(setting: str) -> tuple[str, ...]:
    """A comma-separated setting as lower-case host names (empty: no list)."""
    return tuple(h.strip().lower().strip(".") for h in setting.split(",") if h.strip())


def host_allowed(url: str, hosts: Sequence[str]) -> bool:
    """Whether ``url``'s host is one of ``hosts`` or below one."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return bool(host) and any(host == h or host.endswith("." + h) for h in hosts)
