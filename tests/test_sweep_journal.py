"""The sweep journal: blocks of finished points as bytes, records, torn tails, old files.

- a `Block` encodes and decodes to the very values (doubles bit for bit, ints exactly,
  anything else through JSON), and `blocks_of` splits rows by their keys;
- `read_journal` keeps whole records up to the first torn or garbled one, `trim_journal`
  drops the rest so appended records are read back;
- a journal of an earlier perfsim (``points.jsonl``) is refused with one line.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfsim.errors import PerfsimError
from perfsim.sweep.block import Block, blocks_of, by_id, decode, encode
from perfsim.sweep.store import (
    JOURNAL,
    OLD_JOURNAL,
    append_journal,
    read_journal,
    trim_journal,
)

_VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)


def _same(a: list[object], b: list[object]) -> bool:
    """Equal values of equal types; floats bit for bit (any NaN equal to any NaN)."""
    return all(
        type(x) is type(y)
        and (
            (x != x and y != y) or struct.pack("<d", x) == struct.pack("<d", y)
            if isinstance(x, float)
            else x == y
        )
        for x, y in zip(a, b, strict=True)
    )


@given(st.lists(st.tuples(st.floats(allow_nan=True), st.integers(-(2**63), 2**63 - 1), _VALUE)))
def test_a_block_decodes_to_its_values(rows: list[tuple[float, int, object]]) -> None:
    ids = tuple(f"p{i}" for i in range(len(rows)))
    columns = {name: [row[i] for row in rows] for i, name in enumerate(("f", "i", "any"))}
    found = decode(encode(Block(ids, columns)))
    assert found.ids == ids and list(found.columns) == ["f", "i", "any"]
    for name, values in columns.items():
        assert _same(found.columns[name], values), name


def test_rows_with_other_keys_make_another_block() -> None:
    rows = [
        {"point_id": "a", "latency_s": 1.0},
        {"point_id": "b", "latency_s": 2.0, "cycles": 5},
        {"point_id": "c", "latency_s": 3.0},
    ]
    first, second = blocks_of(rows)
    assert first == Block(("a", "c"), {"latency_s": [1.0, 3.0]})
    assert second == Block(("b",), {"latency_s": [2.0], "cycles": [5]})
    assert by_id([first, second])["c"] == (first, 1)


def test_a_torn_record_ends_the_journal_and_is_trimmed(tmp_path: Path) -> None:
    first = Block(("a", "b"), {"latency_s": [1.0, 2.0]})
    second = Block(("c",), {"latency_s": [3.0]})
    append_journal(tmp_path, [first])
    whole = (tmp_path / JOURNAL).read_bytes()
    append_journal(tmp_path, [second])
    path = tmp_path / JOURNAL
    path.write_bytes(path.read_bytes()[:-3])  # killed while writing the second record
    journal = read_journal(tmp_path)
    assert journal.blocks == (first,) and journal.size == len(whole)
    trim_journal(tmp_path, journal.size)
    append_journal(tmp_path, [second])
    assert read_journal(tmp_path).finished() == {"a": (first, 0), "b": (first, 1), "c": (second, 0)}


def test_a_garbled_record_ends_the_journal(tmp_path: Path) -> None:
    block = Block(("a",), {"latency_s": [1.0]})
    append_journal(tmp_path, [block, block])
    data = bytearray((tmp_path / JOURNAL).read_bytes())
    data[-1] ^= 0xFF  # the second record's last byte: its checksum no longer matches
    (tmp_path / JOURNAL).write_bytes(bytes(data))
    assert read_journal(tmp_path).blocks == (block,)


def test_a_journal_of_an_earlier_perfsim_is_refused(tmp_path: Path) -> None:
    (tmp_path / OLD_JOURNAL).write_text('{"point_id": "a", "latency_s": 1.0}\n')
    with pytest.raises(
        PerfsimError, match=re.escape("points.jsonl: a journal of an earlier perfsim")
    ):
        read_journal(tmp_path)
