"""``klantreis cases ...``: the follow-up cases from the terminal — a queue (mine, an owner's,
by status), one case with its log, and the outcomes (recovery per owner or reason with Wilson
intervals). Thin wrappers over :mod:`klantreis.act` (docs/cases.md). Tables are worded
(``--lang``); ``--json`` and ``--csv`` keep the ids and raw numbers."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

import click

from klantreis.cli.options import (
    echo_aligned,
    emit,
    lang_option,
    open_app,
    output_options,
    store_options,
)

__all__ = ["register"]

_STATUS = click.Choice(["active", "closed", "all"])


def _statuses(which: str) -> list[str] | None:
    from klantreis.act.cases import STATUSES

    if which == "all":
        return None
    return ["closed"] if which == "closed" else [s for s in STATUSES if s != "closed"]


def _words(app: Any, lang: str | None) -> tuple[Any, Any]:
    from klantreis.wording import Names, Wording

    w = Wording(lang or app.settings.language, app.defaults.timezone)
    return w, Names(app.journey, w)


def _rule_name(rules: Any, rule_id: str, lang: str) -> str:
    rule = rules.rule(rule_id)
    return str(rule.name(lang)) if rule else rule_id


@click.group(help="Follow-up cases: queues, one case, outcomes (docs/cases.md).")
def cases() -> None:
    pass


@cases.command("list", help="Cases, most urgent first: mine (--mine), an owner's (--owner).")
@store_options
@click.option("--owner", default=None, help="An owner id (a team's queue), e.g. finance.")
@click.option("--assignee", default=None, help="Cases assigned to this user name.")
@click.option("--mine", is_flag=True, help="Cases assigned to me (my login name).")
@click.option("--status", type=_STATUS, default="active", show_default=True)
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@lang_option
@output_options
def list_cmd(
    db_path: str | None,
    journey_config: str | None,
    owner: str | None,
    assignee: str | None,
    mine: bool,
    status: str,
    limit: int,
    lang: str | None,
    output: str,
) -> None:
    from klantreis.act.cases import clocks_for, count_cases, list_cases

    if mine and assignee:
        raise click.UsageError("use --mine or --assignee, not both")
    who = getpass.getuser() if mine else assignee
    with open_app(db_path, journey_config) as app:
        rules, now = app.case_rules, datetime.now(UTC)
        found = list_cases(app.store, owner, who, _statuses(status), limit=100_000)
        total = count_cases(app.store, owner, who, _statuses(status))
        clocks = clocks_for(app.store, found, rules, now)
        order = sorted(
            range(len(found)),
            key=lambda i: (found[i].status == "closed", -clocks[i]["resolution"].fraction),
        )[:limit]
        rows: list[dict[str, Any]] = []
        for i in order:
            c, k = found[i], clocks[i]["resolution"]
            rows.append(
                {
                    "case_id": c.case_id,
                    "rule_id": c.rule_id,
                    "owner": c.owner,
                    "assignee": c.assignee,
                    "status": c.status,
                    "opened_at": c.opened_at.isoformat(),
                    "resolution_due_at": k.due_at.isoformat() if k.due_at else None,
                    "resolution_used": round(k.fraction, 4),
                    "resolution_breached": k.breached,
                }
            )
        if output != "table":
            emit(rows, output, extra={"total": total})
            return
        w, names = _words(app, lang)
        click.echo(
            w(
                "cases.pager.showing",
                first=w.number(min(1, len(rows)), 0),
                last=w.number(len(rows), 0),
                total=w.number(total, 0),
            )
        )
        if not rows:
            click.echo(w("cases.cli.none"))
            return
        headers = [
            w(k)
            for k in (
                "cases.cli.case",
                "cases.reason",
                "cases.owner",
                "cases.cli.assignee",
                "cases.status",
                "cases.opened",
                "cases.resolution",
            )
        ]
        cells = [
            [
                r["case_id"],
                _rule_name(rules, r["rule_id"], w.lang),
                names.owner(r["owner"]),
                r["assignee"] or "–",
                w(f"cases.status.{r['status']}"),
                w.date(found[i].opened_at, "short"),
                _clock(w, clocks[i]["resolution"]),
            ]
            for r, i in zip(rows, order, strict=True)
        ]
        echo_aligned(headers, cells)


def _clock(w: Any, k: Any) -> str:
    if k.stopped_at is not None:
        return str(w("cases.clock.met" if k.met else "cases.clock.missed"))
    if k.paused:
        return str(w("cases.clock.paused"))
    due = w.date(k.due_at, "short") if k.due_at else "–"
    if k.breached:
        return f"{w('cases.clock.overdue')} · {due}"
    return f"{due} ({w.percent(k.fraction, 0)})"


@cases.command("show", help="One case: owner, status, clocks and its log.")
@click.argument("case_id")
@store_options
@lang_option
@output_options
def show_cmd(
    case_id: str, db_path: str | None, journey_config: str | None, lang: str | None, output: str
) -> None:
    from klantreis.act.cases import case_clocks, get_case

    with open_app(db_path, journey_config) as app:
        case = get_case(app.store, case_id[:100])
        if case is None:
            raise click.ClickException(f"no case '{case_id[:100]}'")
        rules = app.case_rules
        clocks = case_clocks(case, rules, datetime.now(UTC))
        data = {k: v for k, v in case.as_dict().items() if k != "log"}
        data["clocks"] = {k: v.as_dict() for k, v in clocks.items()}
        log = [dict(e) for e in case.log]
        if output != "table":
            emit(log, output, extra={"case": data})
            return
        w, names = _words(app, lang)
        cause = rules.root_cause(case.root_cause) if case.root_cause else None
        pairs = [
            ("cases.cli.case", case.case_id),
            ("cases.reason", _rule_name(rules, case.rule_id, w.lang)),
            ("cases.owner", names.owner(case.owner)),
            ("cases.cli.assignee", case.assignee or "–"),
            ("cases.status", w(f"cases.status.{case.status}")),
            ("cases.cli.journey", case.journey_id),
            ("cases.cli.customer", case.customer_id or "–"),
            ("cases.opened", w.date(case.opened_at, "short")),
            ("cases.first_action", _clock(w, clocks["first_action"])),
            ("cases.resolution", _clock(w, clocks["resolution"])),
            ("cases.cli.root_cause", cause.name(w.lang) if cause else (case.root_cause or "–")),
        ]
        echo_aligned([w("cases.case"), ""], [[w(k), str(v)] for k, v in pairs])
        click.echo("")
        click.echo(w("cases.log"))
        for e in log:
            what = w(f"cases.action.{e['action']}")
            extra = e.get("status_to") or e.get("value") or ""
            if e["action"] == "status" and extra:
                extra = w(f"cases.status.{extra}")
            note = e.get("note") or ""
            line = f"  {w.date(e['happened_at'], 'short')}  {what}  {extra}  {note}"
            click.echo(line.rstrip())


@cases.command("outcomes", help="Recovery (re-survey), first action, SLA, repeat contacts.")
@store_options
@click.option("--by", type=click.Choice(["owner", "rule", "all"]), default="owner")
@lang_option
@output_options
def outcomes_cmd(
    db_path: str | None, journey_config: str | None, by: str, lang: str | None, output: str
) -> None:
    from klantreis.act.outcomes import GroupBy, outcome_table

    with open_app(db_path, journey_config) as app:
        rules = app.case_rules
        group: GroupBy = "rule_id" if by == "rule" else "all" if by == "all" else "owner"
        table = outcome_table(app.store, rules, group, confidence=app.defaults.confidence)
        if output != "table":
            emit(table, output)
            return
        w, names = _words(app, lang)
        headers = [
            w(k)
            for k in (
                "cases.owner" if by != "rule" else "cases.reason",
                "cases.cases",
                "cases.recovered_7",
                "cases.recovered_9",
                "cases.first_action_hours",
                "cases.within_sla",
                "cases.repeat_contact",
            )
        ]
        cells = []
        for r in table:
            if by == "rule":
                name = _rule_name(rules, r["group"], w.lang)
            elif by == "owner":
                name = names.owner(r["group"])
            else:
                name = w("filter.all")
            first = r["first_action_hours"]
            cells.append(
                [
                    name,
                    w.number(r["cases"], 0),
                    _share(w, r["recovered_7"]),
                    _share(w, r["recovered_9"]),
                    "–"
                    if first["median"] is None
                    else w(
                        "cases.hours",
                        median=w.number(first["median"], 1),
                        p90=w.number(first["p90"], 1),
                    ),
                    _share(w, r["within_sla"]),
                    _share(w, r["repeat_contact"]),
                ]
            )
        click.echo(w("cases.outcomes.intro"))
        echo_aligned(headers, cells)


def _share(w: Any, s: dict[str, Any]) -> str:
    if s["value"] is None:
        return "–"
    return (
        f"{w.percent(s['value'] / 100, 0)} [{w.percent(s['ci_low'] / 100, 0)},"
        f" {w.percent(s['ci_high'] / 100, 0)}] n={w.number(s['n'], 0)}"
    )


def register(cli: click.Group) -> None:
    cli.add_command(cases)
