"""Alerts: when the CX index, a touchpoint or an owner moves — by a test, not a threshold on
noise — or a promise's kept-rate falls, the people who subscribed get the mover sentence
("Bezorging -4,1: VlotBezorgd, 312 te late pakketten") by e-mail, a signed webhook (a
Slack/Teams-compatible ``{"text": ...}`` payload) or Web Push to every device where the
subscriber turned push on (:mod:`klantreis.act.push`), within a daily budget per
subscription.

- **What fires** (:func:`find_alerts`): the index's total change between the last two windows
  when its test says significant; every touchpoint/owner mover that is significant and moved at
  least ``min_points`` index points; a promise whose kept-rate in the last window is
  significantly lower than in the window before (two-proportion z-test), per owner.
- **Once**: an alert's key is its subject and the last day of its window, so the same move
  is sent to a subscriber once however often the check runs (the table's primary key says so).
- **Budget**: at most ``daily_budget`` alerts per subscription per day; the rest are recorded
  as ``over_budget`` (shown on the page, never sent), largest moves first.

- **Escalations** (:func:`escalation_signals`): a follow-up case that waits for its first
  action past a step of the rules' escalation ladder (50% of the target: the owner's
  followers; 100%: the team lead too) — the ladder and its budget per team are
  :mod:`klantreis.act.runner`'s; the subscriptions' own daily budget applies on top.

Subscriptions, the alert log and the sending are kept in the main store; the message goes out
through whatever ``send`` the caller gives (the outbox in the App).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from klantreis.analytics.movers import Mover, MoversResult
from klantreis.analytics.stats import Summary, compare
from klantreis.store import EventStore
from klantreis.wording import Names
from klantreis.wording.movers import mover_label, mover_sentence

__all__ = [
    "Alert",
    "AlertSignal",
    "Subscription",
    "add_subscription",
    "alert_log",
    "dispatch",
    "ensure_schema",
    "escalation_signals",
    "find_alerts",
    "promise_falls",
    "subscriptions",
]

Dimension = Literal["index", "touchpoint", "owner", "promise", "case"]
CHANNELS = ("email", "webhook", "push")


@dataclass(frozen=True)
class AlertSignal:
    """Something that moved: ``dimension`` (index/touchpoint/owner/promise), its ``key``, the
    change (index points, or percent points of kept-rate), its p-value, the window's last day
    and, for movers, the mover itself (for its sentence)."""

    dimension: str
    key: str
    change: float
    p_value: float | None
    window_end: date
    mover: Mover | None = None
    owner: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key_id(self) -> str:
        return f"{self.dimension}:{self.key}:{self.window_end.isoformat()}"


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    user: str
    channel: str
    #: A staff e-mail address or a webhook URL (not customer data); empty for push (it goes
    #: to the user's devices).
    target: str
    #: Only alerts about this dimension (and key); None: every alert.
    dimension: str | None = None
    key: str | None = None
    daily_budget: int = 3
    lang: str = "nl"

    def wants(self, signal: AlertSignal) -> bool:
        if signal.dimension == "case" and signal.detail.get("lead") == self.user:
            return True  # the escalation ladder's team-lead step names this user
        if self.dimension is None:
            return True
        if self.dimension != signal.dimension and not (
            self.dimension == "owner" and signal.owner is not None
        ):
            return False
        if self.key is None:
            return True
        return self.key == signal.key or (
            self.dimension in ("owner", "case") and self.key == signal.owner
        )


@dataclass(frozen=True)
class Alert:
    subscription_id: str
    alert_key: str
    status: Literal["sent", "over_budget"]
    text: str
    payload: dict[str, Any]


def ensure_schema(store: EventStore) -> None:
    with store.transaction() as con:
        con.execute(
            """CREATE TABLE IF NOT EXISTS alert_subscriptions (
                subscription_id VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL,
                channel VARCHAR NOT NULL, target VARCHAR NOT NULL, dimension VARCHAR,
                key VARCHAR, daily_budget INTEGER NOT NULL, lang VARCHAR NOT NULL,
                created_at TIMESTAMPTZ DEFAULT current_timestamp)"""
        ).fetchall()
        con.execute(
            """CREATE TABLE IF NOT EXISTS alerts (
                subscription_id VARCHAR NOT NULL, alert_key VARCHAR NOT NULL,
                status VARCHAR NOT NULL, text VARCHAR NOT NULL, change DOUBLE,
                created_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (subscription_id, alert_key))"""
        ).fetchall()


def add_subscription(
    store: EventStore,
    user: str,
    channel: str,
    target: str,
    *,
    dimension: str | None = None,
    key: str | None = None,
    daily_budget: int = 3,
    lang: str = "nl",
) -> Subscription:
    """Subscribe ``user``; ValueError (with the reason) for a bad channel, target or budget."""
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
    if channel == "push":
        target = ""  # the user's devices (klantreis.act.push), whichever they are then
    if channel == "webhook" and not target.startswith(("https://", "http://")):
        raise ValueError("a webhook target must be an http(s) URL")
    if channel == "email" and ("@" not in target or " " in target.strip()):
        raise ValueError("an e-mail target must be an e-mail address")
    if dimension not in (None, "index", "touchpoint", "owner", "promise", "case"):
        raise ValueError("dimension must be index, touchpoint, owner, promise or case")
    if not 1 <= daily_budget <= 100:
        raise ValueError("daily_budget must be between 1 and 100")
    ensure_schema(store)
    digest = hashlib.sha256(f"{user}\x1f{channel}\x1f{target}\x1f{dimension}\x1f{key}".encode())
    sub = Subscription(
        "sub_" + digest.hexdigest()[:16],
        user,
        channel,
        target.strip(),
        dimension,
        key,
        daily_budget,
        lang,
    )
    with store.transaction() as con:
        con.execute(
            "INSERT OR REPLACE INTO alert_subscriptions (subscription_id, user_name, channel,"
            " target, dimension, key, daily_budget, lang) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [sub.subscription_id, user, channel, sub.target, dimension, key, daily_budget, lang],
        ).fetchall()
    return sub


def subscriptions(store: EventStore, user: str | None = None) -> list[Subscription]:
    ensure_schema(store)
    sql = (
        "SELECT subscription_id, user_name AS user, channel, target, dimension, key,"
        " daily_budget, lang FROM alert_subscriptions"
    )
    rows = (
        store.query(sql + " WHERE user_name = ? ORDER BY created_at", [user])
        if user
        else store.query(sql + " ORDER BY created_at")
    ).to_pylist()
    return [Subscription(**r) for r in rows]


# -- what fires -------------------------------------------------------------------------------
def find_alerts(
    movers: MoversResult | None,
    promise_changes: Sequence[AlertSignal] = (),
    min_points: float = 0.5,
) -> list[AlertSignal]:
    """Significant moves, largest first (see the module docstring)."""
    if movers is None:
        return list(promise_changes)
    end = movers.current[1]
    out = []
    if movers.significant and movers.total_change is not None:
        out.append(
            AlertSignal(
                "index",
                "index",
                movers.total_change,
                movers.p_value,
                end,
                movers.top[0] if movers.top else None,
                detail={"before": movers.index_before, "after": movers.index_after},
            )
        )
    for dimension in ("touchpoint", "owner"):
        for m in movers.by_dimension.get(dimension, []):
            if m.significant and abs(m.delta_points) >= min_points:
                out.append(
                    AlertSignal(
                        dimension,
                        m.key,
                        m.delta_points,
                        m.p_value,
                        end,
                        m,
                        owner=m.key if dimension == "owner" else m.driver.get("owner"),
                    )
                )
    out += promise_changes
    return sorted(out, key=lambda s: (s.dimension != "index", -abs(s.change)))


def promise_falls(
    rates: Sequence[dict[str, Any]],
    window_end: date,
    alpha: float = 0.05,
    min_decided: int = 30,
) -> list[AlertSignal]:
    """Promises whose kept-rate fell significantly: ``rates`` are rows with ``promise_id``,
    ``owner``, and ``kept``/``broken`` for the ``previous`` and ``current`` window
    (``kept_before``, ``broken_before``, ``kept_after``, ``broken_after``)."""
    out = []
    for r in rates:
        before = Summary(n=int(r["kept_before"] + r["broken_before"]), top2=int(r["kept_before"]))
        after = Summary(n=int(r["kept_after"] + r["broken_after"]), top2=int(r["kept_after"]))
        c = compare("csat", before, after, alpha, min_decided)
        if c.significant and c.diff is not None and c.diff < 0:
            out.append(
                AlertSignal(
                    "promise",
                    f"{r['promise_id']}@{r['owner']}",
                    c.diff,
                    c.p_value,
                    window_end,
                    owner=r["owner"],
                    detail={
                        "promise_id": r["promise_id"],
                        "rate_before": c.value_a,
                        "rate_after": c.value_b,
                        "broken_after": int(r["broken_after"]),
                    },
                )
            )
    return out


def escalation_signals(escalations: Sequence[Any], rules: Any) -> list[AlertSignal]:
    """Alert signals for the escalation ladder's steps (``act.runner.run_escalations``): a
    case waiting for its first action. They reach the subscriptions that follow the case's
    owner (``owner:<id>``, ``case:<id>``), every case (``case:``) or everything, and at the
    team-lead step also every subscription of the lead the rules name for that owner."""
    out = []
    for e in escalations:
        rule = rules.rule(e.rule_id)
        names = {lang: rule.name(lang) if rule else "" for lang in ("nl", "en")}
        out.append(
            AlertSignal(
                "case",
                f"{e.case_id}@{e.action}",
                e.fraction,
                None,
                e.at.date(),
                owner=e.owner,
                detail={
                    "case_id": e.case_id,
                    "action": e.action,
                    "fraction": e.fraction,
                    "rule_name": names,
                    "lead": e.to if e.action == "team_lead" and e.to != e.owner else None,
                },
            )
        )
    return out


# -- words -------------------------------------------------------------------------------------
def alert_text(signal: AlertSignal, names: Names) -> str:
    """The sentence a subscriber reads (the mover sentence; the index with its top mover)."""
    w = names.w
    if signal.dimension == "index":
        head = w(
            "alert.index",
            change=w.number(signal.change, 1, signed=True),
            end=w.date(signal.window_end),
        )
        return head + (" " + mover_sentence(signal.mover, names) if signal.mover else "")
    if signal.dimension == "promise":
        d = signal.detail
        return w(
            "alert.promise",
            promise=names.promise(d["promise_id"]),
            owner=names.owner(signal.owner or ""),
            before=w.percent((d["rate_before"] or 0) / 100),
            after=w.percent((d["rate_after"] or 0) / 100),
            broken=w.number(d["broken_after"], 0),
        )
    if signal.dimension == "case":
        d = signal.detail
        return w(
            f"alert.case.{d['action']}",
            rule=d["rule_name"].get(w.lang) or d["rule_name"].get("nl") or "",
            owner=names.owner(signal.owner or ""),
            share=w.percent(d["fraction"]),
        )
    assert signal.mover is not None
    return mover_sentence(signal.mover, names)


def alert_payload(signal: AlertSignal, text: str, names: Names) -> dict[str, Any]:
    """Slack/Teams-compatible (``text``) with the alert's keys beside it."""
    subject = (
        mover_label(signal.mover, names)
        if signal.mover is not None and signal.dimension != "index"
        else text
    )
    return {
        "text": text,
        "alert": {
            "dimension": signal.dimension,
            "key": signal.key,
            "label": subject,
            "change": signal.change,
            "p_value": signal.p_value,
            "window_end": signal.window_end.isoformat(),
            **(
                {"case": f"/cases/{signal.detail['case_id']}"} if signal.dimension == "case" else {}
            ),
        },
    }


# -- sending ------------------------------------------------------------------------------------
Send = Callable[[Subscription, str, dict[str, Any], str], None]


def dispatch(
    store: EventStore,
    signals: Sequence[AlertSignal],
    names_for: Callable[[str], Names],
    send: Send,
    now: datetime | None = None,
) -> list[Alert]:
    """Send each signal to each subscription that wants it, once, within the daily budget.
    ``send(subscription, text, payload, alert_key)`` delivers (the outbox, idempotent on the
    key); ``names_for(lang)`` words the sentence in the subscriber's language."""
    ensure_schema(store)
    now = now or datetime.now(UTC)
    today = now.date()
    out = []
    for sub in subscriptions(store):
        seen = {
            r["alert_key"]
            for r in store.query(
                "SELECT alert_key FROM alerts WHERE subscription_id = ?", [sub.subscription_id]
            ).to_pylist()
        }
        sent_today = store.query(
            "SELECT count(*) AS n FROM alerts WHERE subscription_id = ? AND status = 'sent'"
            " AND CAST(created_at AS DATE) = ?",
            [sub.subscription_id, today],
        ).to_pylist()[0]["n"]
        names = names_for(sub.lang)
        for signal in signals:
            if not sub.wants(signal) or signal.key_id in seen:
                continue
            text = alert_text(signal, names)
            payload = alert_payload(signal, text, names)
            status: Literal["sent", "over_budget"] = (
                "sent" if sent_today < sub.daily_budget else "over_budget"
            )
            with store.transaction() as con:
                con.execute(
                    "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [sub.subscription_id, signal.key_id, status, text, signal.change, now],
                ).fetchall()
            if status == "sent":
                send(sub, text, payload, f"alert:{sub.subscription_id}:{signal.key_id}")
                sent_today += 1
            seen.add(signal.key_id)
            out.append(Alert(sub.subscription_id, signal.key_id, status, text, payload))
    return out


def alert_log(store: EventStore, user: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest alerts (of ``user``'s subscriptions), with their status."""
    ensure_schema(store)
    sql = (
        "SELECT a.alert_key, a.status, a.text, a.change, a.created_at, s.channel, s.user_name"
        " FROM alerts a JOIN alert_subscriptions s USING (subscription_id)"
    )
    params: list[Any] = []
    if user:
        sql += " WHERE s.user_name = ?"
        params.append(user)
    sql += f" ORDER BY a.created_at DESC, a.alert_key LIMIT {int(limit)}"
    rows: list[dict[str, Any]] = store.query(sql, params or None).to_pylist()
    return rows


def signal_dict(signal: AlertSignal) -> dict[str, Any]:
    out = asdict(signal)
    out["window_end"] = signal.window_end.isoformat()
    return out


def promise_windows(
    events: Any, journey: Any, until: date, window: int = 7, zone: str = "Europe/Amsterdam"
) -> list[dict[str, Any]]:
    """Per promise and owner: kept and broken promises whose deadline fell in the last
    ``window`` days up to ``until`` and in the ``window`` days before (local days)."""
    from klantreis.analytics.movers import day_bounds, windows
    from klantreis.analytics.promises import promise_outcomes_expr

    if not journey.promises:
        return []
    prev, cur = windows(until, window)
    lo, _ = day_bounds(prev[0], prev[1], zone)
    mid, hi = day_bounds(cur[0], cur[1], zone)
    out = promise_outcomes_expr(events, journey)
    out = out.filter((out.deadline >= lo) & (out.deadline < hi) & (out.status != "open"))
    after = out.deadline >= mid
    kept, broken = out.status == "kept", out.status == "broken"
    agg = out.group_by(["promise_id", "owner"]).aggregate(
        kept_before=(kept & ~after).sum(),
        broken_before=(broken & ~after).sum(),
        kept_after=(kept & after).sum(),
        broken_after=(broken & after).sum(),
    )
    rows: list[dict[str, Any]] = agg.to_pyarrow().to_pylist()
    return [r for r in rows if r["owner"] is not None]


def check(
    store: EventStore,
    journey: Any,
    events: Any,
    names_for: Callable[[str], Names],
    send: Send,
    *,
    until: date | None = None,
    window: int = 7,
    now: datetime | None = None,
    cache: Any = None,
) -> list[Alert]:
    """One alert round: movers of the last ``window`` days (ending ``until``, default the
    newest day with answers), promise falls, then :func:`dispatch`."""
    from klantreis.analytics.cx_index import index_movers

    movers = index_movers(events, journey, until=until, window=window, cache=cache, limit=20)
    end = movers.current[1] if movers is not None else until
    falls = (
        promise_falls(promise_windows(events, journey, end, window, journey.timezone), end)
        if end
        else []
    )
    return dispatch(store, find_alerts(movers, falls), names_for, send, now)


def remove_subscription(store: EventStore, user: str, subscription_id: str) -> bool:
    """Remove ``user``'s subscription (its log stays); False when there was none."""
    ensure_schema(store)
    with store.transaction() as con:
        found = con.execute(
            "SELECT count(*) FROM alert_subscriptions WHERE subscription_id = ? AND user_name = ?",
            [subscription_id, user],
        ).fetchall()[0][0]
        con.execute(
            "DELETE FROM alert_subscriptions WHERE subscription_id = ? AND user_name = ?",
            [subscription_id, user],
        ).fetchall()
    return bool(found)
