"""A sweep's results table: its points' inputs and finished outputs, column by column, and
the derived metrics and feasibility (`derive`).

`assemble` gives the frame ``pandas.DataFrame(records)`` would, with one record per point
``{"point", "point_id", "design", **inputs, **outputs, "dram_bytes"}``: the same columns
in the same order (each key where it first appears), the same values and dtypes (a key a
point lacks is NaN), but gathered a column at a time from the finished `Block`s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from perfsim.errors import SpecError
from perfsim.sweep.block import Block
from perfsim.sweep.expr import parse_expression
from perfsim.sweep.plan import Point
from perfsim.sweep.spec import SweepSpec

if TYPE_CHECKING:
    import pandas as pd

_ABSENT = object()  # a key a point's outputs lack (NaN in the table, as pandas fills it)


def _gather(values: Sequence[Any], order: Sequence[int]) -> list[Any]:
    """``[values[i] for i in order]`` (one C-level call: a sweep gathers ~50 columns)."""
    if len(order) == 1:
        return [values[order[0]]]
    return list(itemgetter(*order)(values)) if order else []


def assemble(points: Sequence[Point], finished: Mapping[str, tuple[Block, int]]) -> pd.DataFrame:
    """The table of ``points`` (every one finished: ``finished[id] = (block, row)``)."""
    import pandas as pd

    located = [finished[point.point_id] for point in points]
    blocks: dict[int, Block] = {}
    for block, _ in located:
        blocks.setdefault(id(block), block)
    starts: dict[int, int] = {}  # each block's first row in the blocks laid end to end
    offset = 0
    for block_id, block in blocks.items():
        starts[block_id] = offset
        offset += len(block)
    order = [starts[id(block)] + row for block, row in located]  # each point's row there
    inputs = [point.inputs for point in points]
    shapes = dict.fromkeys(
        zip(map(tuple, inputs), [id(block) for block, _ in located], strict=True)
    )
    keys: dict[str, None] = dict.fromkeys(("point", "point_id", "design"))
    for names, block_id in shapes:  # each key where a record first has it
        keys.update(dict.fromkeys((*names, *blocks[block_id].columns, "dram_bytes")))
    fixed: dict[str, list[Any]] = {
        "point": [p.index for p in points],
        "point_id": [p.point_id for p in points],
        "design": [p.design for p in points],
    }
    input_keys = {key for names, _ in shapes for key in names}
    outputs = {key for block in blocks.values() for key in block.columns}
    # keys some point lacks (only their columns can hold _ABSENT)
    input_gaps = {key for names, _ in shapes for key in input_keys.difference(names)}
    output_gaps = {key for block in blocks.values() for key in outputs.difference(block.columns)}
    columns: dict[str, list[Any]] = {}
    gaps: set[str] = set()
    for key in keys:  # a record's later source overrides an earlier one: outputs last
        values = fixed.get(key)
        gap = values is None
        if key in input_keys:
            if key in input_gaps:
                values = _over(values, [found.get(key, _ABSENT) for found in inputs])
            else:
                values = _over(values, list(map(itemgetter(key), inputs)))
                gap = False
        if key in outputs:
            laid = list(
                chain.from_iterable(b.columns.get(key, [_ABSENT] * len(b)) for b in blocks.values())
            )
            values = _over(values, _gather(laid, order))
            gap = gap and key in output_gaps
        if values is not None:
            columns[key] = values
            if gap:
                gaps.add(key)
    columns["dram_bytes"] = _dram_bytes(points, columns, gaps)
    nan = float("nan")
    for key in gaps:
        values = columns[key]
        if _ABSENT in values:  # floats and strings never equal it: only itself matches
            columns[key] = [nan if value is _ABSENT else value for value in values]
    return pd.DataFrame({key: columns[key] for key in keys})


def _over(below: list[Any] | None, above: list[Any]) -> list[Any]:
    """``above``, where it has a value, over ``below``."""
    if below is None:
        return above
    return [b if a is _ABSENT else a for b, a in zip(below, above, strict=True)]


def _dram_bytes(
    points: Sequence[Point], columns: Mapping[str, list[Any]], gaps: set[str]
) -> list[Any]:
    """Each point's traffic to its device's farthest level (0 where it has none); ``gaps``:
    the columns that may lack a point's value."""
    levels = [point.hw.memory[-1].name for point in points]
    distinct = set(levels)
    if len(distinct) == 1:  # one memory layout: the column itself
        name = f"traffic_{distinct.pop()}_bytes"
        if name not in columns:
            return [0.0] * len(points)
        if name not in gaps:
            return list(columns[name])
    names = [f"traffic_{level}_bytes" for level in levels]
    out = []
    for index, name in enumerate(names):
        value = columns[name][index] if name in columns else _ABSENT
        out.append(0.0 if value is _ABSENT else value)
    return out


def derive(frame: pd.DataFrame, spec: SweepSpec) -> pd.DataFrame:
    """Add the built-in derived metrics, the spec's own metrics, and ``feasible``.

    Built in: ``energy_per_inference_j = energy_j / batch``, ``avg_power_w = energy_j /
    latency_s``, ``perf_per_w = throughput_samples_per_s / avg_power_w`` (inferences per
    joule), ``flops_utilization = achieved_flops_per_s / peak_flops_per_s``.
    """
    import pandas as pd

    frame = frame.copy()
    # a file without an area estimate gives None: NaN, so an area budget is simply not met
    for column in ("area_mm2", "perf_per_mm2"):
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column])
    frame["energy_per_inference_j"] = frame["energy_j"] / frame["batch"]
    frame["avg_power_w"] = frame["energy_j"] / frame["latency_s"]
    frame["perf_per_w"] = frame["throughput_samples_per_s"] / frame["avg_power_w"]
    frame["flops_utilization"] = frame["achieved_flops_per_s"] / frame["peak_flops_per_s"]
    where = spec.source or spec.name
    for name, text in spec.metrics.items():
        expression = parse_expression(text, f"{where}: metrics.{name}")
        frame[name] = _evaluate(expression, frame, f"{where}: metrics.{name}")
    feasible = frame["latency_s"] == frame["latency_s"]  # all True, same index
    for index, text in enumerate(spec.constraints):
        expression = parse_expression(text, f"{where}: constraints[{index}]")
        feasible &= _evaluate(expression, frame, f"{where}: constraints[{index}]").astype(bool)
    frame["feasible"] = feasible
    return frame


def _evaluate(expression: Any, frame: pd.DataFrame, where: str) -> Any:
    import pandas as pd

    missing = sorted(name for name in expression.names if name not in frame.columns)
    if missing:
        raise SpecError(
            f"{where}: unknown column {missing[0]!r}; "
            f"columns are {', '.join(map(str, frame.columns))}"
        )
    value = expression({name: frame[name] for name in expression.names})
    return value if isinstance(value, pd.Series) else pd.Series(value, index=frame.index)


def check_expressions(spec: SweepSpec) -> None:
    """Parse every metric and constraint up front (names are checked once the table exists)."""
    where = spec.source or spec.name
    for name, text in spec.metrics.items():
        parse_expression(text, f"{where}: metrics.{name}")
    for index, text in enumerate(spec.constraints):
        parse_expression(text, f"{where}: constraints[{index}]")
