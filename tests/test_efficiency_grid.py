"""GEMM efficiency over shape (``compute.matrix.efficiency_grid``): the log-log lookup by
hand, the schema, both engines costing a GEMM with it, and `perfsim calibrate` writing it
(injected timer: no real timing asserted)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_calibrate_eager import HOST, gemm
from test_calibrate_rounds import quiet_tools, steady

from perfsim.calibration import calibration_yaml, measure_host
from perfsim.calibration.gemm_shape import efficiency_table, grid_shapes
from perfsim.engines import get_cost_model
from perfsim.errors import SpecError
from perfsim.hardware import load_hardware
from perfsim.hardware.efficiency import grid_at, ladder_at, log_weight
from perfsim.hardware.spec import HardwareSpec

# rows m = 8, 128 (16x apart) and weight sizes n*k = 1024, 16384 (16x apart)
GRID: dict[str, Any] = {
    "m": [8, 128],
    "nk": [1024, 16384],
    "fraction": [[0.125, 0.5], [0.25, 1.0]],
}


def with_grid(grid: dict[str, Any] | None = GRID, **top: Any) -> HardwareSpec:
    """The test host of `test_calibrate_eager` (32 GFLOP/s fp32, 1 unit at 1 GHz, ladder
    1/4 at m = 8 ... 1 from m = 128), no packing, no overhead, with ``grid``."""
    data = copy.deepcopy(HOST)
    data["compute"]["matrix"]["efficiency_grid"] = grid
    data["compute"]["matrix"]["weight_packing_bandwidth"] = None
    data["op_overhead"] = "0 us"
    data.update(top)
    return HardwareSpec.model_validate(data)


# ---- interpolation, by hand -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "index", "weight"),
    [
        (4, 0, 0.0),  # below the first point: clamped
        (8, 0, 0.0),
        (16, 0, 0.5),  # log2: 16 is half way from 8 to 32
        (32, 1, 0.0),
        (64, 1, 0.5),  # half way from 32 to 128
        (1000, 2, 0.0),  # past the last point: clamped to it
    ],
)
def test_log_weight(x: float, index: int, weight: float) -> None:
    assert log_weight([8, 32, 128], x) == (index, pytest.approx(weight))


def test_ladder_at_by_hand() -> None:
    # m = 16: half way (in log m) from 0.25 at 8 to 0.5 at 32 → 0.375
    points = [(8, 0.25), (32, 0.5), (128, 1.0)]
    assert ladder_at(points, 16) == pytest.approx(0.375)
    assert ladder_at(points, 1) == 0.25 and ladder_at(points, 10**6) == 1.0


@pytest.mark.parametrize(
    ("m", "nk", "fraction"),
    [
        (8, 1024, 0.125),  # the corners
        (128, 16384, 1.0),
        (32, 1024, 0.3125),  # m half way (log 32/8 / log 16 = 0.5): (0.125 + 0.5) / 2
        (8, 4096, 0.1875),  # nk half way: (0.125 + 0.25) / 2
        # both half way: rows give 0.3125 (nk 1024) and 0.625 (nk 16384) → 0.46875
        (32, 4096, 0.46875),
        (2, 64, 0.125),  # below both axes: clamped to the corner
        (4096, 10**8, 1.0),  # above both
        (4096, 1024, 0.5),  # m clamped, nk on the first row
    ],
)
def test_grid_at_by_hand(m: int, nk: int, fraction: float) -> None:
    assert grid_at(GRID["m"], GRID["nk"], GRID["fraction"], m, nk) == pytest.approx(fraction)


def test_spec_looks_up_m_and_n_times_k() -> None:
    spec = with_grid()
    # 32 x 64 x 64: n*k = 4096 → 0.46875 (above); n and k enter only as their product
    assert spec.matrix_efficiency(32, 64, 64) == pytest.approx(0.46875)
    assert spec.matrix_efficiency(32, 16, 256) == pytest.approx(0.46875)
    # a batched GEMM's dims are per instance: b does not count
    assert spec.gemm_efficiency({"b": 96, "m": 32, "n": 64, "k": 64}) == pytest.approx(0.46875)
    # a fused attention op's v adds to k: 32 x 32 x (64 + 64) → n*k = 4096
    assert spec.gemm_efficiency({"m": 32, "n": 32, "k": 64, "v": 64}) == pytest.approx(0.46875)
    # without n or k the m-ladder answers: m = 32 → 0.5
    assert spec.matrix_efficiency(32) == pytest.approx(0.5)


def test_files_with_only_the_ladder_mean_what_they_meant() -> None:
    spec = with_grid(None)
    # the ladder at m = 64 is 0.75 whatever n and k are
    assert spec.matrix_efficiency(64, 768, 768) == pytest.approx(0.75)
    assert spec.matrix_efficiency(64, 16, 16) == pytest.approx(0.75)
    assert spec.gemm_efficiency({"m": 64, "n": 64, "k": 64}) == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({**GRID, "m": [128, 8]}, "efficiency_grid.m must be ascending"),
        ({**GRID, "nk": [1024, 1024]}, "efficiency_grid.nk must be ascending"),
        ({**GRID, "fraction": [[0.1, 0.2]]}, "needs 2 rows"),
        ({**GRID, "fraction": [[0.1, 0.2], [0.3]]}, "of 2 values"),
        ({**GRID, "fraction": [[0.1, 1.2], [0.3, 0.4]]}, "less than or equal to 1"),
        ({**GRID, "fraction": [[0.0, 0.2], [0.3, 0.4]]}, "greater than 0"),
        ({**GRID, "n": [1]}, "unknown key"),
    ],
)
def test_bad_grids_are_one_line_errors_naming_file_and_field(
    grid: dict[str, Any], message: str, tmp_path: Path
) -> None:
    data = copy.deepcopy(HOST)
    data["compute"]["matrix"]["efficiency_grid"] = grid
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_hardware(path)
    text = str(error.value)
    assert "\n" not in text and str(path) in text
    assert "compute.matrix.efficiency_grid" in text and message in text


# ---- the engines, by hand -------------------------------------------------------------------


def test_roofline_costs_a_gemm_at_the_grid_fraction() -> None:
    # 32 x 64 x 64: 2*32*64*64 = 262144 FLOPs at 32 GFLOP/s x 0.46875 = 15 GFLOP/s
    # = 17.4763 us; dram 4*(32*64 + 64*64 + 32*64) = 32768 B at 10 GB/s = 3.28 us
    cost = get_cost_model("roofline").op_cost(gemm(32, 64, 64), with_grid())
    assert cost.compute_s == pytest.approx(262144 / 15e9)
    assert cost.latency_s == pytest.approx(262144 / 15e9)
    # the ladder alone (m = 32 → 0.5): 262144 / 16e9 = 16.384 us
    ladder = get_cost_model("roofline").op_cost(gemm(32, 64, 64), with_grid(None))
    assert ladder.compute_s == pytest.approx(16.384e-6)


def test_cycle_engine_costs_a_gemm_at_the_grid_fraction() -> None:
    # the measured rate holds the BLAS's own tiling, so no tile schedule goes over it:
    # 262144 FLOPs at 15 GFLOP/s = 17476.27 cycles at 1 GHz = 17.476 us (no stalls: the
    # 3.28 us of DRAM traffic stays under it; DRAM latency 0), the roofline's time
    cost = get_cost_model("cycle").op_cost(gemm(32, 64, 64), with_grid())
    assert cost.details["compute_cycles"] == pytest.approx(262144 / 15e9 * 1e9)
    assert cost.details["stall_cycles"] == 0.0
    assert cost.latency_s == pytest.approx(262144 / 15e9)


# ---- invariants -----------------------------------------------------------------------------

_fractions = st.floats(0.01, 1.0)


@st.composite
def grids(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid grid: ascending axes, fractions in (0, 1]."""
    rows = sorted(draw(st.sets(st.integers(1, 4096), min_size=1, max_size=4)))
    sizes = sorted(draw(st.sets(st.integers(1, 10**7), min_size=1, max_size=4)))
    table = [[draw(_fractions) for _ in rows] for _ in sizes]
    return {"m": rows, "nk": sizes, "fraction": table}


@settings(max_examples=80, deadline=None)
@given(grid=grids(), m=st.integers(1, 10**5), n=st.integers(1, 4096), k=st.integers(1, 4096))
def test_lookups_stay_in_the_table_range(grid: dict[str, Any], m: int, n: int, k: int) -> None:
    value = with_grid(grid).matrix_efficiency(m, n, k)
    values = [f for row in grid["fraction"] for f in row]
    assert 0 < min(values) - 1e-12 <= value <= max(values) + 1e-12 <= 1 + 1e-12


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.floats(0.0, 0.2), min_size=6, max_size=6),
    m=st.integers(1, 10**5),
    grow=st.integers(1, 64),
    nk=st.integers(1, 10**8),
)
def test_a_monotone_grid_gives_monotone_clamped_lookups(
    steps: list[float], m: int, grow: int, nk: int
) -> None:
    # a grid rising along both axes: each cell adds its step to its left and lower cells
    base, rows, sizes = 0.1, [8, 128, 2048], [4096, 589824]
    table = [[0.0] * 3 for _ in sizes]
    for j in range(2):
        for i in range(3):
            left = table[j][i - 1] if i else base
            below = table[j - 1][i] if j else base
            table[j][i] = min(1.0, max(left, below) + steps[3 * j + i])
    spec = with_grid({"m": rows, "nk": sizes, "fraction": table})
    one = spec.matrix_efficiency(m, nk, 1)
    assert spec.matrix_efficiency(m * grow, nk, 1) >= one - 1e-12
    assert spec.matrix_efficiency(m, nk * grow, 1) >= one - 1e-12
    # outside the axes the edge value holds
    assert spec.matrix_efficiency(1, 1, 1) == pytest.approx(table[0][0])
    assert spec.matrix_efficiency(10**6, 10**9, 1) == pytest.approx(table[-1][-1])


# ---- calibration ----------------------------------------------------------------------------


def test_efficiency_table_by_hand() -> None:
    # dispatch 10 us; calls of 30 us → 20 us of work. m = 8, n = k = 64: 2*8*64*64 = 65536
    # FLOPs / 20 us = 3.2768 GFLOP/s; m = 32: 13.1072; n = k = 128 (n*k = 16384): m = 8
    # 13.1072, m = 32 52.4288 GFLOP/s. The BERT shapes' best, 40 GFLOP/s, is beaten by
    # 52.4288, the peak: fractions 0.0625, 0.25 / 0.25, 1
    timed = (
        ((8, 64, 64), 30e-6),
        ((32, 64, 64), 30e-6),
        ((8, 128, 128), 30e-6),
        ((32, 128, 128), 30e-6),
    )
    table = efficiency_table(timed, 10e-6, 40e9)
    assert table.m == (8, 32) and table.nk == (4096, 16384)
    assert table.fraction == ((0.0625, 0.25), (0.25, 1.0))
    assert table.peak_flops_per_s == pytest.approx(52.4288e9)
    # a better BERT shape is the peak instead
    assert efficiency_table(timed, 10e-6, 104.8576e9).fraction[1] == (0.125, 0.5)


def test_calibrate_emits_the_grid_and_reloads_it(tmp_path: Path) -> None:
    # every call "takes" 10 us, the dispatch too: work = 5 us (never below half a call)
    cal = measure_host(quick=True, threads=2, tools=quiet_tools(steady(1e-5)))
    grid = cal.gemm_efficiency_grid
    assert grid is not None
    path = tmp_path / "host.yaml"
    path.write_text(calibration_yaml(cal), encoding="utf-8")
    spec = load_hardware(path)
    matrix = spec.compute.matrix
    assert matrix is not None and matrix.efficiency_grid is not None
    assert matrix.efficiency_grid.m == grid.m and matrix.efficiency_grid.nk == grid.nk
    # the ladder's row n = k plus the grid's own rows, fractions of the written fp32 peak
    sizes = {n * k for _, n, k in grid_shapes(quick=True)}
    assert sizes < set(grid.nk)
    assert spec.matrix_peak_flops("fp32") == pytest.approx(grid.peak_flops_per_s, rel=1e-6)
    for m, n, k in grid_shapes(quick=True):
        rate = 2 * m * n * k / 5e-6
        assert spec.matrix_efficiency(m, n, k) == pytest.approx(
            rate / grid.peak_flops_per_s, rel=1e-3
        )
    assert all(0 < f <= 1 for row in matrix.efficiency_grid.fraction for f in row)
    # the peak is the best rate seen: no GEMM of the grid or the BERT shapes beat it
    shapes = cal.gemm_result("fp32")
    assert grid.peak_flops_per_s == pytest.approx(
        max([*shapes.flops_per_s, *(2 * m * n * k / 5e-6 for m, n, k in grid_shapes(True))])
    )


def test_dumps_round_trip_and_leave_an_unset_grid_out() -> None:
    # a sweep hashes a device's dump: a file without the grid dumps as before it existed
    assert "efficiency_grid" not in with_grid(None).model_dump()["compute"]["matrix"]
    spec = with_grid()
    assert HardwareSpec.from_si(spec.model_dump()) == spec
