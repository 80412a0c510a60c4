"""``klantreis push ...``: Web Push helpers. ``push keys`` prints a new VAPID key pair for
``KLANTREIS_PUSH_VAPID_PRIVATE_KEY`` (docs/act.md, "Web Push")."""

from __future__ import annotations

import click

__all__ = ["register"]


@click.group(help="Web Push: alerts to the installed app on a phone or to a browser.")
def push() -> None:
    pass


@push.command(
    "keys",
    help="Print a new VAPID key pair: set the private key as KLANTREIS_PUSH_VAPID_PRIVATE_KEY"
    " (a secret); browsers subscribe with the public key, which the server derives itself.",
)
def keys() -> None:
    from klantreis.outbox.vapid import new_key

    key = new_key()
    click.echo(f"KLANTREIS_PUSH_VAPID_PRIVATE_KEY={key.private_text}")
    click.echo(f"# public key (applicationServerKey): {key.public_text}")


def register(cli: click.Group) -> None:
    cli.add_command(push)
