"""Finished points column by column: a `Block` per batch, and its bytes in the journal.

A batch of finished points is a few thousand rows of the same 50-60 keys, nearly all of
them floats. Kept as columns, a batch goes to the journal as raw IEEE-754 doubles (no
float is turned into text until the final table is written) and the table is assembled a
column at a time (`perfsim.sweep.table`) instead of a dict per point.

A block's bytes (`encode`, `decode`): a JSON header (the point ids, and per column its
name and kind) followed by one little-endian 8-byte array per ``f8`` (every value a
Python float) or ``i8`` (every value an int within int64) column; any other column
(strings, None, bools, mixed kinds) travels inside the header as a JSON list. Decoding
gives back the very values: doubles bit for bit, ints exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True, slots=True)
class Block:
    """Finished points that share their output keys: ``columns[key][i]`` is point
    ``ids[i]``'s value of ``key`` (the keys in the order the rows had them)."""

    ids: tuple[str, ...]
    columns: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.ids)


def blocks_of(rows: Sequence[Mapping[str, Any]]) -> list[Block]:
    """Rows ``{"point_id": ..., <outputs>}`` as blocks, one per distinct key sequence
    (a batch mixing engines has two); ``point_id`` becomes the block's ids."""
    blocks = []
    for _, columns in grouped_rows(rows):
        ids = columns.pop("point_id")
        blocks.append(Block(tuple(ids), columns))
    return blocks


def grouped_rows(rows: Sequence[Mapping[str, Any]]) -> list[tuple[list[int], dict[str, list[Any]]]]:
    """Rows as columns, one group per distinct key sequence (in order of first appearance):
    each group's row indices and ``{key: [value per row]}``."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(tuple(row), []).append(index)
    return [
        (members, {key: [rows[i][key] for i in members] for key in keys})
        for keys, members in groups.items()
    ]


def by_id(blocks: Iterable[Block]) -> dict[str, tuple[Block, int]]:
    """Each point id of ``blocks`` → its block and row there (a later block wins)."""
    found: dict[str, tuple[Block, int]] = {}
    for block in blocks:
        found.update((point_id, (block, row)) for row, point_id in enumerate(block.ids))
    return found


def _kind(values: list[Any]) -> str:
    """How a column is stored: ``f8``, ``i8`` or ``json`` (see the module docstring)."""
    kinds = set(map(type, values))
    if kinds == {float}:
        return "f8"
    if kinds == {int} and _INT64[0] <= min(values) and max(values) <= _INT64[1]:
        return "i8"
    return "json"


def encode(block: Block) -> bytes:
    """The block as bytes: a 4-byte header length, the JSON header, the arrays."""
    described: list[list[Any]] = []
    arrays: list[bytes] = []
    for name, values in block.columns.items():
        kind = _kind(values) if values else "json"
        if kind == "json":
            described.append([name, kind, values])
        else:
            described.append([name, kind])
            arrays.append(np.array(values, dtype="<" + kind).tobytes())
    header = json.dumps({"ids": block.ids, "columns": described}).encode()
    return len(header).to_bytes(4, "little") + header + b"".join(arrays)


def decode(data: bytes) -> Block:
    """The block `encode` wrote (ValueError, KeyError or TypeError on other bytes)."""
    size = int.from_bytes(data[:4], "little")
    header = json.loads(data[4 : 4 + size])
    ids = tuple(header["ids"])
    offset = 4 + size
    columns: dict[str, list[Any]] = {}
    for name, kind, *values in header["columns"]:
        if kind == "json":
            columns[name] = list(values[0])
            continue
        width = 8 * len(ids)
        chunk = data[offset : offset + width]
        if len(chunk) != width:
            raise ValueError("a column is cut short")
        columns[name] = np.frombuffer(chunk, dtype="<" + kind).tolist()
        offset += width
    if offset != len(data) or any(len(v) != len(ids) for v in columns.values()):
        raise ValueError("columns and ids disagree")
    return Block(ids, columns)
