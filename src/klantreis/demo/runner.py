"""``run_demo``: generate the demo webshop's events and ingest them into a store.

Ingest goes through ``klantreis.ingest.pipeline.ingest_table`` like every other source, one
transaction per batch, into the store and journey the caller gives (the App, or a
``klantreis.ingest.Destination``): the demo does not know the App. Event ids are
deterministic, so running it again on the same store stores nothing new (all duplicates).
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import pyarrow.compute as pc

from klantreis.act.proactive import Decision
from klantreis.act.proactive import run as run_proactive
from klantreis.act.resurvey import plan_resurveys
from klantreis.act.rules import default_case_rules
from klantreis.demo.cases import DemoCases, act_on_demo
from klantreis.demo.clock import DemoPeriod
from klantreis.demo.generator import demo_period, event_id_prefix, generate_demo
from klantreis.demo.listening import LISTEN_DAYS, Listening, listen_on
from klantreis.demo.pilot import has_consent, pilot_config
from klantreis.directory import Directory
from klantreis.ingest.pipeline import Target, ingest_table
from klantreis.listen.links import Links, derive_key
from klantreis.outbox import Outbox
from klantreis.settings import SettingsError
from klantreis.store.duckdb_store import EMPTY_RESULT, AppendResult

__all__ = [
    "DEFAULT_ORDERS",
    "DemoConflictError",
    "DemoSummary",
    "demo_end",
    "listen_demo",
    "remember_demo_end",
    "run_demo",
]

_END_KEY = "demo_period_end"

log = logging.getLogger(__name__)

#: Default size of ``klantreis demo``: ~290k events, generated and ingested in well under a
#: minute on a laptop.
DEFAULT_ORDERS = 30_000


class DemoConflictError(RuntimeError):
    """The store already holds a demo generated with other settings."""


def _check_no_other_demo(app: Target, prefix: str) -> None:
    rows = app.store.query(
        "SELECT event_id FROM events WHERE source = 'demo' AND NOT"
        " starts_with(event_id, ?) LIMIT 1",
        [prefix],
    ).to_pylist()
    if rows:
        raise DemoConflictError(
            f"{app.store.path} already holds a demo with another seed, size or period; "
            "start from an empty store (klantreis demo --fresh) / deze opslag bevat al een "
            "andere demo; begin opnieuw met --fresh"
        )


@dataclass
class DemoSummary:
    """What one demo run generated and stored."""

    seed: int
    period_start: date
    period_end: datetime
    orders: int = 0
    customers: int = 0
    events: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    #: The pilot's proactive decisions per arm (message / holdout / ineligible).
    proactive: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    #: What the demo's case rules did (``klantreis.demo.cases.act_on_demo``).
    cases: DemoCases | None = None
    #: What the demo's surveys did (``klantreis.demo.listening.listen_on``).
    listening: Listening | None = None

    @property
    def contacts(self) -> int:
        return self.kinds["contact.inbound"]

    @property
    def survey_answers(self) -> int:
        return self.kinds["survey.response"]

    def as_dict(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "orders": self.orders,
            "customers": self.customers,
            "events": self.events,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "contacts": self.contacts,
            "survey_answers": self.survey_answers,
            "kinds": dict(sorted(self.kinds.items())),
            "proactive": dict(sorted(self.proactive.items())),
            "listening": self.listening.as_dict() if self.listening else None,
            "seconds": round(self.seconds, 2),
        }


def run_demo(
    app: Target,
    orders: int = DEFAULT_ORDERS,
    seed: int = 7,
    *,
    days: int = 120,
    start: date | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    """Generate ``orders`` orders of the demo webshop and ingest them into ``app``'s store.

    ``progress(orders_done, orders)`` is called after each batch. Nothing is quarantined:
    the generator only produces valid events. Then the demo acts (``demo.cases``): the case
    rules open cases, part of them are worked and closed; then it listens (``listen_demo``):
    surveys and the closed cases' re-surveys are sent and partly answered. Raises
    ``DemoConflictError`` when the store
    holds a demo made with other settings (mixing two would corrupt both stories).
    """
    began, started_at = time.perf_counter(), datetime.now(UTC)
    period = demo_period(start, days, now)
    _check_no_other_demo(app, event_id_prefix(orders, seed, period))
    summary = DemoSummary(seed=seed, period_start=period.start, period_end=period.now)
    result: AppendResult = EMPTY_RESULT
    customers: set[str] = set()
    for table in generate_demo(orders, seed, days=days, now=period.now):
        result = result + ingest_table(
            app.store, table, app.journey, source="demo", first_line=summary.events + 1
        )
        summary.events += table.num_rows
        kinds = pc.value_counts(table["kind"]).to_pylist()
        summary.kinds.update({k["values"]: k["counts"] for k in kinds})
        customers.update(pc.unique(table["customer_id"]).to_pylist())
        if progress is not None:
            progress(summary.kinds["order.placed"], orders)
    summary.proactive.update(d.arm for d in _run_pilot(app, period))
    summary.orders = summary.kinds["order.placed"]
    summary.customers = len(customers)
    summary.stored, summary.duplicates = result.stored, result.duplicates
    summary.quarantined = result.quarantined
    summary.cases = act_on_demo(app, period.now, seed)
    summary.listening = listen_demo(app, period.now)
    summary.cases = replace(summary.cases, resurveyed=resurvey_answers(app.store))
    summary.seconds = time.perf_counter() - began
    app.store.record_run("demo", started_at, result, rows_read=summary.events)
    log.info(
        "demo: %d events, %d stored, %d duplicates in %.1f s",
        summary.events,
        summary.stored,
        summary.duplicates,
        summary.seconds,
    )
    return summary


def _demo_may_contact(customer_id: str, purpose: str, channel: str) -> tuple[bool, str | None]:
    return (True, None) if has_consent(customer_id) else (False, "no_consent")


def _run_pilot(app: Target, period: DemoPeriod) -> list[Decision]:
    """klantreis acting on the demo: the pilot's rule decides every signal up to the end."""
    decisions, _ = run_proactive(
        app.store, app.journey, pilot_config(period), period.now, _demo_may_contact
    )
    return decisions


def listen_demo(app: Target, end: datetime, days: int = LISTEN_DAYS) -> Listening:
    """The demo's surveys on the ``days`` before ``end``: with the App's directory, outbox,
    surveys and link signer when ``app`` is one; else (a bare store and journey) a directory
    in memory, the store's outbox, the demo's surveys and links with a key for this run."""
    try:  # an App without a secret outside demo mode has no directory or links to lend
        directory, link_for = getattr(app, "directory", None), getattr(app, "survey_link", None)
        getattr(app, "links", None)
    except SettingsError:
        directory = link_for = None
    own = directory is None
    book: Directory = Directory.open(":memory:") if directory is None else directory
    outbox = getattr(app, "outbox", None) or Outbox(app.store)
    config = getattr(app, "surveys", None) or demo_surveys(app.journey)
    rules = default_case_rules(app.journey)  # the rules act_on_demo opened the cases with
    if link_for is None:
        links = Links(derive_key(secrets.token_bytes(32)), app.store)
        link_for = functools.partial(links.sign, base_url="http://127.0.0.1:8000")
    try:
        return listen_on(
            app.store,
            app.journey,
            config,
            end,
            directory=book,
            outbox=outbox,
            link_for=link_for,
            days=days,
            plan_more=lambda at: plan_resurveys(app.store, rules, config, at),
        )
    finally:
        if own:
            book.close()


def resurvey_answers(store: Any) -> int:
    """How many answers to the case rules' re-surveys the store holds."""
    ids = sorted(set(default_case_rules().resurvey_surveys.values()))
    rows = store.query(
        "SELECT count(DISTINCT json_extract_string(attrs, '$.invitation_id')) AS n FROM events"
        " WHERE kind = 'survey.response' AND json_extract_string(attrs, '$.survey_id')"
        " IN (SELECT unnest(?::VARCHAR[]))",
        [ids],
    ).to_pylist()
    return int(rows[0]["n"])


def demo_surveys(journey: Any) -> Any:
    """The demo's surveys file, checked against ``journey``."""
    from importlib import resources

    from klantreis.model.survey import load_survey_config

    path = resources.files("klantreis.demo").joinpath("surveys.toml")
    return load_survey_config(str(path), journey)


def remember_demo_end(store: Any, end: datetime) -> None:
    """Keep the end of the demo period in the store (``klantreis_meta``)."""
    with store.transaction() as con:
        con.execute(
            "INSERT OR REPLACE INTO klantreis_meta VALUES (?, ?)", [_END_KEY, end.isoformat()]
        ).fetchall()


def demo_end(store: Any) -> datetime | None:
    """The end of the demo period the store was made with (None: not recorded)."""
    rows = store.query("SELECT value FROM klantreis_meta WHERE key = ?", [_END_KEY]).to_pylist()
    return datetime.fromisoformat(rows[0]["value"]) if rows else None
