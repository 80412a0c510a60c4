"""Column blocks: the generator builds events as numpy arrays per event type ("block") and
turns them into Arrow tables of the canonical schema here, without a Python loop per row.

Categorical columns are given as a constant string, a (vocabulary, codes) pair, an Arrow
array or a list of strings. ``attrs`` are JSON objects assembled with Arrow string kernels
(``json_object``); values come from the helpers ``jnum``, ``jstr``, ``jbool`` and ``jtime``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from klantreis.model.events import EVENT_SCHEMA, conform

__all__ = [
    "Block",
    "BlockContext",
    "assemble",
    "jbool",
    "jnum",
    "json_object",
    "jstr",
    "jtime",
    "take",
]

Cat = tuple[Sequence[str], np.ndarray]
Value = Union[str, Cat, pa.Array, list[Any], None]  # noqa: UP007 (runtime alias)

_TS = pa.timestamp("us", tz="UTC")
_STRING = pa.string()


@dataclass
class Block:
    """Events of one type for the journeys ``order`` (indices into the batch)."""

    kind: Value
    code: str
    order: np.ndarray
    t: np.ndarray
    seq: np.ndarray | None = None
    touchpoint: Value = None
    channel: Value = None
    owner: Value = None
    metric: Value = None
    score: np.ndarray | None = None
    text: Value = None
    lang: Value = None
    attrs: pa.Array | None = None


@dataclass
class BlockContext:
    """Per-batch lookups: journey and customer id of every journey index, the id prefix
    (which includes the seed) and the cut-off time ("now") in microseconds."""

    journey_ids: pa.Array
    customer_ids: pa.Array
    prefix: str
    now_us: int
    tables: list[pa.Table] = field(default_factory=list)


def take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    return values.take(pa.array(idx, pa.int64()))


def _column(value: Value, n: int, typ: pa.DataType = _STRING) -> pa.Array:
    if value is None:
        return pa.nulls(n, typ)
    if isinstance(value, str):
        return pa.repeat(pa.scalar(value, typ), n)
    if isinstance(value, tuple):
        vocab, codes = value
        return pa.array(list(vocab), typ).take(pa.array(codes, pa.int64()))
    if isinstance(value, list):
        return pa.array(value, typ)
    return value


def _to_str(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def block_table(block: Block, ctx: BlockContext) -> pa.Table:
    n = len(block.order)
    journeys = take(ctx.journey_ids, block.order)
    id_parts: list[pa.Array | str] = [ctx.prefix, journeys, "-", block.code]
    if block.seq is not None:
        id_parts.append(_to_str(block.seq))
    cols = {
        "event_id": pc.binary_join_element_wise(*id_parts, ""),
        "occurred_at": pa.array(block.t.astype("int64"), pa.int64()).cast(_TS),
        "customer_id": take(ctx.customer_ids, block.order),
        "journey_id": journeys,
        "kind": _column(block.kind, n),
        "touchpoint": _column(block.touchpoint, n),
        "channel": _column(block.channel, n),
        "owner": _column(block.owner, n),
        "metric": _column(block.metric, n),
        "score": pa.nulls(n, pa.float64())
        if block.score is None
        else pa.array(block.score, pa.float64()),
        "text": _column(block.text, n),
        "lang": _column(block.lang, n),
        "attrs": _column(block.attrs, n),
        "source": pa.repeat(pa.scalar("demo"), n),
        # set on ingest from the row's place after ``assemble`` (ties keep the block order)
        "source_order": pa.nulls(n, pa.int64()),
    }
    return pa.Table.from_pydict(cols, schema=EVENT_SCHEMA)


def assemble(blocks: list[Block], ctx: BlockContext) -> pa.Table:
    """All blocks as one table: events after ``now`` dropped, ordered by journey then time."""
    tables, orders, times = [], [], []
    for block in blocks:
        if len(block.order) == 0:
            continue
        keep = block.t <= ctx.now_us
        tables.append(block_table(block, ctx).filter(pa.array(keep)))
        orders.append(block.order[keep])
        times.append(block.t[keep])
    if not tables:
        return conform(EVENT_SCHEMA.empty_table())
    table = pa.concat_tables(tables)
    order = np.lexsort((np.concatenate(times), np.concatenate(orders)))
    return table.take(pa.array(order, pa.int64()))


# -- JSON value helpers ---------------------------------------------------------------------
def jnum(values: np.ndarray, decimals: int = 2) -> pa.Array:
    return pc.cast(pa.array(np.round(values.astype("float64"), decimals)), pa.string())


def jint(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values.astype("int64")), pa.string())


def jstr(value: Value, n: int) -> pa.Array | str:
    """A JSON string (values must need no escaping: ids and vocabulary words)."""
    if isinstance(value, str):
        return f'"{value}"'
    return pc.binary_join_element_wise('"', _column(value, n), '"', "")


def jbool(mask: np.ndarray) -> pa.Array:
    return pa.array(["false", "true"]).take(pa.array(mask.astype("int64")))


def jtime(t_us: np.ndarray) -> pa.Array:
    """ISO-8601 UTC to the minute: "2026-11-20T17:00:00Z"."""
    ts = pa.array(t_us.astype("int64"), pa.int64()).cast(_TS)
    return pc.binary_join_element_wise('"', pc.strftime(ts, format="%Y-%m-%dT%H:%M"), ':00Z"', "")


def json_object(n: int, **fields: pa.Array | str) -> pa.Array:
    """'{"k1": v1, "k2": v2}' for every row; values are JSON texts (see the helpers)."""
    parts: list[pa.Array | str] = ["{"]
    for i, (key, value) in enumerate(fields.items()):
        parts.append(("" if i == 0 else ", ") + f'"{key}": ')
        parts.append(value)
    parts.append("}")
    if all(isinstance(p, str) for p in parts):
        return pa.repeat(pa.scalar("".join(p for p in parts if isinstance(p, str))), n)
    return pc.binary_join_element_wise(*parts, "")
