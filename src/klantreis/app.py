"""The application object: explicit settings -> one App with its store, journey config,
metric defaults, contacts context and caches.

The App is the one owner of context and defaults: the CLI, the Python API and the web pages
read ``min_answers``, the confidence level and the time zone from ``app.defaults``, the
contact taxonomy and model from ``app.contacts``, and keep derived results in
``app.caches`` (checked against one store fingerprint). No import-time state: tests build
many Apps side by side. ``klantreis.open(path)`` is the notebook entry point and returns an
App.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from klantreis.app_api import AnalysesMixin
from klantreis.caches import Caches
from klantreis.contacts.context import ContactsContext
from klantreis.model.journey import JourneyConfig, load_journey_config, parse_journey_config
from klantreis.settings import Settings
from klantreis.store import EventStore
from klantreis.text.models import TextContext

if TYPE_CHECKING:
    from klantreis.act.proactive import ProactiveConfig
    from klantreis.directory import Directory
    from klantreis.ingest import Destination, IngestSummary, Mapping
    from klantreis.listen.ledger import Invitation
    from klantreis.listen.links import Links
    from klantreis.listen.run import SendReport
    from klantreis.model.survey import SurveyConfig
    from klantreis.outbox import Outbox
    from klantreis.outbox.vapid import VapidKey
    from klantreis.scheduler import Job
    from klantreis.wording import Names

log = logging.getLogger(__name__)

__all__ = ["App", "MetricDefaults", "default_journey_config", "open_app", "surveys_path"]


def default_journey_config() -> JourneyConfig:
    """The built-in webshop journey (the demo's)."""
    text = resources.files("klantreis.demo").joinpath("journey.toml").read_text("utf-8")
    return parse_journey_config(text, "klantreis/demo/journey.toml")


def surveys_path(settings: Settings) -> Path:
    """The surveys file: the ``surveys_path`` setting, else ``surveys.toml`` next to the
    journey file, else the demo's (the one locator: ``klantreis.listen.survey_file``)."""
    from klantreis.listen.survey_file import surveys_path as locate

    return locate(settings)


@dataclass(frozen=True)
class MetricDefaults:
    """The defaults every score uses, decided once per App (see :meth:`of`)."""

    min_answers: int
    confidence: float
    timezone: str

    @classmethod
    def of(cls, settings: Settings, journey: JourneyConfig) -> MetricDefaults:
        """An explicitly set ``min_answers`` or ``timezone`` setting wins over the journey
        file's; otherwise the journey file's applies. The confidence level is a setting."""
        return cls(
            min_answers=(
                settings.min_answers if settings.is_set("min_answers") else journey.min_answers
            ),
            confidence=settings.confidence,
            timezone=settings.timezone if settings.is_set("timezone") else journey.timezone,
        )


class App(AnalysesMixin):
    """Settings, the journey configuration, the event store, the metric defaults, the
    contacts context and the caches, built explicitly.

    ``contacts_taxonomy``/``contacts_models`` choose another taxonomy file or model folder
    (the CLI's ``--taxonomy``/``--models``); by default the built-in taxonomy and
    ``models/contacts`` next to the store.

    The analyses the commands run are methods too (from
    :class:`~klantreis.app_api.AnalysesMixin`): ``dfg``, ``variants``, ``handovers``,
    ``promises``, ``promises_at_risk``, ``impact``, ``timeline``, ``classify``,
    ``contacts_per_100_orders``, ``contact_report`` and ``war_room``, besides ``scores``,
    ``score_changes``, ``nps_ces_matrix`` and ``cx_index`` here."""

    defaults: MetricDefaults

    def __init__(
        self,
        settings: Settings,
        read_only: bool = False,
        contacts_taxonomy: str | Path | None = None,
        contacts_models: str | Path | None = None,
    ) -> None:
        self.settings = settings
        journey = self.load_journey(settings)
        self.defaults = MetricDefaults.of(settings, journey)
        if journey.timezone != self.defaults.timezone:  # the analytics read the journey's
            journey = journey.model_copy(update={"timezone": self.defaults.timezone})
        self.journey: JourneyConfig = journey
        self.store = EventStore(
            settings.db_path,
            read_only=read_only,
            checkpoint_mb=settings.checkpoint_mb,
            wal_limit_mb=settings.wal_limit_mb,
        )
        self.contacts = ContactsContext(settings.db_path, contacts_taxonomy, contacts_models)
        #: Theme taxonomy, theme tagger and sentiment model (``klantreis.text.models``).
        self.text = TextContext(settings.db_path)
        self.caches = Caches(self.store.version)
        #: The store this App reads a snapshot of (see :meth:`reader`); None: the store itself.
        self.snapshot_of: str | None = None

    @classmethod
    def reader(cls, settings: Settings, read_only: bool = False, **kw: Any) -> App:
        """An App for reading: on the store itself when it is free; when a running
        ``klantreis serve`` holds it, read-only on a snapshot the server makes now (see
        :mod:`klantreis.live`; the snapshot is as of this call, ``snapshot_of`` names the
        store). A lock held by anything else raises ``StoreLockedError`` (one line)."""
        from klantreis.store import StoreLockedError

        try:
            return cls(settings, read_only, **kw)
        except StoreLockedError as exc:
            from klantreis.live import LiveClient  # only then: urllib, ssl, http.client

            snapshot = LiveClient.for_locked(exc).snapshot()
        copy = replace(settings, db_path=str(snapshot), explicit=settings.explicit | {"db_path"})
        app = cls(copy, True, **kw)
        app.snapshot_of = settings.db_path
        return app

    @staticmethod
    def load_journey(settings: Settings) -> JourneyConfig:
        """The journey file of ``settings`` as written (the built-in one when not set)."""
        if settings.journey_config:
            return load_journey_config(settings.journey_config)
        return default_journey_config()

    @functools.cached_property
    def proactive(self) -> ProactiveConfig:
        """The proactive-message rules (see ``klantreis.act.proactive``): the setting's file,
        else the built-in webshop's rules when the journey is the built-in one, else none."""
        from klantreis.act.proactive import (
            ProactiveConfig,
            load_proactive_config,
            parse_proactive_config,
        )

        if self.settings.proactive_config:
            return load_proactive_config(self.settings.proactive_config, self.journey)
        if self.settings.journey_config:
            return ProactiveConfig()
        text = resources.files("klantreis.demo").joinpath("proactive.toml").read_text("utf-8")
        return parse_proactive_config(text, "klantreis/demo/proactive.toml", self.journey)

    def names(self, lang: str) -> Names:
        """Names from the journey configuration (and the contact taxonomy) in ``lang``."""
        from klantreis.wording import Names, Wording

        return Names(self.journey, Wording(lang, self.defaults.timezone), self.contacts.taxonomy)

    def check_alerts(self) -> list[Any]:
        """One alert round (``klantreis.act.alerts.check``) on this store."""
        from klantreis.act import alerts

        return alerts.check(
            self.store,
            self.journey,
            self.events_table(),
            self.names,
            self.send_alert,
            cache=self.index_cache(),
        )

    def run_escalations(self, now: datetime | None = None) -> list[Any]:
        """Fire the escalation ladder's steps due now on open cases (each once, within the
        rules' budget per team; ``klantreis.act.runner``) and send their alerts to the
        subscriptions that follow the case's owner or its team lead (``act.alerts``)."""
        from klantreis.act import alerts
        from klantreis.act.runner import run_escalations

        due = run_escalations(self, self.case_rules, now)
        if not due:
            return []
        signals = alerts.escalation_signals(due, self.case_rules)
        return alerts.dispatch(self.store, signals, self.names, self.send_alert, now)

    def send_alert(self, sub: Any, text: str, payload: dict[str, Any], key: str) -> None:
        """Queue one alert in the outbox (idempotent on ``key``): a webhook with ``payload``,
        an e-mail with ``text``, or a push message to each of the subscriber's devices
        (staff, not a customer)."""
        from klantreis.outbox import Message

        subject = self.names(sub.lang).w("alert.subject")
        if sub.channel == "push":
            self._push_alert(sub.user, subject, text, payload, key)
            return
        self.outbox.enqueue(
            Message(
                key=key,
                channel=sub.channel,
                to=sub.target,
                subject=subject if sub.channel == "email" else None,
                text=text,
                payload=payload if sub.channel == "webhook" else None,
                purpose="system",
            )
        )

    def _push_alert(
        self, user: str, title: str, text: str, payload: dict[str, Any], key: str
    ) -> None:
        from klantreis.act import push
        from klantreis.outbox import Message

        alert = payload.get("alert", {})
        tag = f"{alert.get('dimension', 'alert')}:{alert.get('key', key)}"
        body = {"title": title, "body": text, "url": "/", "tag": tag}
        messages = [
            Message(
                key=f"{key}:{device.device_id}",
                channel="push",
                to=device.endpoint,
                text=text,
                payload=body,
                purpose="system",
            )
            for device in push.devices(self.store, user)
        ]
        if messages:
            self.outbox.enqueue_many(messages)

    @functools.cached_property
    def push_key(self) -> VapidKey | None:
        """The VAPID key of Web Push (``klantreis.outbox.configured.push_key``), or None:
        push is off (no key set outside demo mode)."""
        from klantreis.outbox.configured import push_key

        return push_key(self.settings)

    @functools.cached_property
    def outbox(self) -> Outbox:
        """The one persisted outbox (``klantreis.outbox``) in this App's store."""
        from klantreis.outbox import Outbox

        return Outbox(self.store)

    @functools.cached_property
    def directory(self) -> Directory:
        """The customer directory (contact details and consent, its own DuckDB file)."""
        from klantreis.directory.configured import open_directory

        return open_directory(self.settings)

    @functools.cached_property
    def links(self) -> Links:
        """The signer of personal survey links (key derived from ``secret_key``; in demo mode
        without one, a random key for this App's life)."""
        from klantreis.listen import responses
        from klantreis.listen.links import Links, derive_key

        responses.ensure_schema(self.store)
        return Links(derive_key(self.settings.require_secret_key()), self.store)

    def survey_link(self, invitation: Invitation) -> str:
        """The personal link of ``invitation``: signed with :attr:`links`, starting at the
        ``survey_base_url`` setting (else this server's own address)."""
        from klantreis.listen.links import link_base

        own = f"http://{self.settings.host}:{self.settings.port}"
        return self.links.sign(invitation, link_base(self.settings, own))

    def staff_link(
        self,
        survey_id: str,
        customer_id: str,
        *,
        journey_id: str | None = None,
        owner: str | None = None,
        lang: str | None = None,
        now: datetime | None = None,
    ) -> tuple[str, Any]:
        """A personal link a staff member hands to ``customer_id``, and its
        ``StaffInvitation`` (``klantreis.listen.staff``: origin staff, counted as a contact
        and in response rates)."""
        from klantreis.listen.staff import staff_invitation

        made = staff_invitation(
            self.store,
            self.surveys,
            self.journey,
            survey_id,
            customer_id,
            journey_id=journey_id,
            owner=owner,
            lang=lang,
            now=now,
        )
        return self.survey_link(made.invitation), made

    def run_surveys(self, now: datetime | None = None) -> SendReport:
        """Plan invitations from the log (the triggers whose invitation could still be sent:
        idempotent, so each run re-reads only that window) and hand the due ones to the
        outbox, with contact rules and consent from the directory (``klantreis.listen.run``)."""
        from klantreis.listen.run import Scheduler
        from klantreis.model.tomlfile import ConfigFileError
        from klantreis.outbox import Message

        now = now or datetime.now(UTC)
        scheduler = Scheduler(
            self.store,
            self.surveys,
            self.journey,
            self.survey_link,
            timezone=self.defaults.timezone,
            message_type=Message,
        )
        scheduler.plan(now)
        try:
            self.plan_resurveys(now)
        except ConfigFileError as exc:  # bad case rules: say so, still send the surveys
            log.warning("re-surveys are not planned: %s", exc)
        return scheduler.send_due(now, self.outbox, self.directory)

    @property
    def case_rules(self) -> Any:
        """The case rules (``klantreis.act.rules``): the ``case_rules`` setting's file, else
        the shipped ones; read once per App."""
        from klantreis.act.rules import load_case_rules

        return self.caches.get(
            "case_rules", lambda: load_case_rules(self.settings.case_rules, self.journey)
        )

    def plan_resurveys(self, now: datetime | None = None) -> Any:
        """Plan the re-surveys of closed cases into the invitations ledger (sent by the next
        :meth:`run_surveys`, with consent and contact rules); see ``klantreis.act.resurvey``."""
        from klantreis.act.resurvey import plan_resurveys

        return plan_resurveys(self.store, self.case_rules, self.surveys, now)

    def run_cases(self, now: datetime | None = None) -> Any:
        """Open the cases the case rules find in the log (idempotent; see
        ``klantreis.act.runner``). Incremental: only the journeys that can have a new match
        since the last run are evaluated (``klantreis.act.case_watch``)."""
        from klantreis.act.case_watch import cases_since

        return cases_since(self, self.case_rules, now).run

    def run_proactive(self, now: Any = None) -> list[Any]:
        """Decide new proactive signals (consent from the directory) and queue the messages
        of the message arm in the outbox; see ``klantreis.act.proactive``. Incremental: only
        the journeys that can have a new signal since the last run are searched
        (``klantreis.act.proactive_watch``)."""
        from klantreis.act import proactive
        from klantreis.act.proactive_watch import run_since
        from klantreis.outbox import Message

        decisions = run_since(
            self.store, self.journey, self.proactive, now, self.directory.may_contact
        ).decisions
        for d in decisions:
            rule = self.proactive.rule(d.rule_id)
            if d.arm != "message" or rule is None:
                continue
            contact = self.directory.contact(d.customer_id)
            subject, text = proactive.message_for(
                rule, (contact.lang if contact else None) or "nl", d.journey_id
            )
            self.outbox.enqueue(
                Message(
                    key=f"proactive:{rule.salt}:{rule.id}:{d.journey_id}",
                    channel=rule.channel,
                    customer_id=d.customer_id,
                    subject=subject,
                    text=text,
                    purpose="service",
                )
            )
        return decisions

    def deliver_outbox(self) -> Any:
        """Send what is due in the outbox with the configured senders; customer addresses
        and consent come from the directory at send time. The outcome of survey invitations
        is copied into their ledger (``klantreis.listen.delivery``)."""
        from klantreis.act import push
        from klantreis.listen.delivery import sync_from_outbox
        from klantreis.listen.webhooks_out import secret_for
        from klantreis.outbox.configured import senders_from_settings

        senders = senders_from_settings(
            self.settings,
            secret_for=secret_for(self.store),
            push=(self.push_key, push.keys_for(self.store), push.forget_endpoint(self.store)),
        )
        report = self.outbox.deliver_due(senders=senders, lookup=self.directory.lookup)
        if report.attempted or report.requeued or report.held:  # an idle run changed nothing
            sync_from_outbox(self.store)  # the invitations ledger learns what was really sent
        return report

    #: The kept tables the pages read, by the App method that brings each up to date.
    KEPT_TABLES = (
        "journey_index",
        "derived_views",
        "score_cells",
        "contact_views",
        "condition_views",
    )

    #: The name of the "kept views" job (:meth:`kept_views_job`).
    KEPT_VIEWS_JOB = "kept views"

    def kept_views_job(self, views: Sequence[tuple[str, Callable[[], object]]] = ()) -> Job | None:
        """The "kept views" job (every ``kept_views_seconds``; None when 0 or the store is
        read-only): after new events, every kept table of :attr:`KEPT_TABLES` brought up
        to date, the contacts' classifier made ready (:meth:`warm_classifier`), then
        ``views`` (the web app's default page views, so their caches are current), the
        counts of the next day's default period of ``/contacts`` (:meth:`keep_next_day`),
        then a checkpoint when the write-ahead log is large. Without new events a
        turn reads the store's version only (:class:`~klantreis.scheduler.OnChange`)."""
        from klantreis.scheduler import Job, OnChange

        if self.settings.kept_views_seconds <= 0 or self.store.read_only:
            return None
        parts = [(name, getattr(self, name)) for name in self.KEPT_TABLES]
        parts.append(("contacts classifier", self.warm_classifier))
        parts += [*views, ("contacts' next day", self.keep_next_day)]
        parts.append(("checkpoint", self.checkpoint_if_large))
        return Job(
            self.KEPT_VIEWS_JOB,
            self.settings.kept_views_seconds,
            OnChange(self.store.version, parts),
        )

    def warm_classifier(self) -> bool:
        """The kept contacts' classifier made ready once per process when they hold a
        contact (``ContactViews.warm``; True when it classified): the kept-views job's part
        after the kept tables, so the first contacts after a start are not classified cold
        inside a page's refresh."""
        views = self.contact_views()
        return views is not None and bool(views.warm())

    def keep_next_day(self) -> bool:
        """The kept counts of ``/contacts``' default period of the next day brought up to
        date (:func:`klantreis.contacts.next_day.keep_next_day`: the first event of a day
        then finds them kept); False when the store cannot hold them or is empty."""
        views, conditions = self.contact_views(), self.condition_views()
        if views is None or conditions is None:
            return False
        from klantreis.contacts.next_day import keep_next_day

        return keep_next_day(conditions, views) is not None

    def checkpoint_if_large(self) -> bool:
        """Checkpoint the store now when its write-ahead log holds over half of
        ``checkpoint_mb`` (True when it did): the server's own checkpoint, after a batch's
        refreshes, so that the log stays far under ``wal_limit_mb`` and the next writes (a
        page's kept counts) do not pay DuckDB's own checkpoint inside a view (decision 70)."""
        import duckdb

        wal = Path(self.store.path + ".wal")
        if self.store.path == ":memory:" or self.store.read_only or not wal.exists():
            return False
        if wal.stat().st_size * 2 < self.settings.checkpoint_mb * 2**20:
            return False
        with self.store.write_lock():
            try:
                self.store.con.execute("CHECKPOINT").fetchall()
            except duckdb.Error as exc:  # another transaction: DuckDB's own one comes later
                log.info("no checkpoint by the kept-views job (%s)", exc)
                return False
        return True

    def jobs(self, views: Sequence[tuple[str, Callable[[], object]]] = ()) -> list[Job]:
        """The time-driven work of a running server (see ``klantreis.scheduler``); ``views``
        are the web app's default page views for the kept-views job (first in the list: the
        others read what it keeps)."""
        from klantreis.scheduler import Job

        kept = self.kept_views_job(views)
        jobs = [] if kept is None else [kept]
        jobs += [
            Job("alerts", self.settings.alert_check_seconds, self.check_alerts),
            Job("cases", 300, self.run_cases),
            Job("escalations", 300, self.run_escalations),
        ]
        if self.proactive.rules:
            jobs.append(Job("proactive", 60, self.run_proactive))
        if self._surveys_to_send():
            jobs.append(Job("surveys", 300, self.run_surveys))
        try:
            from klantreis.outbox.configured import senders_from_settings

            senders_from_settings(self.settings)
        except ValueError as exc:  # e.g. no webhook secret outside demo mode: say it once
            log.warning("the outbox is not delivering: %s", exc)
        else:
            jobs.append(Job("outbox", 15, self.deliver_outbox))
        return jobs

    def _surveys_to_send(self) -> bool:
        from klantreis.model.survey import SurveyConfigError
        from klantreis.settings import SettingsError

        try:
            self.settings.require_secret_key()
            return any(s.active for s in self.surveys.surveys)
        except (SurveyConfigError, SettingsError) as exc:  # say it once, serve the rest
            log.warning("surveys are not sent: %s", exc)
            return False

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if "directory" in self.__dict__:
            self.directory.close()
        self.store.close()

    def index_cache(self) -> Any:
        """The CX index's fast-path cache of this store (an ``index_cache.StoreCache`` in
        :attr:`caches`); pass it as ``cache=`` to ``cx_index``/``index_movers``."""
        from klantreis.analytics.index_cache import StoreCache

        return self.caches.get(
            "cx_index",
            lambda: StoreCache(
                "events",
                self.store.version,
                seed=self._index_seed,
                facts_seed=self._facts_seed,
                memory_mb=self.settings.index_memory_mb,
            ),
        )

    def _index_seed(self, zone: str) -> Any:
        """The CX index's all-history cells from the kept score cells (no log scan)."""
        cells = self.score_cells()
        return cells.index_cells(zone) if cells is not None else None

    def _facts_seed(self, state: Any) -> int | None:
        """The movers' driver counts from the kept tables beside the score cells."""
        cells = self.score_cells()
        return cells.load_facts(state) if cells is not None else None

    def journey_index(self) -> Any:
        """The store's journey index (``analytics.journey_index``), refreshed when the store
        changed; None when the store cannot hold one (read-only)."""
        from klantreis.analytics.journey_index import JourneyIndex, open_index

        index = self.caches.get(
            "journey_index",
            lambda: JourneyIndex(
                self.store,
                self.store.version,
                self.settings.index_range_events,
                self.settings.index_memory_mb,
            ),
        )
        return open_index(self.store, index)

    def derived_views(self) -> Any:
        """The store's derived views of the journeys page (``analytics.derived_views``),
        refreshed for the journeys new events touched; None when the store cannot hold them
        (read-only)."""
        from klantreis.analytics.derived_views import DerivedViews

        return self._kept(
            "derived_views",
            lambda: DerivedViews(
                self.store,
                self.journey,
                self.store.version,
                self.settings.index_memory_mb,
                self.settings.index_range_events,
            ),
        )

    def _kept(self, name: str, make: Callable[[], Any]) -> Any:
        """The cached kept tables ``name`` (made by ``make``), brought up to date with the
        batches that arrived; None when the store cannot hold them (read-only), so the
        caller falls back to plain queries."""
        import duckdb

        kept = self.caches.get(name, make)
        try:
            kept.ensure()
        except duckdb.Error as exc:
            log.info("%s unavailable (%s); using plain queries", name, exc)
            return None
        return kept

    def score_cells(self) -> Any:
        """The store's score cells (``analytics.derived_scores``: answers per day x metric x
        touchpoint x owner x channel x segment x score), refreshed with the batches that
        arrived; None when the store cannot hold them (read-only)."""
        from klantreis.analytics.derived_scores import ScoreCells

        return self._kept(
            "score_cells",
            lambda: ScoreCells(
                self.store,
                self.journey.timezone,
                self.store.version,
                self.journey.promises,
                memory_mb=self.settings.index_memory_mb,
            ),
        )

    def contact_views(self) -> Any:
        """The store's kept contacts (``contacts.derived``: every inbound contact with its
        reason, classified once), refreshed with the batches that arrived; None when the
        store cannot hold them (read-only)."""
        from klantreis.contacts.derived import ContactViews

        return self._kept(
            "contact_views",
            lambda: ContactViews(
                self.store,
                self.journey,
                self.contacts,
                memory_mb=self.settings.index_memory_mb,
                range_events=self.settings.index_range_events,
            ),
        )

    def condition_views(self) -> Any:
        """The store's kept journey conditions and orders (``contacts.conditions``: per
        journey x condition x local day), refreshed with the batches that arrived; None when
        the store cannot hold them (read-only)."""
        from klantreis.contacts.conditions import ConditionViews

        return self._kept(
            "condition_views",
            lambda: ConditionViews(
                self.store,
                self.journey,
                memory_mb=self.settings.index_memory_mb,
                range_events=self.settings.index_range_events,
            ),
        )

    def cx_index(self, **kw: Any) -> Any:
        """The CX index of this store with this App's cache; see ``analytics.cx_index``."""
        from klantreis.analytics.cx_index import cx_index

        kw.setdefault("cache", self.index_cache())
        return cx_index(self.events_table(), self.journey, **kw)

    @property
    def surveys_path(self) -> Path:
        """The surveys file of this App's settings (see :func:`surveys_path`)."""
        return surveys_path(self.settings)

    @property
    def surveys(self) -> SurveyConfig:
        """The surveys file, read and checked against the journey (``SurveyConfigError``
        lists every problem); read again when the file changed."""
        from klantreis.listen.survey_file import SurveysCache

        cache = getattr(self, "_surveys", None)
        if cache is None:
            cache = self._surveys = SurveysCache()
        config: SurveyConfig = cache.get(self.settings, self.journey)
        return config

    def events_table(self) -> Any:
        """The event log as an Ibis table on this App's DuckDB store."""
        from klantreis.analytics.backend import duckdb_events

        return duckdb_events(self.store)

    # -- ingest (klantreis.ingest is below the App: it is given what it needs) -----------
    @property
    def destination(self) -> Destination:
        """This App's store and journey, with the ingest settings, for ``klantreis.ingest``."""
        from klantreis.ingest import Destination
        from klantreis.ingest.limits import Limits

        return Destination(
            self.store,
            self.journey,
            batch_rows=self.settings.ingest_batch_rows,
            timezone=self.settings.timezone,
            limits=Limits.from_settings(self.settings),
            memory_mb=self.settings.ingest_memory_mb,
            index_on_ingest=self.settings.index_on_ingest,
            index_range_events=self.settings.index_range_events,
            index_memory_mb=self.settings.index_memory_mb,
        )

    def ingest_paths(
        self, paths: Sequence[str | Path], mapping: Mapping | str | Path | None = None, **kw: Any
    ) -> IngestSummary:
        """Ingest files into this App's store; see ``klantreis.ingest.ingest_paths``."""
        from klantreis.ingest import ingest_paths

        return ingest_paths(self.destination, paths, mapping, **kw)

    # -- metrics (thin delegates to klantreis.analytics.metrics) --------------------------
    def _metric_defaults(self, kw: dict[str, Any]) -> dict[str, Any]:
        """The journey (with its time zone) and the minimum from :attr:`defaults`."""
        kw.setdefault("journey", self.journey)
        kw.setdefault("min_answers", self.defaults.min_answers)
        return kw

    def scores(self, metric: str | list[str], **kw: Any) -> Any:
        """Scores per group as a pandas DataFrame; see ``analytics.metrics.score_table``.

        >>> from klantreis.model.events import events_from_records
        >>> app = open_app(":memory:")
        >>> rows = [{"event_id": f"s{i}", "occurred_at": "2026-04-01T10:00:00Z",
        ...          "kind": "survey.response", "metric": "nps", "score": s,
        ...          "touchpoint": "bezorging"} for i, s in enumerate([10, 9, 8, 3])]
        >>> _ = app.store.append(events_from_records(rows))
        >>> df = app.scores("nps", by=["touchpoint"], min_answers=1)
        >>> df[["touchpoint", "n", "value"]].to_dict("records")
        [{'touchpoint': 'bezorging', 'n': 4, 'value': 25.0}]
        >>> bool(app.scores("nps", by=["touchpoint"])["too_few"][0])  # journey minimum: 30
        True
        >>> app.close()
        """
        from klantreis.analytics.metrics import score_table

        kw.setdefault("confidence", self.defaults.confidence)
        return score_table(self.events_table(), metric, **self._metric_defaults(kw))

    def score_changes(self, metric: str, period: str = "week", **kw: Any) -> Any:
        """Period-over-period changes with p-values; see ``analytics.metrics.period_change``."""
        from klantreis.analytics.metrics import period_change

        kw.setdefault("alpha", round(1 - self.defaults.confidence, 10))
        return period_change(self.events_table(), metric, period, **self._metric_defaults(kw))

    def nps_ces_matrix(self, **kw: Any) -> Any:
        """NPS and CES per touchpoint; see ``analytics.metrics.nps_ces_matrix``."""
        from klantreis.analytics.metrics import nps_ces_matrix

        kw.setdefault("confidence", self.defaults.confidence)
        kw = self._metric_defaults(kw)
        return nps_ces_matrix(self.events_table(), kw.pop("journey"), **kw)

    def contacts_per_100_journeys(self, **kw: Any) -> Any:
        """Inbound contacts per 100 journeys; see ``analytics.metrics``."""
        from klantreis.analytics.metrics import contacts_per_100_journeys

        kw.setdefault("confidence", self.defaults.confidence)
        return contacts_per_100_journeys(self.events_table(), self.journey, **kw)


def open_app(path: str | Path = "klantreis.duckdb", **settings: Any) -> App:
    """Open (or create) a store for use from Python or a notebook. While ``klantreis serve``
    holds the store, the App reads a snapshot made by the server now (``app.snapshot_of``
    is then the store's path; open again for newer data); see :meth:`App.reader`.

    >>> app = open_app(":memory:")
    >>> app.store.count()
    0
    >>> app.close()
    """
    return App.reader(Settings.load(db_path=str(path), **settings))
