"""`perfsim.engines.distinct.Distinct` reads a column once per distinct object and gives
every object's value in order, as a list comprehension over all of them would."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from perfsim.engines.distinct import Distinct, SectionKeys


class _Box:
    def __init__(self, value: float) -> None:
        self.value = value


@given(
    values=st.lists(st.floats(allow_nan=False), min_size=1, max_size=8),
    picks=st.lists(st.integers(0, 7), max_size=40),
)
def test_column_equals_reading_every_object(values: list[float], picks: list[int]) -> None:
    boxes = [_Box(value) for value in values]
    objects = [boxes[i % len(boxes)] for i in picks]
    reads: list[_Box] = []

    def read(box: _Box) -> float:
        reads.append(box)
        return box.value

    found = Distinct.of(objects).column(read)
    expected = np.array([box.value for box in objects], dtype=np.float64)
    assert found.tobytes() == expected.tobytes()  # the very bits
    assert len(reads) == len({id(box) for box in objects})  # once per distinct object


def test_section_keys_once_per_section_object() -> None:
    calls: list[_Box] = []

    def key_of(box: _Box) -> float:
        calls.append(box)
        return box.value

    keys = SectionKeys(key_of)
    first, second = _Box(1.0), _Box(2.0)
    assert [keys(first), keys(second), keys(first), keys(second)] == [1.0, 2.0, 1.0, 2.0]
    assert calls == [first, second]
    assert keys(_Box(3.0)) == 3.0  # a new object: its own key


@given(
    tables=st.lists(
        st.dictionaries(st.sampled_from("abc"), st.floats(allow_nan=False), max_size=3),
        min_size=1,
        max_size=4,
    ),
    picks=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=30),
    key=st.sampled_from("abc"),
)
def test_entry_equals_reading_every_mapping(
    tables: list[dict[str, float]], picks: list[tuple[int, int]], key: str
) -> None:
    """Objects that share mapping objects: `Distinct.entry` gives each object's entry
    (its default where the mapping lacks the key)."""
    boxes = [_Box(0.0) for _ in range(4)]
    for box, index in zip(boxes, range(4), strict=True):
        box.table = tables[index % len(tables)]  # type: ignore[attr-defined]
    objects = [boxes[i] for i, _ in picks]
    found = Distinct.of(objects).entry("table", key, -1.0)
    expected = np.array([box.table.get(key, -1.0) for box in objects], dtype=np.float64)  # type: ignore[attr-defined]
    assert found.tobytes() == expected.tobytes()
