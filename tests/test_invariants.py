"""Invariants every engine keeps, over random ops, devices and real graphs (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.energy.prices import energy_prices, with_energy
from perfsim.engines import available, get_cost_model
from perfsim.estimate import estimate_graph
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import Category, OpNode, TensorSpec
from perfsim.precision import apply_precision
from tests.test_roofline import DEVICE, device

ENGINES = available()


@st.composite
def gemms(draw: st.DrawFn) -> OpNode:
    b, m, n, k = (draw(st.integers(1, 8)), *(draw(st.integers(1, 2048)) for _ in range(3)))
    dtype = draw(st.sampled_from(["fp32", "fp16"]))
    size = 4 if dtype == "fp32" else 2
    a, w, c = (
        TensorSpec((b, m, k), dtype),
        TensorSpec((b, k, n), dtype),
        TensorSpec((b, m, n), dtype),
    )
    return OpNode(
        name="bmm",
        category=Category.ATTN_GEMM,
        target="aten.bmm.default",
        scope="",
        layer=0,
        phase="forward",
        inputs=(a, w),
        outputs=(c,),
        dims={"b": b, "m": m, "n": n, "k": k},
        macs=b * m * n * k,
        flops=2 * b * m * n * k,
        bytes_read=size * b * (m * k + k * n),
        bytes_written=size * b * m * n,
    )


@st.composite
def vector_ops(draw: st.DrawFn) -> OpNode:
    elements = draw(st.integers(1, 1 << 24))
    category = draw(
        st.sampled_from(
            [
                Category.SOFTMAX,
                Category.ELEMENTWISE,
                Category.GELU,
                Category.LAYERNORM,
                Category.DATA_MOVEMENT,
            ]
        )
    )
    tensor = TensorSpec((elements,), "fp32")
    return OpNode(
        name="v",
        category=category,
        target="aten.x",
        scope="",
        layer=0,
        phase="forward",
        inputs=(tensor,),
        outputs=(tensor,),
        dims={},
        macs=0,
        flops=0 if category == Category.DATA_MOVEMENT else 5 * elements,
        bytes_read=4 * elements,
        bytes_written=4 * elements,
    )


ops = st.one_of(gemms(), vector_ops())
factors = st.floats(1.0, 64.0)


def fp16_device(**changes: object) -> HardwareSpec:
    hw = device(**changes)
    data = hw.model_dump()
    data["compute"]["matrix"]["macs_per_cycle"]["fp16"] = 32
    data["compute"]["vector"]["flops_per_cycle"]["fp16"] = 8
    data["energy"]["mac"]["fp16"] = 0.4e-12
    data["energy"]["vector_op"]["fp16"] = 0.2e-12
    return HardwareSpec.from_si(data)


def latency(engine: str, op: OpNode, hw: HardwareSpec) -> float:
    return get_cost_model(engine).op_cost(op, hw).latency_s


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=60, deadline=None)
@given(op=ops, factor=factors, level=st.integers(0, 1))
def test_more_bandwidth_never_slower(engine: str, op: OpNode, factor: float, level: int) -> None:
    base = fp16_device()
    bandwidth = base.memory[level].bandwidth
    faster = fp16_device(**{f"memory__{level}__bandwidth": f"{bandwidth * factor} B/s"})
    assert latency(engine, op, faster) <= latency(engine, op, base) * (1 + 1e-12)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=60, deadline=None)
@given(op=ops, factor=factors)
def test_more_peak_never_slower(engine: str, op: OpNode, factor: float) -> None:
    base = fp16_device()
    faster = fp16_device(compute__clock=f"{1e9 * factor} Hz")
    slow, fast = latency(engine, op, base), latency(engine, op, faster)
    if engine == "cycle" and scalesim_drain_case(op, base, faster):
        # NB: with DRAM stalls on a systolic array the cycle engine reproduces SCALE-Sim's
        # USER-mode buffers cycle for cycle, and those are not monotone in words per cycle:
        # a faster clock gives the same port fewer words per cycle, and SCALE-Sim's ofmap
        # drain then stalls more than the shorter cycles save (m=512 n=1024 k=1 on a 4x4 WS
        # array at 10 GB/s: 201.8 us at 1 GHz, 227.5 us at 1.25 GHz; see
        # test_scalesim_drain_is_the_known_exception). Known, reported, not "fixed" here.
        # What still holds: the array's own cycles do not depend on the clock, so its
        # compute time shrinks by the clock ratio, and the op is never faster than DRAM
        # can stream its compulsory bytes.
        assert compute_cycles(op, faster) == compute_cycles(op, base)
        assert cost(op, faster).compute_s == pytest.approx(cost(op, base).compute_s / factor)
        assert fast >= op.bytes_total / faster.memory[1].bandwidth * (1 - 1e-9)
        return
    # every other case, vector ops with stalls included (their time is max(compute,
    # memory) + DRAM latency in seconds, each term non-increasing in the clock)
    assert fast <= slow * (1 + 1e-12)


def test_scalesim_drain_is_the_known_exception() -> None:
    # the case the NB above names: an fp16 outer product (k = 1) whose 1 MiB ofmap drains
    # through the array's third of the 10 GB/s DRAM port
    a, w, c = (TensorSpec(shape, "fp16") for shape in ((512, 1), (1, 1024), (512, 1024)))
    op = OpNode(
        name="mm",
        category=Category.GEMM,
        target="aten.mm.default",
        scope="",
        layer=0,
        phase="forward",
        inputs=(a, w),
        outputs=(c,),
        dims={"b": 1, "m": 512, "n": 1024, "k": 1},
        macs=512 * 1024,
        flops=2 * 512 * 1024,
        bytes_read=2 * (512 + 1024),
        bytes_written=2 * 512 * 1024,
    )
    base, faster = fp16_device(), fp16_device(compute__clock="1.25 GHz")
    assert scalesim_drain_case(op, base, faster)
    assert latency("cycle", op, base) == pytest.approx(201.8e-6, rel=1e-3)
    assert latency("cycle", op, faster) == pytest.approx(227.5e-6, rel=1e-3)
    # the roofline has no such case: 1 MiB + 3 KiB at 10 GB/s either way
    assert latency("roofline", op, faster) == latency("roofline", op, base)


def scalesim_drain_case(op: OpNode, *devices: HardwareSpec) -> bool:
    """A GEMM on the systolic arrays that stalls on DRAM on one of the devices."""
    return op.category.is_matrix and any(
        hw.compute.matrix is not None
        and hw.compute.matrix.type == "systolic"
        and cost_details(op, hw).get("stall_cycles", 0.0) > 0
        for hw in devices
    )


def cost(op: OpNode, hw: HardwareSpec):  # type: ignore[no-untyped-def]
    return get_cost_model("cycle").op_cost(op, hw)


def cost_details(op: OpNode, hw: HardwareSpec) -> dict[str, float]:
    return dict(cost(op, hw).details)


def compute_cycles(op: OpNode, hw: HardwareSpec) -> float:
    return cost_details(op, hw).get("compute_cycles", 0.0)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=60, deadline=None)
@given(op=ops, factor=factors)
def test_more_capacity_never_more_traffic(engine: str, op: OpNode, factor: float) -> None:
    base = fp16_device(memory__0__capacity="64 KiB")
    bigger = fp16_device(memory__0__capacity=f"{64 * 1024 * factor} B")
    model = get_cost_model(engine)
    assert (
        model.op_cost(op, bigger).traffic_bytes["dram"]
        <= model.op_cost(op, base).traffic_bytes["dram"]
    )
    if engine == "roofline":
        # NB: not for the cycle engine: like SCALE-Sim, it fetches a whole half-buffer
        # before the first fold, so a bigger buffer may start later (less traffic, more fill)
        assert latency(engine, op, bigger) <= latency(engine, op, base) * (1 + 1e-12)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=60, deadline=None)
@given(op=ops)
def test_energy_never_negative_and_traffic_at_least_compulsory(engine: str, op: OpNode) -> None:
    hw = fp16_device()
    result = with_energy(get_cost_model(engine).op_cost(op, hw), energy_prices(hw))
    assert result.energy_j >= 0
    assert all(value >= 0 for value in result.energy_breakdown_j.values())
    assert all(value >= op.bytes_total for value in result.traffic_bytes.values())
    assert result.latency_s >= max(result.compute_s, result.memory_s, result.overhead_s)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_totals_equal_sum_of_rows_and_are_deterministic(traced, engine, precision) -> None:
    hw = fp16_device()
    graph = apply_precision(traced("bert-tiny"), precision)
    first = estimate_graph(graph, hw, engine)
    frame = first.to_frame()
    summary = first.summary()
    assert summary["latency_s"] == pytest.approx(frame["latency_s"].sum(), rel=1e-12)
    assert summary["energy_j"] == pytest.approx(frame["energy_j"].sum(), rel=1e-12)
    assert summary["flops"] == frame["flops"].sum()
    for level in hw.memory:
        assert summary["memory_traffic_bytes"][level.name] == pytest.approx(
            frame[f"{level.name}_bytes"].sum()
        )
    assert sum(row["share"] for row in summary["by_category"].values()) == pytest.approx(1.0)
    assert sum(summary["energy_breakdown_j"].values()) == pytest.approx(summary["energy_j"])
    second = estimate_graph(graph, hw, engine)
    assert second.to_frame().equals(frame)


def test_device_fixture_is_unchanged() -> None:
    assert DEVICE["memory"][0]["capacity"] == "1 MiB"  # device() must never mutate the base


@settings(max_examples=80, deadline=None)
@given(op=ops, bandwidth=factors, clock=factors, capacity=factors)
def test_cycle_latency_never_below_roofline(
    op: OpNode, bandwidth: float, clock: float, capacity: float
) -> None:
    hw = fp16_device(
        memory__1__bandwidth=f"{10e9 * bandwidth} B/s",
        compute__clock=f"{1e9 * clock} Hz",
        memory__0__capacity=f"{64 * 1024 * capacity} B",
    )
    cycle = get_cost_model("cycle").op_cost(op, hw)
    roofline = get_cost_model("roofline").op_cost(op, hw)
    assert cycle.latency_s >= roofline.latency_s * (1 - 1e-9)
    assert cycle.compute_s >= roofline.compute_s * (1 - 1e-9)
