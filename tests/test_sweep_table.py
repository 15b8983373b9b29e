"""`perfsim.sweep.table.assemble` gives the frame ``pandas.DataFrame(records)`` would, one
record per point ``{"point", "point_id", "design", **inputs, **outputs, "dram_bytes"}``:
the same columns in the same order, values and dtypes, NaN where a point lacks a key,
whatever mix of input keys, blocks and output keys the points have."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.sweep.block import Block
from perfsim.sweep.plan import Point
from perfsim.sweep.table import assemble

_INPUTS = ("hw", "batch", "memory.sram.capacity", "whatif.fusion")
_OUTPUTS = ("latency_s", "traffic_hbm_bytes", "traffic_dram_bytes", "area_mm2", "hw")
_VALUES = st.one_of(st.floats(allow_nan=False), st.integers(-5, 5), st.sampled_from(["a", "b"]))


@st.composite
def _sweeps(draw: Any) -> tuple[list[Point], dict[str, tuple[Block, int]]]:
    count = draw(st.integers(1, 12))
    ids = [f"id{i}" for i in range(count)]
    blocks: list[Block] = []
    finished: dict[str, tuple[Block, int]] = {}
    remaining = list(ids)
    while remaining:  # blocks of a few points each, every block its own output keys
        size = draw(st.integers(1, len(remaining)))
        members, remaining = remaining[:size], remaining[size:]
        keys = draw(st.lists(st.sampled_from(_OUTPUTS), unique=True))
        columns = {key: [draw(_VALUES) for _ in members] for key in keys}
        block = Block(tuple(members), columns)
        blocks.append(block)
        finished.update({point_id: (block, row) for row, point_id in enumerate(members)})
    points = []
    for index, point_id in enumerate(draw(st.permutations(ids))):
        keys = draw(st.lists(st.sampled_from(_INPUTS), unique=True))
        dram = SimpleNamespace(name=draw(st.sampled_from(["hbm", "dram"])))
        hw = SimpleNamespace(memory=(SimpleNamespace(name="sram"), dram), dram=dram)
        inputs = {key: draw(_VALUES) for key in keys}
        points.append(
            Point(index, point_id, inputs, None, "roofline", hw, design=f"d{index}")  # type: ignore[arg-type]
        )
    return points, finished


def _records(points: list[Point], finished: dict[str, tuple[Block, int]]) -> pd.DataFrame:
    records = []
    for point in points:
        block, row = finished[point.point_id]
        outputs = {key: values[row] for key, values in block.columns.items()}
        record = {"point": point.index, "point_id": point.point_id, "design": point.design}
        record.update({**point.inputs, **outputs})
        record["dram_bytes"] = record.get(f"traffic_{point.hw.dram.name}_bytes", 0.0)
        records.append(record)
    return pd.DataFrame(records)


@settings(max_examples=200, deadline=None)
@given(sweep=_sweeps())
def test_assemble_equals_a_frame_of_records(
    sweep: tuple[list[Point], dict[str, tuple[Block, int]]],
) -> None:
    points, finished = sweep
    pd.testing.assert_frame_equal(assemble(points, finished), _records(points, finished))
