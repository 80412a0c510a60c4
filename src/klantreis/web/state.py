"""The typed state of one web app: what the routes share besides the App itself.

``create_app`` builds one :class:`WebState` and keeps it as ``api.state.web``; routes reach it
with :func:`web_state`. Context and caches that are not about the web (journey, metric
defaults, contacts taxonomy and model, derived results) live on the :class:`~klantreis.app.App`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request

if TYPE_CHECKING:
    import jinja2

    from klantreis.app import App
    from klantreis.ingest.writer import EventWriter
    from klantreis.web.pagekit import NavItem, PageCache
    from klantreis.web.pages.contacts_models import Trainer
    from klantreis.web.security import Security

__all__ = ["WebState", "web_state"]


@dataclass
class WebState:
    """The App, the writer queue, security, templates, navigation, the page cache (None:
    pages are not reused) and the contact-model trainer (made on first use)."""

    app: App
    writer: EventWriter
    security: Security
    templates: jinja2.Environment
    nav: list[NavItem] = field(default_factory=list)
    page_cache: PageCache | None = None
    make_trainer: Callable[[], Trainer] | None = None
    _trainer: Trainer | None = None
    #: Other per-web-app helpers made on first use (see :meth:`extra`).
    extras: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def trainer(self) -> Trainer:
        """The one background trainer of contact models of this web app (made on first use
        by ``make_trainer``, which the contact-models page registers)."""
        with self._lock:
            if self._trainer is None:
                if self.make_trainer is None:
                    raise RuntimeError("no contact-model trainer in this web app")
                self._trainer = self.make_trainer()
            return self._trainer

    def extra(self, name: str, make: Callable[[], Any]) -> Any:
        """The helper called ``name`` (e.g. the text-model trainer), made once by ``make``."""
        with self._lock:
            if name not in self.extras:
                self.extras[name] = make()
            return self.extras[name]


def web_state(source: Request | FastAPI | Any) -> WebState:
    """The :class:`WebState` of a request or of the FastAPI app."""
    api = source.app if isinstance(source, Request) else source
    state: WebState = api.state.web
    return state
