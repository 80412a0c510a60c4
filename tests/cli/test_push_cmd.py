"""``klantreis push keys`` prints a usable VAPID key pair."""

from __future__ import annotations

from click.testing import CliRunner

from klantreis.cli.main import cli
from klantreis.outbox.vapid import VapidKey


def test_push_keys_prints_a_pair_that_belongs_together() -> None:
    result = CliRunner().invoke(cli, ["push", "keys"])
    assert result.exit_code == 0, result.output
    first, second = result.output.strip().splitlines()
    private = first.removeprefix("KLANTREIS_PUSH_VAPID_PRIVATE_KEY=")
    public = second.rsplit(" ", 1)[1]
    assert VapidKey.from_text(private, "mailto:a@b.example").public_text == public
    again = CliRunner().invoke(cli, ["push", "keys"]).output
    assert private not in again  # a new pair each time
