"""Sweep specs: validation errors, expansion (grid / zip / random / lhs), overrides, expressions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.errors import SpecError
from perfsim.hardware.spec import HardwareSpec
from perfsim.sweep import expand, load_sweep_spec, override, override_many, parse_expression, plan
from perfsim.sweep.sampling import Range, grid, latin_hypercube, random_points, zipped

BASE = "version: 1\nname: t\nbase: {model: bert-tiny, hw: npu}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("axes: {}\n", "axes: Dictionary should have at least 1 item"),
        ("axes: {matrix.rows: []}\n", "axes: axis 'matrix.rows' has no values"),
        ("axes: {matrix.rows: 64}\n", "axes: axis 'matrix.rows': expected a list of values"),
        ("axes: {matrix.rows: [64]}\nfoo: 1\n", "foo: unknown key"),
        ("axes: {matrix.rows: [64]}\naxes: {clock: [1]}\n", "axes: duplicate key at line"),
        (
            "axes: {matrix.rows: {min: 1, max: 4}}\n",
            "axes.matrix.rows: a min/max range needs sampling.method random or lhs",
        ),
        (
            "axes: {matrix.rows: [64]}\nsampling: {method: lhs}\n",
            "sampling.samples: lhs needs a number of samples",
        ),
        (
            "axes: {matrix.rows: [64, 128], clock: ['1 GHz']}\nsampling: {method: zip}\n",
            "axes: zip needs equal lengths",
        ),
        (
            "axes: {matrix.rows: [64, 128], matrix.cols: [1]}\nzip: [[matrix.rows, matrix.cols]]\n",
            "zip[0]: axes of unequal lengths",
        ),
        ("axes: {matrix.rows: [64]}\nzip: [[nope]]\n", "zip[0]: 'nope' is not an axis"),
        ("axes: {matrix.rows: [64]}\nsampling: {method: sobol}\n", "sampling.method"),
    ],
)
def test_spec_errors_name_file_and_field(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, BASE + body)
    with pytest.raises(SpecError) as error:
        load_sweep_spec(path)
    text = str(error.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    assert message in text


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        (
            "{matrix.rowz: [64]}",
            "axes.matrix.rowz: unknown hardware field 'rowz' under compute.matrix",
        ),
        ("{memory.l9.capacity: ['1 MiB']}", "no memory level 'l9'; levels are vmem, hbm"),
        (
            "{memory.sram.capacity: ['-1 MiB']}",
            "memory.sram.capacity='-1 MiB': rejected by the hardware schema",
        ),
        ("{memory.sram.capacity: ['16 GHz']}", "expected a bytes like"),
        (
            "{matrix.rows: [0]}",
            "matrix.rows=0: rejected by the hardware schema at compute.matrix.rows",
        ),
        ("{clock: ['1 GB']}", "clock='1 GB'"),
        ("{model: [bert-nope]}", "(model='bert-nope'): --model: unknown model 'bert-nope'"),
        ("{precision: [int4]}", "npu: compute: no int4 support"),
        ("{engine: [warp]}", "unknown engine 'warp'"),
        ("{memory: [1]}", "names a section, not a value"),
    ],
)
def test_invalid_points_name_axis_and_value(tmp_path: Path, axes: str, message: str) -> None:
    spec = load_sweep_spec(write(tmp_path, BASE + f"axes: {axes}\n"))
    with pytest.raises(SpecError) as error:
        plan(spec)
    text = str(error.value)
    assert text.startswith(f"{spec.source}: point 0 (") and "\n" not in text
    assert message in text


def test_grid_counts_order_and_zip_groups() -> None:
    points = grid({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(points) == 6
    assert points[:2] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}]  # last axis fastest
    zipped_grid = grid({"r": [64, 128], "c": [64, 128], "s": [1, 2, 3]}, groups=[["r", "c"]])
    assert len(zipped_grid) == 2 * 3
    assert all(point["r"] == point["c"] for point in zipped_grid)
    assert list(zipped_grid[0]) == ["r", "c", "s"]
    assert zipped({"a": [1, 2, 3], "b": [4, 5, 6]}) == [
        {"a": 1, "b": 4},
        {"a": 2, "b": 5},
        {"a": 3, "b": 6},
    ]


def test_random_and_lhs_are_seeded_and_in_range() -> None:
    axes = {
        "bw": Range(1e11, 1e12, log=True),
        "rows": Range(16, 256, integer=True),
        "m": ["a", "b"],
    }
    first = random_points(axes, 50, seed=7)
    assert first == random_points(axes, 50, seed=7)
    assert first != random_points(axes, 50, seed=8)
    lhs = latin_hypercube(axes, 40, seed=3)
    assert lhs == latin_hypercube(axes, 40, seed=3) and len(lhs) == 40
    for point in first + lhs:
        assert 1e11 <= point["bw"] <= 1e12
        assert isinstance(point["rows"], int) and 16 <= point["rows"] <= 256
    # each of the 40 strata of a linear axis holds exactly one sample
    lhs_linear = latin_hypercube({"u": Range(0.0, 1.0)}, 40, seed=1)
    strata = sorted(int(point["u"] * 40) for point in lhs_linear)
    assert strata == list(range(40))
    # a list axis over 40 strata: each of two values 20 times
    assert sum(point["m"] == "a" for point in lhs) == 20


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 60), st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_lhs_uses_every_stratum_once(samples: int, seed: int, dims: int) -> None:
    axes = {f"x{i}": Range(0.0, 1.0) for i in range(dims)}
    points = latin_hypercube(axes, samples, seed)
    for name in axes:
        strata = sorted(math.floor(point[name] * samples) for point in points)
        assert strata == list(range(samples))


def test_spec_expansion_counts(tmp_path: Path) -> None:
    spec = load_sweep_spec(
        write(
            tmp_path,
            BASE
            + "axes:\n  matrix.rows: [64, 128]\n  matrix.cols: [64, 128]\n"
            + "  memory.dram.bandwidth: ['300 GB/s', '600 GB/s', '1.2 TB/s']\n"
            + "zip: [[matrix.rows, matrix.cols]]\n",
        )
    )
    assert len(expand(spec)) == 6
    lhs = load_sweep_spec(
        write(
            tmp_path,
            BASE
            + "axes:\n  memory.dram.bandwidth: {min: '100 GB/s', max: '2 TB/s', log: true}\n"
            + "  matrix.rows: {min: 32, max: 256, integer: true}\n"
            + "sampling: {method: lhs, samples: 12, seed: 5}\n",
        )
    )
    points = plan(lhs)
    assert len(points) == 12
    assert [p.point_id for p in points] == [p.point_id for p in plan(lhs)]
    for point in points:
        assert 1e11 <= point.hw.dram.bandwidth <= 2e12
        assert point.inputs["memory.dram.bandwidth"] == point.hw.dram.bandwidth


def test_override_is_pure_and_validated(npu: HardwareSpec) -> None:
    before = npu.model_dump()
    bigger = override(npu, "memory.sram.capacity", "32 MiB")
    assert bigger.memory[0].capacity == 32 * 2**20
    assert npu.model_dump() == before  # the shared spec is untouched
    assert override(npu, "memory.dram.bandwidth", 1.2e12).dram.bandwidth == 1.2e12  # SI number
    assert override(npu, "clock", "2 GHz").compute.clock == 2e9
    assert override(npu, "memory.hbm.bandwidth", "1 TB/s").dram.bandwidth == 1e12
    # a systolic array's MACs per cycle follow rows x cols: 256 x 128 = 2 x 16384
    wide = override(npu, "matrix.rows", 256)
    assert wide.compute.matrix is not None
    # (fp32 runs as one bf16 pass, `fp32_as`, so it follows bf16)
    assert wide.compute.matrix.macs_per_cycle == {"bf16": 32768.0, "int8": 32768.0, "fp32": 32768.0}
    assert wide.matrix_peak_flops("bf16") == 2 * npu.matrix_peak_flops("bf16")
    # unless the sweep sets them itself
    fixed = override_many(npu, {"matrix.rows": 256, "matrix.macs_per_cycle.bf16": 100})
    assert fixed.compute.matrix is not None
    assert fixed.compute.matrix.macs_per_cycle["bf16"] == 100
    with pytest.raises(SpecError, match=r"matrix\.rows=-4: rejected by the hardware schema"):
        override(npu, "matrix.rows", -4)


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("on_chip_bytes <= 64 MiB", {"on_chip_bytes": 2**26}, True),
        ("on_chip_bytes < 64 MiB", {"on_chip_bytes": 2**26}, False),
        ("latency_s * 1e3", {"latency_s": 0.002}, 2.0),
        ("memory.vmem.capacity / 1 MiB", {"memory.vmem.capacity": 2**24}, 16.0),
        ("max(a, b, 3) - min(a, b)", {"a": 1, "b": 2}, 2),
        ("a > 1 and not b > 1 or a == 0", {"a": 2, "b": 1}, True),
        ("1 < a <= 3", {"a": 3}, True),
        ("bw >= 1.2 TB/s", {"bw": 1.2e12}, True),
        ("latency_s < 2 ms", {"latency_s": 0.001}, True),
        ("sqrt(x) + log10(y) + -x", {"x": 4.0, "y": 100.0}, 0.0),
    ],
)
def test_expressions(text: str, values: dict[str, float], expected: object) -> None:
    assert parse_expression(text, "t")(values) == expected


def test_expressions_evaluate_columnwise() -> None:
    result = parse_expression("x <= 2 and y > 0", "t")(
        {"x": np.array([1, 2, 3]), "y": np.array([1, 0, 1])}
    )
    assert result.tolist() == [True, False, False]


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "x.__class__",
        "open('f')",
        "x[0]",
        "lambda: 1",
        "'text'",
        "[1, 2]",
        "x if y else z",
        "min(x, key=y)",
        "",
        "x +",
    ],
)
def test_expressions_reject_everything_else(text: str) -> None:
    with pytest.raises(SpecError, match=r"^s\.yaml: metrics\.m: "):
        parse_expression(text, "s.yaml: metrics.m")


@settings(max_examples=50, deadline=None)
@given(
    low=st.floats(1e-3, 1e12),
    scale=st.floats(1.001, 1e6),
    log=st.booleans(),
    integer=st.booleans(),
    fractions=st.lists(st.floats(0.0, 1.0, exclude_max=True), max_size=30),
)
def test_range_column_equals_at_per_value(
    low: float, scale: float, log: bool, integer: bool, fractions: list[float]
) -> None:
    """`Range.column` (the logs of the bounds taken once) gives `Range.at`'s values."""
    axis = Range(low, low * scale, log, integer)
    found = axis.column(fractions)
    assert found == [axis.at(u) for u in fractions]
    assert [type(value) for value in found] == [type(axis.at(u)) for u in fractions]
