"""What the TOML files (journey configuration, contact taxonomy, mapping files) share: an
error listing every problem, and parsing plus pydantic validation with readable messages."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["ConfigFileError", "parse_toml_model", "validation_messages"]

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(ValueError):
    """A file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


def validation_messages(err: ValidationError) -> list[str]:
    """One ``where: what`` line per pydantic error."""
    out = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        out.append(f"{where}: {msg}" if where else msg)
    return out


def parse_toml_model(
    text: str,
    path: str,
    model: type[M],
    error: type[ConfigFileError],
    prepare: Callable[[dict[str, Any]], None] | None = None,
    messages: Callable[[ValidationError], list[str]] = validation_messages,
) -> M:
    """Parse TOML ``text`` and validate it as ``model``; ``error`` lists every problem.
    ``prepare`` may rewrite the parsed data in place before validation."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(path, [f"not valid TOML: {exc}"]) from exc
    if prepare is not None:
        prepare(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(path, messages(exc)) from exc
