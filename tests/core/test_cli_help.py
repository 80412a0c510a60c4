"""Every CLI command has help text, and every top-level command is in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from klantreis.cli.main import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def walk(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    out = []
    commands = group.load_all() if hasattr(group, "load_all") else group.commands
    for name, cmd in sorted(commands.items()):
        out.append(((*prefix, name), cmd))
        if isinstance(cmd, click.Group):
            out += walk(cmd, (*prefix, name))
    return out


COMMANDS = walk(cli)


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_command_has_help(path: tuple[str, ...], cmd: click.Command) -> None:
    assert (cmd.help or cmd.short_help or "").strip(), f"klantreis {' '.join(path)} has no help"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize("name", sorted(cli.load_all()))
def test_top_level_command_is_documented(name: str) -> None:
    assert f"klantreis {name}" in README.read_text(encoding="utf-8")


def test_config_check_reports_problems(tmp_path: Path) -> None:
    bad = tmp_path / "j.toml"
    bad.write_text('[[stages]]\nid = "x"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["config", "check", str(bad)])
    assert result.exit_code == 1
    assert "name_nl" in result.output
