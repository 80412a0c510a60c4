"""``klantreis outbox ...``: the outbox's state, a delivery run, one message's log, replay.
Thin wrappers over :mod:`klantreis.outbox` (docs/outbox.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from klantreis.cli.options import emit, output_options, settings_from_options, store_options

if TYPE_CHECKING:
    from klantreis.outbox import Outbox

__all__ = ["register"]


@contextmanager
def _outbox(db_path: str | None, journey_config: str | None) -> Iterator[Outbox]:
    from klantreis.outbox import Outbox, RetryPolicy
    from klantreis.store import EventStore

    settings = settings_from_options(db_path=db_path, journey_config=journey_config)
    with EventStore(settings.db_path) as store:
        yield Outbox(store, policy=RetryPolicy.from_settings(settings))


@click.group(help="The outbox: every message klantreis sends (e-mail, webhooks, Web Push).")
def outbox() -> None:
    pass


@outbox.command("status", help="Messages per channel and state (and the held ones).")
@store_options
@output_options
def status(db_path: str | None, journey_config: str | None, output: str) -> None:
    with _outbox(db_path, journey_config) as ob:
        rows = ob.status()
        held = [m.to_dict() for m in ob.held()]
    emit(rows, output, ["channel", "state", "messages", "oldest"], {"held": held} if held else None)


@outbox.command(
    "deliver",
    help="Send every due message now with the configured SMTP server and webhook receiver;"
    " addresses and consent come from the directory.",
)
@store_options
@click.option("--limit", type=int, default=None, help="Send at most this many messages.")
@output_options
def deliver(
    db_path: str | None, journey_config: str | None, limit: int | None, output: str
) -> None:
    from klantreis.act import push
    from klantreis.directory import open_directory
    from klantreis.listen.delivery import sync_from_outbox
    from klantreis.outbox import senders_from_settings
    from klantreis.outbox.configured import push_key
    from klantreis.settings import SettingsError

    settings = settings_from_options(db_path=db_path, journey_config=journey_config)
    with _outbox(db_path, journey_config) as ob, open_directory(settings, signing=False) as d:
        try:
            gone, keys_for = push.forget_endpoint(ob.store), push.keys_for(ob.store)
            senders = senders_from_settings(settings, push=(push_key(settings), keys_for, gone))
        except (SettingsError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        if "email" not in senders:
            click.echo("e-mail is not sent: KLANTREIS_SMTP_HOST is not set", err=True)
        report = ob.deliver_due(senders=senders, lookup=d.lookup, limit=limit)
        sync_from_outbox(ob.store)
    data = report.to_dict()
    reasons = data.pop("reasons")
    emit(
        [{"outcome": k, "messages": v} for k, v in data.items()], output, extra={"reasons": reasons}
    )


@outbox.command("show", help="One message: its state and every delivery attempt.")
@click.argument("message_id")
@store_options
@output_options
def show(message_id: str, db_path: str | None, journey_config: str | None, output: str) -> None:
    with _outbox(db_path, journey_config) as ob:
        found = ob.message(message_id)
        if found is None:
            raise click.ClickException(f"no message {message_id}")
        attempts = [d.to_dict() for d in ob.deliveries(message_id)]
    info = found.to_dict()
    emit(attempts, output, ["attempt", "started_at", "status", "response_code", "error"], info)


@outbox.command(
    "replay",
    help="Queue a failed, not sent or doubtful message again (a sent webhook too). A message"
    " already sent to a customer needs --force.",
)
@click.argument("message_id")
@click.option("--force", is_flag=True, help="Replay even a message the customer got already.")
@store_options
def replay(message_id: str, force: bool, db_path: str | None, journey_config: str | None) -> None:
    from klantreis.outbox import OutboxError

    with _outbox(db_path, journey_config) as ob:
        try:
            stored = ob.replay(message_id, force=force)
        except OutboxError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{stored.message_id}: {stored.state}")


def register(cli: click.Group) -> None:
    cli.add_command(outbox)
