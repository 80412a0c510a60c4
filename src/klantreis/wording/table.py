"""Tables a person reads in a terminal (the CLI's read commands' tables): worded
column headers, names of configured things instead of ids, locale numbers, "ja"/"nee", test
names, steps by name, durations in words, dates, and the colour of a change (green better, red worse, only when significant; CES
lower is better). JSON and CSV keep the ids and raw numbers; only tables are worded.

>>> from klantreis.app import default_journey_config
>>> from klantreis.wording.core import Wording
>>> names = Names(default_journey_config(), Wording("nl"))
>>> headers, rows = worded_table(
...     [{"owner": "carrier:vlotbezorgd", "metric": "ces", "n": 1240, "value": 3.456}], names
... )
>>> headers, rows
(['Eigenaar', 'Maat', 'n', 'Waarde'], [['VlotBezorgd', 'CES', '1.240', '3,46']])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from klantreis.wording.names import Names
from klantreis.wording.stats import test_label

__all__ = ["change_colour", "table_cell", "table_header", "worded_table"]

#: Columns whose values are ids of configured things, and the dimension that names them.
NAMED_COLUMNS = {
    "touchpoint": "touchpoint",
    "stage": "stage",
    "owner": "owner",
    "from_owner": "owner",
    "to_owner": "owner",
    "group": "owner",
    "channel": "channel",
    "metric": "metric",
    "segment": "segment",
    "attrs.segment": "segment",
    "kind": "kind",
    "promise_id": "promise",
    "condition": "condition",
    "reason": "reason",
}
#: Columns holding journey steps (event kinds or touchpoints).
STEP_COLUMNS = ("source", "target", "activity", "variant")
#: Columns of minutes, shown as a duration ("13 dagen"); ``*_s`` columns are seconds.
MINUTE_COLUMNS = ("minutes_late", "mean_minutes_late")
#: Columns of a status word, and the catalogue prefix that words them.
STATUS_COLUMNS = {"status": "journeys.status", "outcome": "col.outcome"}
#: Columns shown with this many decimals (others: 2 for fractions, 0 for whole numbers).
DECIMALS = {"p_value": 4, "n": 0, "n_previous": 0, "contacts": 0, "journeys": 0}


def table_header(column: str, names: Names) -> str:
    """``ci_low`` -> "Ondergrens"; a column without a catalogue word keeps its name."""
    key = f"col.{column}"
    return names.w(key) if names.w.has(key) else column


def table_cell(column: str, value: Any, names: Names, too_few: str | None = None) -> str:
    """One value as a person reads it, in the names' language; a hidden value (None) reads
    as the ``too_few`` catalogue key when given ("too few answers", "no answers")."""
    w = names.w
    if value is None:
        return w(too_few) if too_few else "–"
    if isinstance(value, bool):
        return w("word.yes") if value else w("word.no")
    if column == "test":
        return test_label(str(value), w)
    if isinstance(value, list):
        return " > ".join(_list_item(v, names) for v in value)
    if column in STEP_COLUMNS and isinstance(value, str):
        return step_name(value, names)
    if column in NAMED_COLUMNS and isinstance(value, str):
        return names(NAMED_COLUMNS[column], value)
    if column in STATUS_COLUMNS and isinstance(value, str):
        key = f"{STATUS_COLUMNS[column]}.{value}"
        return w(key) if w.has(key) else value
    if isinstance(value, int | float) and column in MINUTE_COLUMNS:
        return w.duration(value)
    if isinstance(value, int | float) and column.endswith("_s"):
        return w.duration(value / 60)
    if isinstance(value, datetime):
        return w.date(value, "short")
    if isinstance(value, int):
        return w.number(value, 0)
    if isinstance(value, float):
        digits = DECIMALS.get(column, 0 if value.is_integer() and column.endswith("_n") else 2)
        return w.number(value, digits)
    return str(value)


def step_name(step: str, names: Names) -> str:
    """A journey step: a configured touchpoint by its name, else an event kind's name."""
    if any(tp.id == step for tp in names.journey.touchpoints):
        return names("touchpoint", step)
    return names("kind", step)


def _list_item(value: Any, names: Names) -> str:
    if isinstance(value, Mapping) and "activity" in value:  # start/end steps with a count
        count = value.get("count")
        text = step_name(str(value["activity"]), names)
        return f"{text} {names.w.number(count, 0)}" if count is not None else text
    return step_name(value, names) if isinstance(value, str) else str(value)


def _too_few(row: Mapping[str, Any], column: str) -> str | None:
    """Why ``column``'s value is hidden: "scores.no_answers" (n = 0), "scores.too_few", or
    None when it is not hidden for too few answers."""
    if column in ("value", "diff"):  # the bounds of a hidden value are just "–"
        hidden, n = row.get("too_few") is True, row.get("n")
    else:
        prefix = column.split("_")[0]
        hidden = column in ("nps", "ces") and row.get(f"{prefix}_too_few") is True
        n = row.get(f"{prefix}_n")
    if not hidden:
        return None
    return "scores.no_answers" if n == 0 else "scores.too_few"


def change_colour(row: Mapping[str, Any]) -> str | None:
    """ "green" or "red" for the ``diff`` of a significant change (CES: lower is better),
    None for noise or no change."""
    diff = row.get("diff")
    if not row.get("significant") or not isinstance(diff, int | float) or diff == 0:
        return None
    better = diff < 0 if row.get("metric") == "ces" else diff > 0
    return "green" if better else "red"


def worded_table(
    rows: Sequence[Mapping[str, Any]], names: Names, columns: Sequence[str] | None = None
) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of ``rows`` (``columns`` or the first row's keys, without the
    ``too_few`` flags and standard errors they are shown through)."""
    if columns is None:
        columns = [
            c for c in (rows[0] if rows else {}) if not c.endswith("too_few") and c != "std_error"
        ]
    headers = [table_header(c, names) for c in columns]
    cells = [[table_cell(c, r.get(c), names, _too_few(r, c)) for c in columns] for r in rows]
    return headers, cells
