"""Settings, declared once: name, type, default, help. The one list drives the CLI's help,
the docs (docs/configuration.md) and a test that checks both mention every setting.

Values come from, in order of precedence: explicit arguments, environment variables
``KLANTREIS_<NAME>``, the defaults below (written once, in ``SETTINGS``; the ``Settings``
fields take them from there). Secrets have no default outside demo mode.

A setting given as an argument or in the environment is *explicitly set*
(:meth:`Settings.is_set`): the App lets an explicit ``min_answers`` or ``timezone`` win over
the journey file's, and otherwise follows the journey file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from itertools import pairwise
from pathlib import Path
from typing import Any

__all__ = ["RETIRED", "SETTINGS", "Setting", "Settings", "SettingsError", "weak_key_reason"]


class SettingsError(ValueError):
    """A setting that is missing or has a value that cannot be used."""


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str
    secret: bool = False
    minimum: int | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "db_path",
        str,
        "klantreis.duckdb",
        "DuckDB file holding the event log (':memory:' for a throw-away store).",
    ),
    Setting(
        "journey_config",
        str,
        "",
        "Journey configuration TOML; empty uses the built-in webshop journey.",
    ),
    Setting(
        "alert_check_seconds",
        int,
        300,
        "How often a running server looks for significant moves to alert subscribers about.",
    ),
    Setting(
        "kept_views_seconds",
        int,
        15,
        "How often a running server brings the pages' kept tables and default views up to"
        " date when events arrived (in pauses of ingest); 0: off, the first view after new"
        " events does it.",
        minimum=0,
    ),
    Setting(
        "stale_page_events",
        int,
        10,
        "When the store has more than this many events a page's kept result does not include"
        " (and the kept tables are that far behind), a running server answers at once with"
        " that result, says so on the page, and wakes the kept-views job; `?fresh=1` waits for"
        " new figures. Fewer events: the view computes them (about 1 s on 10M events; 30 or"
        " more new events cost /contacts 2-4 CPU s); 0: off.",
        minimum=0,
    ),
    Setting(
        "proactive_config",
        str,
        "",
        "Proactive-message rules TOML; empty uses the built-in webshop's rules with the"
        " built-in journey, and none with your own journey.",
    ),
    Setting(
        "case_rules",
        str,
        "",
        "Case rules TOML (follow-up cases, SLA calendar, escalation); empty uses the built-in"
        " rules.",
    ),
    Setting(
        "timezone",
        str,
        "Europe/Amsterdam",
        "Time zone for naive source time stamps and for days/weeks in reports.",
    ),
    Setting(
        "surveys_path",
        str,
        "",
        "Surveys TOML (what klantreis asks, when, and the contact rules); empty uses"
        " surveys.toml next to the journey file, else the demo's surveys.",
    ),
    Setting("min_answers", int, 30, "Below this many answers a score shows as 'too few answers'."),
    Setting("confidence", float, 0.95, "Confidence level of intervals."),
    Setting("language", str, "nl", "Default interface language (nl or en)."),
    Setting("demo_mode", bool, False, "Demo mode: allows generated secrets and the demo accounts."),
    Setting(
        "secret_key",
        str,
        "",
        "Key that signs sessions and CSRF tokens. Required outside demo mode.",
        secret=True,
    ),
    Setting(
        "secure_cookies",
        bool,
        False,
        "Always mark session and CSRF cookies Secure (HTTPS only); set it behind a TLS proxy.",
    ),
    Setting(
        "session_idle_minutes",
        int,
        120,
        "A web session unused this many minutes ends (0: only the 14-day limit).",
    ),
    Setting("host", str, "127.0.0.1", "Address the web server listens on."),
    Setting("port", int, 8000, "Port the web server listens on."),
    Setting("ingest_batch_rows", int, 200_000, "Rows per ingest batch (one transaction each)."),
    Setting(
        "checkpoint_mb",
        int,
        64,
        "Write-ahead log size (MiB) the server checkpoints in its own time: the kept-views"
        " job checkpoints after its refreshes when the log holds over half of it. Writes"
        " checkpoint by themselves only past `wal_limit_mb`.",
        minimum=0,
    ),
    Setting(
        "wal_limit_mb",
        int,
        256,
        "Most write-ahead log (MiB) before any write checkpoints in its own commit (a"
        " visitor's request too): bounds the log, the changes held in memory until a"
        " checkpoint and the replay after a crash. Taken as at least `checkpoint_mb`, so a"
        " batch's page refreshes stay under it and the kept-views job checkpoints them"
        " (0: `checkpoint_mb`, every write may checkpoint; both 0: DuckDB's"
        " default, 16 MiB).",
        minimum=0,
    ),
    Setting(
        "write_queue_max_delay_ms",
        int,
        20,
        "Longest a queued API event waits before the writer commits its batch.",
    ),
    Setting(
        "index_range_events",
        int,
        1_000_000,
        "Events per journey-key range when the journey index, the derived views or the kept"
        " conditions are built in bulk (after a bulk load), and per range of the log when the"
        " kept contacts are: bounds the build's memory (~0.1 GiB per million in a range), not"
        " the store.",
        minimum=1,
    ),
    Setting(
        "index_memory_mb",
        int,
        1024,
        "DuckDB memory limit (MiB) while the journey index, the derived views, the kept"
        " conditions or the kept contacts are built in bulk; past it DuckDB evicts its cache"
        " and spills to disk (0: DuckDB's own limit).",
        minimum=0,
    ),
    Setting(
        "ingest_memory_mb",
        int,
        512,
        "DuckDB memory limit (MiB) while files are ingested in batches (not canonical Parquet),"
        " the final checkpoint included; past it DuckDB evicts its cache (0: DuckDB's own"
        " limit).",
        minimum=0,
    ),
    Setting(
        "index_on_ingest",
        bool,
        True,
        "A file ingest (`klantreis ingest`) keeps the journey index up to date when it was"
        " current before (or the store empty), so the first read after a bulk load builds"
        " nothing; costs the ingest about the build's time (off: the first read builds it).",
    ),
    Setting("max_request_events", int, 10_000, "Most events accepted in one API request."),
    Setting("max_request_bytes", int, 16 * 1024 * 1024, "Largest API request body in bytes."),
    Setting(
        "max_record_fields",
        int,
        1_000,
        "Most columns (CSV) or keys (JSON) per ingested record and per file; past it the"
        " record is quarantined (a CSV header with more columns fails its file).",
    ),
    Setting(
        "max_field_bytes",
        int,
        4 * 1024 * 1024,
        "Largest value in one ingested field (CSV cell, JSON value, XML element); past it"
        " the record is quarantined, or its file fails when it cannot be parsed in bounds.",
    ),
    Setting(
        "contacts_page_size",
        int,
        20,
        "Contacts of one reason listed per page (the contacts page and /api/v1/contacts):"
        " each page is read on its own, so memory follows this, not the contacts.",
        minimum=1,
    ),
    Setting(
        "max_json_depth",
        int,
        64,
        "Deepest nesting of JSON objects and arrays in one record (files and the API).",
    ),
    Setting(
        "max_decompressed_bytes",
        int,
        4 * 1024 * 1024 * 1024,
        "Most bytes read from one compressed (.gz) file after decompression.",
    ),
    # -- the customer directory and the outbox (docs/outbox.md) --
    Setting(
        "directory_path",
        str,
        "",
        "DuckDB file of the customer directory (contact details, consent); empty: beside the"
        " store as <store stem>.directory.duckdb.",
    ),
    Setting(
        "surveys_basis",
        str,
        "consent",
        "Legal basis for surveys: 'consent' (an explicit yes is needed) or"
        " 'legitimate_interest' (allowed until the customer objects).",
    ),
    Setting(
        "service_basis",
        str,
        "legitimate_interest",
        "Legal basis for service messages: 'consent' or 'legitimate_interest'.",
    ),
    Setting(
        "phone_country_code",
        str,
        "31",
        "Country calling code given to national phone numbers (leading 0) in the directory.",
    ),
    Setting("smtp_host", str, "", "SMTP server for e-mail; empty: e-mail is not sent."),
    Setting("smtp_port", int, 587, "SMTP server port."),
    Setting(
        "smtp_security",
        str,
        "starttls",
        "SMTP connection security: 'starttls', 'ssl' (implicit TLS) or 'none' (local only).",
    ),
    Setting("smtp_user", str, "", "SMTP login name; empty: no login."),
    Setting("smtp_password", str, "", "SMTP password.", secret=True),
    Setting("smtp_from", str, "", "Sender address of e-mail (From)."),
    Setting("smtp_timeout_seconds", float, 30.0, "Time-out of one SMTP conversation step."),
    Setting(
        "webhook_url",
        str,
        "",
        "Receiver of webhook messages to customers (an SMS or WhatsApp provider's endpoint).",
    ),
    Setting(
        "webhook_secret",
        str,
        "",
        "Signing secret of outgoing webhooks (Standard Webhooks, 'whsec_' + base64).",
        secret=True,
    ),
    Setting(
        "widget_secret",
        str,
        "",
        "Key with which the shop signs the customer id it puts in the survey widget"
        " (HMAC-SHA256 over '<customer id>.<expiry>'). Required for the widget outside demo mode.",
        secret=True,
    ),
    Setting("webhook_timeout_seconds", float, 15.0, "Time-out of one webhook request."),
    Setting(
        "push_vapid_private_key",
        str,
        "",
        "VAPID private key of Web Push (URL-safe base64 of 32 bytes; `klantreis push keys`"
        " makes a pair). Empty: no push, except in demo mode, which keeps one in the data"
        " folder.",
        secret=True,
    ),
    Setting(
        "push_vapid_subject",
        str,
        "",
        "Contact push services may use (a mailto: or https: URL), sent in every VAPID token;"
        " required with a VAPID key outside demo mode.",
    ),
    Setting(
        "push_ttl_seconds",
        int,
        12 * 3600,
        "How long a push service may hold an alert for a device that is offline.",
        minimum=0,
    ),
    Setting("push_timeout_seconds", float, 15.0, "Time-out of one request to a push service."),
    Setting(
        "alert_webhook_hosts",
        str,
        "hooks.slack.com,webhook.office.com,logic.azure.com",
        "Hosts an alert webhook of a non-admin user may point at (comma-separated; a host"
        " below one counts too): chat services. Admins may enter any URL.",
    ),
    Setting(
        "push_service_hosts",
        str,
        "fcm.googleapis.com,push.services.mozilla.com,notify.windows.com,push.apple.com",
        "Push services a browser's subscription may point at (host names, comma-separated; a"
        " host below one counts too). The server posts to these only, so a signed-in user"
        " cannot make it call an internal address. Empty: any https host.",
    ),
    Setting(
        "push_max_devices",
        int,
        10,
        "Most devices (push subscriptions) one user may have; the oldest goes first.",
        minimum=1,
    ),
    Setting("outbox_max_attempts", int, 8, "Most delivery attempts of one message."),
    Setting(
        "outbox_backoff_seconds",
        float,
        5.0,
        "Wait before the first retry; doubled per attempt, with random jitter.",
    ),
    Setting("outbox_backoff_max_seconds", float, 6 * 3600.0, "Longest wait between attempts."),
    Setting(
        "outbox_lease_seconds",
        int,
        300,
        "How long a claimed message may stay 'sending' before it counts as interrupted.",
    ),
    # -- surveys: the respondent form and its links (docs/surveys.md) --
    Setting(
        "survey_base_url",
        str,
        "",
        "Public address personal survey links start with (e.g. https://cx.example.nl); empty:"
        " the address a request came in on.",
    ),
    Setting(
        "survey_posts_per_minute",
        int,
        30,
        "Most answers (form posts, widget calls) one client address may send per minute.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}

#: Settings no longer read, and what took their place. Setting one (in the environment or as
#: an argument) is not an error: it is ignored with a warning that says what to set instead,
#: so a server configured for an older version still starts and behaves as documented now.
RETIRED: dict[str, str] = {
    "stale_pages": (
        "every page (not only /journeys) now answers at once with its kept figures, and says"
        " so, after more than KLANTREIS_STALE_PAGE_EVENTS new events (default 10; 0: off)"
    ),
}


def _coerce(setting: Setting, value: Any) -> Any:
    coerced = _coerce_type(setting, value)
    if setting.minimum is not None and coerced < setting.minimum:
        raise SettingsError(f"setting {setting.name}: {value!r} is below {setting.minimum}")
    return coerced


def _coerce_type(setting: Setting, value: Any) -> Any:
    if isinstance(value, setting.type) and not (setting.type is int and isinstance(value, bool)):
        return value
    text = str(value).strip()
    try:
        if setting.type is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        return setting.type(text)
    except ValueError as exc:
        raise SettingsError(
            f"setting {setting.name}: {value!r} is not a valid {setting.type.__name__}"
        ) from exc


def _default(name: str) -> Any:
    """The registry's default of ``name`` (the one place defaults are written)."""
    return _BY_NAME[name].default


MIN_SECRET_CHARS = 16
MIN_SECRET_DISTINCT = 8


def weak_key_reason(key: str) -> str | None:
    """Why ``key`` is too weak to sign sessions, or ``None``: shorter than 16 characters,
    fewer than 8 different characters, a repeated piece (``abcabc...``) or a string
    of mostly consecutive characters (``0123...``, ``abcd...``).

    >>> weak_key_reason("abcdefgh" * 3)
    'is a repeated or consecutive string'
    >>> weak_key_reason("f3a9c1e07b5d2846aa31") is None
    True
    """
    if len(key) < MIN_SECRET_CHARS:
        return f"must be at least {MIN_SECRET_CHARS} characters"
    if len(set(key)) < MIN_SECRET_DISTINCT:
        return f"must have at least {MIN_SECRET_DISTINCT} different characters"
    repeated = any(
        len(key) % n == 0 and key == key[:n] * (len(key) // n) for n in range(1, len(key) // 2 + 1)
    )
    steps = [ord(b) - ord(a) for a, b in pairwise(key)]
    if repeated or max(steps.count(1), steps.count(-1)) >= 0.75 * len(steps):
        return "is a repeated or consecutive string"
    return None


@dataclass(frozen=True)
class Settings:
    """Explicit, immutable settings. Build with ``Settings.load(...)``.

    ``explicit`` names the settings given as arguments or in the environment (see
    :meth:`is_set`); it is not itself a setting."""

    db_path: str = _default("db_path")
    journey_config: str = _default("journey_config")
    proactive_config: str = _default("proactive_config")
    alert_check_seconds: int = _default("alert_check_seconds")
    kept_views_seconds: int = _default("kept_views_seconds")
    stale_page_events: int = _default("stale_page_events")
    case_rules: str = _default("case_rules")
    surveys_path: str = _default("surveys_path")
    timezone: str = _default("timezone")
    min_answers: int = _default("min_answers")
    confidence: float = _default("confidence")
    language: str = _default("language")
    demo_mode: bool = _default("demo_mode")
    secret_key: str = field(default=_default("secret_key"), repr=False)
    secure_cookies: bool = _default("secure_cookies")
    session_idle_minutes: int = _default("session_idle_minutes")
    host: str = _default("host")
    port: int = _default("port")
    ingest_batch_rows: int = _default("ingest_batch_rows")
    checkpoint_mb: int = _default("checkpoint_mb")
    wal_limit_mb: int = _default("wal_limit_mb")
    write_queue_max_delay_ms: int = _default("write_queue_max_delay_ms")
    index_range_events: int = _default("index_range_events")
    index_memory_mb: int = _default("index_memory_mb")
    contacts_page_size: int = _default("contacts_page_size")
    ingest_memory_mb: int = _default("ingest_memory_mb")
    index_on_ingest: bool = _default("index_on_ingest")
    max_request_events: int = _default("max_request_events")
    max_request_bytes: int = _default("max_request_bytes")
    max_record_fields: int = _default("max_record_fields")
    max_field_bytes: int = _default("max_field_bytes")
    max_json_depth: int = _default("max_json_depth")
    max_decompressed_bytes: int = _default("max_decompressed_bytes")
    directory_path: str = _default("directory_path")
    surveys_basis: str = _default("surveys_basis")
    service_basis: str = _default("service_basis")
    phone_country_code: str = _default("phone_country_code")
    smtp_host: str = _default("smtp_host")
    smtp_port: int = _default("smtp_port")
    smtp_security: str = _default("smtp_security")
    smtp_user: str = _default("smtp_user")
    smtp_password: str = field(default=_default("smtp_password"), repr=False)
    smtp_from: str = _default("smtp_from")
    smtp_timeout_seconds: float = _default("smtp_timeout_seconds")
    webhook_url: str = _default("webhook_url")
    webhook_secret: str = field(default=_default("webhook_secret"), repr=False)
    widget_secret: str = field(default=_default("widget_secret"), repr=False)
    webhook_timeout_seconds: float = _default("webhook_timeout_seconds")
    push_vapid_private_key: str = field(default=_default("push_vapid_private_key"), repr=False)
    push_vapid_subject: str = _default("push_vapid_subject")
    push_ttl_seconds: int = _default("push_ttl_seconds")
    push_timeout_seconds: float = _default("push_timeout_seconds")
    push_max_devices: int = _default("push_max_devices")
    push_service_hosts: str = _default("push_service_hosts")
    alert_webhook_hosts: str = _default("alert_webhook_hosts")
    outbox_max_attempts: int = _default("outbox_max_attempts")
    outbox_backoff_seconds: float = _default("outbox_backoff_seconds")
    outbox_backoff_max_seconds: float = _default("outbox_backoff_max_seconds")
    outbox_lease_seconds: int = _default("outbox_lease_seconds")
    survey_base_url: str = _default("survey_base_url")
    survey_posts_per_minute: int = _default("survey_posts_per_minute")
    explicit: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def is_set(self, name: str) -> bool:
        """Whether ``name`` was set explicitly: given to :meth:`load` (as an argument or in the
        environment), or passed to the constructor with a value other than its default."""
        if name not in _BY_NAME:
            raise SettingsError(f"unknown setting: {name}")
        return name in self.explicit or getattr(self, name) != _BY_NAME[name].default

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        overrides = _without_retired(env, overrides)
        values: dict[str, Any] = {}
        for s in SETTINGS:
            key = f"KLANTREIS_{s.name.upper()}"
            if overrides.get(s.name) is not None:
                values[s.name] = _coerce(s, overrides[s.name])
            elif key in env:
                values[s.name] = _coerce(s, env[key])
        unknown = set(overrides) - set(_BY_NAME)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**values, explicit=frozenset(values))

    def require_secret_key(self) -> str:
        """The secret key; generated only in demo mode, otherwise it must be set."""
        if self.secret_key:
            weak = weak_key_reason(self.secret_key)
            if weak and not (self.demo_mode and len(self.secret_key) >= MIN_SECRET_CHARS):
                raise SettingsError(f"secret_key {weak}: use e.g. `openssl rand -hex 32`")
            return self.secret_key
        if self.demo_mode:
            import secrets  # here only: hmac and OpenSSL stay off a command's start

            return secrets.token_urlsafe(32)
        raise SettingsError(
            "secret_key is not set: set KLANTREIS_SECRET_KEY (no default outside demo mode)"
        )

    @property
    def db_file(self) -> Path | None:
        return None if self.db_path == ":memory:" else Path(self.db_path)

    def as_dict(self, reveal_secrets: bool = False) -> dict[str, Any]:
        out = {}
        for f in _setting_fields():
            v = getattr(self, f.name)
            out[f.name] = "***" if _BY_NAME[f.name].secret and v and not reveal_secrets else v
        return out


def _without_retired(env: Mapping[str, str], overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` without retired settings; each retired one set here or in ``env`` is
    logged as a warning, once per load."""
    for name, instead in RETIRED.items():
        key = f"KLANTREIS_{name.upper()}"
        if key in env or overrides.get(name) is not None:
            import logging  # here only: a command's start does not need it

            logging.getLogger(__name__).warning("%s is retired and ignored: %s.", key, instead)
    return {k: v for k, v in overrides.items() if k not in RETIRED}


def _setting_fields() -> list[Any]:
    return [f for f in fields(Settings) if f.name != "explicit"]


assert {f.name for f in _setting_fields()} == set(_BY_NAME), "Settings and SETTINGS disagree"
