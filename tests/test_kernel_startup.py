"""``kernel_startup``: the device time every launched kernel takes beyond its work (the
grid's launch, its blocks' dispatch, its completion), added to each kernel in both engines
and so on the host/device timeline; ops launched inside another kernel do not pay it; the
ideal bound strips it. The shipped figures are te42kyfo/gpu-benches' fits, checked here
against their cited points and against the H200's graph-replayed GEMMs (a measurement
committed as a check, never an input)."""

from __future__ import annotations

import csv
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from perfsim.engines import get_cost_model
from perfsim.engines.power import sustained_costs
from perfsim.hardware import resolve_hardware
from perfsim.hardware.ideal import ideal_hardware
from perfsim.ir import Category, OpNode, TensorSpec
from perfsim.timeline import device_s, timeline
from perfsim.whatif.placement import without_overhead
from tests.test_gpu_checks import _compare
from tests.test_roofline import device

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("roofline", "cycle")
STARTUP_S = 2e-6


def unary_op(
    category: Category, target: str, tensor: TensorSpec, *, flops: int, on_chip: bool
) -> OpNode:
    """One tensor in, one of the same shape out, counted by hand; ``on_chip``: neither goes
    to memory (as inside a fused kernel)."""
    moved = 0 if on_chip else tensor.nbytes
    return OpNode(
        name=target.split(".")[1],
        category=category,
        target=target,
        scope="",
        layer=-1,
        phase="forward",
        inputs=(tensor,),
        outputs=(tensor,),
        dims={},
        macs=0,
        flops=flops,
        bytes_read=moved,
        bytes_written=moved,
    )


def copy_op(values: int) -> OpNode:
    """An fp32 element-wise copy of ``values`` values: no FLOPs, read once, written once."""
    tensor = TensorSpec((values,), "fp32")
    return unary_op(Category.ELEMENTWISE, "aten.clone.default", tensor, flops=0, on_chip=False)


def test_startup_adds_to_each_kernel_by_hand() -> None:
    # 10,000 values: 80 kB through the test device's 10 GB/s DRAM = 8 us of work, + 2 us
    plain, started = device(), device(kernel_startup="2 us")
    op = copy_op(10_000)
    for engine in ENGINES:
        model = get_cost_model(engine)
        before, after = model.op_cost(op, plain), model.op_cost(op, started)
        assert before.latency_s == pytest.approx(8e-6)
        assert after.latency_s == pytest.approx(8e-6 + STARTUP_S)
        assert after.kernel_s == pytest.approx(before.latency_s + STARTUP_S)
        assert after.traffic_bytes == before.traffic_bytes  # no bytes move for it


def test_the_launch_floor_still_bounds_from_below() -> None:
    # op_overhead 5 us: a 0.8 us copy's kernel is 2.8 us on the device, floored at 5 us; an
    # 8 us one is 10 us, above the floor
    hw = device(op_overhead="5 us", kernel_startup="2 us")
    for engine in ENGINES:
        model = get_cost_model(engine)
        small, large = model.op_cost(copy_op(1_000), hw), model.op_cost(copy_op(10_000), hw)
        assert small.latency_s == pytest.approx(5e-6)
        assert device_s(small) == pytest.approx(0.8e-6 + STARTUP_S)
        assert large.latency_s == pytest.approx(8e-6 + STARTUP_S)


def test_the_timeline_runs_each_launched_kernel_with_its_startup() -> None:
    # three 0.8 us copies, the host never behind: 3 x (0.8 + 2) us; the same chain with the
    # last two launched inside the first's kernel (costed on `without_overhead`): 0.8 + 2
    # for the first, 0.8 each for the others
    hw = device(kernel_startup="2 us")
    model = get_cost_model("roofline")
    launched = [model.op_cost(copy_op(1_000), hw)] * 3
    inside = model.op_cost(copy_op(1_000), without_overhead(hw))
    alone = timeline(launched, 0.0, [True] * 3, static_power_w=0.0)
    fused = timeline([launched[0], inside, inside], 0.0, [True, False, False], 0.0)
    assert sum(cost.latency_s for cost in alone) == pytest.approx(3 * (0.8e-6 + STARTUP_S))
    assert sum(cost.latency_s for cost in fused) == pytest.approx(3 * 0.8e-6 + STARTUP_S)
    assert without_overhead(hw).kernel_startup_s == 0.0


@pytest.mark.parametrize("name", ["a100", "a100-80gb", "h100", "h200", "v100", "v100-pcie", "t4"])
def test_the_ideal_bound_strips_it(name: str) -> None:
    hw = resolve_hardware(ROOT / "hwconfigs" / f"{name}.yaml")
    assert hw.kernel_startup_s > 0
    assert ideal_hardware(hw).kernel_startup_s == 0.0
    op = copy_op(1_000)
    for engine in ENGINES:
        model = get_cost_model(engine)
        assert device_s(model.op_cost(op, ideal_hardware(hw))) < device_s(model.op_cost(op, hw))


@pytest.mark.parametrize(
    ("name", "points"),
    [
        # gpu-benches gpu-small-kernels/<part>_graph.txt: bytes a kernel (2 x 8 B x size)
        # and the best block size's GB/s at sizes 4,096 and 8,182
        ("a100-80gb", ((65_536, 49e9), (130_912, 96e9))),
        ("h200", ((65_536, 30e9), (130_912, 58e9))),
    ],
)
def test_the_figures_are_the_cited_fits(name: str, points: tuple[tuple[int, float], ...]) -> None:
    """t = a + V / b through the two smallest sizes (the benchmark's own model): a."""
    (bytes_1, rate_1), (bytes_2, rate_2) = points
    time_1, time_2 = bytes_1 / rate_1, bytes_2 / rate_2
    startup_s = time_1 - bytes_1 * (time_2 - time_1) / (bytes_2 - bytes_1)
    hw = resolve_hardware(ROOT / "hwconfigs" / f"{name}.yaml")
    assert hw.kernel_startup_s == pytest.approx(startup_s, rel=0.01)


def test_small_h200_gemms_replayed_from_a_graph() -> None:
    """The H200's GEMMs under 10 us, replayed from a CUDA graph (no host in the loop; 47
    rows of results/validation/gpu-h200-checks/gemm.csv): the device time the model gives
    them is unbiased with the startup (median signed error within 10%), 27% too fast
    without it."""
    compare = _compare()
    hw = resolve_hardware(ROOT / "hwconfigs" / "h200.yaml")
    bare = hw.model_copy(update={"kernel_startup": None})
    with open(ROOT / "results/validation/gpu-h200-checks/gemm.csv", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if float(row["seconds"]) < 10e-6]
    assert len(rows) == 47
    for engine in ENGINES:
        model = get_cost_model(engine)
        errors: dict[str, list[float]] = {"with": [], "without": []}
        for row in rows:
            m, n, k = int(row["m"]), int(row["n"]), int(row["k"])
            op = compare.linear_op(m, n, k, compare.MODEL_DTYPE[row["dtype"]])
            for label, part in (("with", hw), ("without", bare)):
                (cost,) = sustained_costs([op], [1], part, model)
                errors[label].append(device_s(cost) / float(row["seconds"]) - 1)
        assert abs(statistics.median(errors["with"])) <= 0.10, engine
        assert statistics.median(errors["without"]) < -0.20, engine


def test_an_op_that_moves_nothing_waits_for_no_dram_latency() -> None:
    # the cycle engine's vector op pays one DRAM latency (500 ns here) for its first
    # access; an op fused into another's kernel (no bytes of its own) pays none, only its
    # 1,000 slots on the test device's 4 lanes (250 ns)
    hw = device(memory__1__latency="500 ns")
    cycle = get_cost_model("cycle")
    streamed = cycle.op_cost(copy_op(1_000), hw)
    assert streamed.kernel_s == pytest.approx(0.8e-6 + 0.5e-6)
    inside = replace(copy_op(1_000), bytes_read=0, bytes_written=0)
    assert cycle.op_cost(inside, hw).kernel_s == pytest.approx(0.25e-6)
