"""``klantreis surveys ...``: check a surveys file, plan invitations from the log, say why a
customer was not asked, hand the due invitations to the outbox, response rates — thin
wrappers around :mod:`klantreis.listen`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from klantreis.cli.options import emit, open_app, output_options, store_options

__all__ = ["register"]


def register(cli: click.Group) -> None:
    cli.add_command(surveys)


@click.group(help="Surveys klantreis sends itself: check, plan, why-not, send-due, rates.")
def surveys() -> None:
    pass


def _surveys_option(func: Any) -> Any:
    return click.option(
        "--surveys",
        "surveys_path",
        default=None,
        help="Surveys TOML (default: KLANTREIS_SURVEYS_PATH, surveys.toml next to the journey"
        " file, or the demo's).",
    )(func)


def _now(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a date/time (e.g. 2026-03-02T10:00)") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _config(app: Any) -> Any:
    from klantreis.model.survey import SurveyConfigError

    try:
        return app.surveys
    except SurveyConfigError as exc:
        raise click.ClickException("\n".join([f"{exc.path}:", *exc.problems])) from None


def _with_surveys(app: Any, surveys_path: str | None) -> Any:
    if surveys_path:
        from dataclasses import replace

        app.settings = replace(
            app.settings,
            surveys_path=surveys_path,
            explicit=app.settings.explicit | {"surveys_path"},
        )
    return _config(app)


@surveys.command("check", help="Check a surveys file (against the journey); list every problem.")
@click.argument("path", required=False)
@click.option("--config", "journey_config", default=None, help="Journey configuration TOML.")
def check(path: str | None, journey_config: str | None) -> None:
    from klantreis.app import default_journey_config, surveys_path
    from klantreis.model.journey import load_journey_config
    from klantreis.model.survey import SurveyConfigError, load_survey_config
    from klantreis.settings import Settings

    journey = load_journey_config(journey_config) if journey_config else default_journey_config()
    if path is None:
        path = str(surveys_path(Settings.load(journey_config=journey_config)))
    try:
        config = load_survey_config(path, journey)
    except SurveyConfigError as exc:
        raise click.ClickException("\n".join([f"{exc.path}:", *exc.problems])) from None
    active = sum(1 for s in config.surveys if s.active)
    click.echo(f"{path}: ok ({len(config.surveys)} surveys, {active} active)")


@surveys.command("plan", help="Plan invitations from the event log (idempotent).")
@store_options
@_surveys_option
@click.option("--now", default=None, help="Plan as of this time (default: now; UTC if no zone).")
@click.option(
    "--since",
    default=None,
    help="Triggers from this time on (default: those whose invitation could still be sent).",
)
@output_options
def plan(
    db_path: str | None,
    journey_config: str | None,
    surveys_path: str | None,
    now: str | None,
    since: str | None,
    output: str,
) -> None:
    from klantreis.listen import triggers

    with open_app(db_path, journey_config, writes=True) as app:
        config = _with_surveys(app, surveys_path)
        results = triggers.plan(
            app.store, config, app.journey, _now(now), _now(since) if since else None
        )
    emit([r.to_dict() for r in results], output)


@surveys.command(
    "why-not", help="Every invitation of one customer, with the reason it was not sent."
)
@click.argument("customer")
@store_options
@output_options
def why_not(db_path: str | None, journey_config: str | None, customer: str, output: str) -> None:
    from klantreis.listen import rules

    with open_app(db_path, journey_config, writes=True) as app:
        rows = rules.why_not(app.store, customer)
    if not rows and output == "table":
        click.echo(f"no invitation was planned for customer {customer}")
        return
    emit(rows, output, ["send_at", "survey_id", "status", "reason", "channel", "journey_id"])


@surveys.command("rates", help="Response rate and non-response with Wilson intervals.")
@store_options
@click.option(
    "--by",
    type=click.Choice(["touchpoint", "owner", "channel", "survey_id"]),
    default="touchpoint",
    show_default=True,
)
@click.option(
    "--origin",
    type=click.Choice(["all", "system", "staff"]),
    default="all",
    show_default=True,
    help="Every invitation, the system-sampled ones only (unbiased) or staff hand-outs only.",
)
@output_options
def rates_cmd(
    db_path: str | None, journey_config: str | None, by: Any, origin: Any, output: str
) -> None:
    from klantreis.listen import rates

    with open_app(db_path, journey_config, writes=True) as app:
        rows = rates.response_rates(app.store, by, app.defaults.confidence, origin).to_pylist()
    emit(rows, output)


@surveys.command(
    "staff-link",
    help="A personal link a staff member hands to CUSTOMER (origin staff: it counts as a"
    " contact for the contact rules and in response rates).",
)
@click.argument("customer")
@click.option("--survey", "survey_id", required=True, help="The survey's id.")
@click.option("--journey", "journey_id", default=None, help="The order/ticket it is about.")
@click.option("--owner", default=None, help="The owner the answers count for.")
@click.option("--lang", default=None, help="The customer's language (default: the survey's).")
@store_options
@_surveys_option
@output_options
def staff_link(
    customer: str,
    survey_id: str,
    journey_id: str | None,
    owner: str | None,
    lang: str | None,
    db_path: str | None,
    journey_config: str | None,
    surveys_path: str | None,
    output: str,
) -> None:
    from klantreis.settings import SettingsError

    with open_app(db_path, journey_config, writes=True) as app:
        _with_surveys(app, surveys_path)
        try:
            link, made = app.staff_link(
                survey_id, customer, journey_id=journey_id, owner=owner, lang=lang
            )
        except (SettingsError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    emit([{"link": link, "new": made.new, "rule_reason": made.rule_reason}], output)


@surveys.command(
    "send-due",
    help="Plan, then hand the due invitations and reminders to the outbox; with --deliver"
    " also send what is due (else the outbox's job or klantreis outbox deliver sends it). The"
    " ledger gets the outbox's outcome (sent, failed, unknown) either way.",
)
@store_options
@_surveys_option
@click.option("--now", default=None, help="Run as of this time (default: now; UTC if no zone).")
@click.option(
    "--deliver",
    is_flag=True,
    default=False,
    help="Send the due messages now with the configured SMTP server / webhook receiver.",
)
@output_options
def send_due(
    db_path: str | None,
    journey_config: str | None,
    surveys_path: str | None,
    now: str | None,
    deliver: bool,
    output: str,
) -> None:
    from klantreis.settings import SettingsError

    with open_app(db_path, journey_config, writes=True) as app:
        _with_surveys(app, surveys_path)
        try:
            report = app.run_surveys(_now(now)).to_dict()
            if deliver:
                delivered = app.deliver_outbox().to_dict()
                report["delivered"] = delivered["sent"]
                report["delivery_failed"] = delivered["failed"] + delivered["not_sent"]
        except (SettingsError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    emit([report], output)
