"""On-chip residency (perfsim.engines.residency), achievable bandwidth and the host/device
timeline (perfsim.timeline): hand-derived examples and properties."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.engines import OpCost
from perfsim.engines.cycle.engine import Cycle
from perfsim.engines.residency import holder_level, lifetimes
from perfsim.engines.roofline import Roofline
from perfsim.estimate import estimate_graph
from perfsim.hardware import HardwareSpec, resolve_hardware
from perfsim.hardware.ideal import ACHIEVED_FIELDS, ideal_hardware
from perfsim.ir import Category, OpGraph, OpNode, TensorSpec
from perfsim.pipeline import cost_scenario_graph, simulate
from perfsim.precision import apply_precision
from perfsim.scenario import Scenario
from perfsim.timeline import apply_runtime, device_s, timeline, views_per_kernel
from tests.test_gpu_gemm import gemm_op

KB = 1000  # each tensor of the hand-made chain: 250 fp32 values = 1000 bytes


def _device(capacity: str, **extra: Any) -> HardwareSpec:
    """One unit; an on-chip ``sram`` of ``capacity`` at 100 GB/s, a DRAM at 10 GB/s."""
    return HardwareSpec.model_validate(
        {
            "version": 1,
            "name": "toy",
            "kind": "npu",
            "technology_node": "7 nm",
            "native_precision": "fp32",
            "compute": {"units": 1, "clock": "1 GHz", "vector": {"flops_per_cycle": {"fp32": 1}}},
            "memory": [
                {"name": "sram", "capacity": capacity, "bandwidth": "100 GB/s"},
                {"name": "dram", "capacity": "1 GiB", "bandwidth": "10 GB/s"},
            ],
            **extra,
        }
    )


def _copy(index: int, deps: tuple[int, ...]) -> OpNode:
    """An element-wise op reading one 1000-byte tensor and writing one (no FLOPs)."""
    tensor = TensorSpec((250,), "fp32")
    return OpNode(
        name=f"op{index}",
        category=Category.ELEMENTWISE,
        target="aten.clone.default",
        scope="",
        layer=-1,
        phase="forward",
        inputs=(tensor,),
        outputs=(tensor,),
        dims={},
        macs=0,
        flops=0,
        bytes_read=KB,
        bytes_written=KB,
        deps=deps,
    )


CHAIN = OpGraph((_copy(0, ()), _copy(1, (0,)), _copy(2, (1,))), {"batch": 1})


def test_chain_that_fits_skips_dram() -> None:
    # x -> op0 -> a -> op1 -> b -> op2 -> y. a and b are each written by one op and read by
    # the next: each needs the 2000 bytes of the two ops touching it (nothing else is live)
    life = lifetimes(CHAIN.ops)
    assert [t.nbytes for t in life.tensors] == [KB, KB]
    assert life.thresholds == (2 * KB, 2 * KB)
    fits = estimate_graph(CHAIN, _device("4 KiB"))  # 4096 >= 2000: a and b stay on chip
    # DRAM: op0 reads x (1000), op1 nothing, op2 writes y (1000) = 2000 of the 6000
    assert [cost.traffic_bytes["dram"] for cost in fits.costs] == [KB, 0.0, KB]
    assert fits.traffic_bytes() == {"sram": 6 * KB, "dram": 2 * KB}  # sram serves every byte
    # latency: op0 and op2 1000 B / 10 GB/s = 100 ns each; op1 2000 B / 100 GB/s = 20 ns
    assert fits.latency_s == pytest.approx(220e-9)


def test_chain_that_does_not_fit_goes_through_dram() -> None:
    spills = estimate_graph(CHAIN, _device("1 KiB"))  # 1024 < 2000: nothing stays
    assert spills.traffic_bytes() == {"sram": 6 * KB, "dram": 6 * KB}
    assert spills.latency_s == pytest.approx(3 * 2000 / 10e9)  # 200 ns each


def test_achievable_bandwidth_scales_the_level() -> None:
    # the same spilling chain with DRAM at half its peak: 2000 B / 5 GB/s = 400 ns an op
    hw = _device("1 KiB")
    slow = hw.model_copy(
        update={"memory": (hw.memory[0], hw.memory[1].model_copy(update={"achievable": 0.5}))}
    )
    assert slow.level_bandwidth(slow.dram) == 5e9
    assert estimate_graph(CHAIN, slow).latency_s == pytest.approx(3 * 400e-9)
    assert "memory.*.achievable" in ACHIEVED_FIELDS
    ideal = ideal_hardware(slow)
    assert ideal.level_bandwidth(ideal.dram) == 10e9


def _kernels(*device_us: float) -> tuple[OpCost, ...]:
    return tuple(
        OpCost(
            op=f"k{i}",
            category=Category.GEMM,
            unit="matrix",
            dtype="fp16",
            macs=0,
            flops=0,
            bytes_read=0,
            bytes_written=0,
            compute_s=us * 1e-6,
            memory_s=0.0,
            overhead_s=0.0,
            latency_s=us * 1e-6,
            bound="compute",
            traffic_bytes={},
            level_s={},
            actions={},
        )
        for i, us in enumerate(device_us)
    )


def _end(costs: tuple[OpCost, ...]) -> float:
    return sum(cost.latency_s for cost in costs)


def test_timeline_where_the_host_falls_behind() -> None:
    # kernels of 10, 1, 1, 10 us; the host issues one every 5 us, at 5, 10, 15, 20 us:
    #   k0 runs 5-15, k1 15-16, k2 16-17 (queued: the device never waits), then k3 is
    #   issued only at 20: the device idles 17-20 and k3 runs 20-30
    costs = timeline(_kernels(10, 1, 1, 10), 5e-6, [True] * 4, static_power_w=0.0)
    assert _end(costs) == pytest.approx(30e-6)
    assert [c.latency_s * 1e6 for c in costs] == pytest.approx([15, 1, 1, 13])
    assert [c.details["host_wait_s"] * 1e6 for c in costs] == pytest.approx([5, 0, 0, 3])


def test_timeline_where_the_host_keeps_ahead() -> None:
    # one kernel issued every 1 us: only the first waits (1 us), then 10 + 1 + 1 + 10 us
    assert _end(timeline(_kernels(10, 1, 1, 10), 1e-6, [True] * 4, 0.0)) == pytest.approx(23e-6)
    # a host issuing every 10 us is the bound: the last kernel is issued at 40 and runs 10
    assert _end(timeline(_kernels(10, 1, 1, 10), 10e-6, [True] * 4, 0.0)) == pytest.approx(50e-6)
    # a kernel launched inside another's (a fused op) costs the host nothing
    # (k0 issued at 10 runs 10-20, k1 and k2 follow at once, 20-22; k3, the host's second
    # launch, is issued at 20 and runs 22-32)
    fused = timeline(_kernels(10, 1, 1, 10), 10e-6, [True, False, False, True], 0.0)
    assert _end(fused) == pytest.approx(32e-6)


def test_a_graph_launch_submits_every_kernel_before_the_device_starts() -> None:
    # one launch call of 2 us fixed + 0.2 us per node hands all four kernels over at 2.8 us;
    # the device then runs 10 + 1 + 1 + 10 us back to back: 2.8 + 22 = 24.8 us
    costs = timeline(_kernels(10, 1, 1, 10), 0.2e-6, [True] * 4, 0.0, submitted_s=2.8e-6)
    assert _end(costs) == pytest.approx(24.8e-6)
    assert [c.details["host_wait_s"] * 1e6 for c in costs] == pytest.approx([2.8, 0, 0, 0])
    # a host slower than the device still submits once: no idle gap between the kernels
    slow = timeline(_kernels(1, 1, 1, 1), 5e-6, [True] * 4, 0.0, submitted_s=22e-6)
    assert _end(slow) == pytest.approx(26e-6)


def test_a100_graph_replay_waits_for_the_whole_launch(store: Any) -> None:
    # a100.yaml (CUDA 11.8's repeat launch): 2 us + 0.2 us per kernel node before the first
    # kernel starts, then the kernels back to back
    hw = resolve_hardware("a100")
    assert hw.graph_launch_s("cuda_graph") == pytest.approx(2e-6)
    assert hw.graph_launch_s("eager") is None and hw.graph_launch_s(None) is None
    result = simulate(Scenario("bert-tiny", runtime="cuda_graph"), hw, store=store)
    nodes = sum(1 for cost in result.costs if cost.overhead_s > 0)
    waits = [cost.details["host_wait_s"] for cost in result.costs]
    assert waits[0] == pytest.approx(2e-6 + nodes * 0.2e-6)
    assert sum(waits[1:]) == pytest.approx(0.0, abs=1e-15)
    device = sum(device_s(cost) for cost in result.costs)
    assert result.latency_s == pytest.approx(2e-6 + nodes * 0.2e-6 + device)


def test_static_energy_follows_the_timeline() -> None:
    priced = tuple(
        OpCost(**{**_asdict(cost), "energy_breakdown_j": {"compute": 1e-6, "static": 0.0}})
        for cost in _kernels(10, 1)
    )
    # host every 5 us: k0 runs 5-15 (its step 15 us), k1 15-16 (1 us); static 100 W x step
    costs = timeline(priced, 5e-6, [True, True], static_power_w=100.0)
    assert [c.energy_breakdown_j["static"] for c in costs] == pytest.approx([1.5e-3, 1e-4])
    assert [c.energy_j for c in costs] == pytest.approx([1.5e-3 + 1e-6, 1e-4 + 1e-6])


def _asdict(cost: OpCost) -> dict[str, Any]:
    return {name: getattr(cost, name) for name in cost.__dataclass_fields__}


def test_files_without_the_fields_keep_todays_numbers(store: Any) -> None:
    # npu.yaml has no achievable fractions and no host_issue block: a runtime changes nothing
    base = simulate(Scenario("bert-tiny"), "npu", store=store)
    for runtime in ("eager", "cuda_graph", "engine"):
        assert simulate(Scenario("bert-tiny", runtime=runtime), "npu", store=store).latency_s == (
            base.latency_s
        )


def test_eager_timeline_on_h100(store: Any) -> None:
    # every op issued by the host at h100.yaml's eager 10 us: never faster than n x 10 us
    result = simulate(Scenario("bert-tiny", runtime="eager"), "h100", store=store)
    assert result.latency_s >= len(result.costs) * 10e-6 * (1 - 1e-9)
    assert result.graph.meta.runtime == "eager"


def test_eager_dispatches_the_folded_views(store: Any) -> None:
    # h100.yaml: 10 us per launch plus 4 us per folded metadata op, spread over launches;
    # bert-tiny b1 is host-bound, so the eager latency is launches x 10 us + views x 4 us
    hw = resolve_hardware("h100")
    assert hw.host_view_s("eager") == pytest.approx(4e-6)
    assert hw.host_view_s("cuda_graph") == 0.0 and hw.host_view_s(None) == 0.0
    eager = simulate(Scenario("bert-tiny", runtime="eager"), hw, store=store)
    launches = sum(1 for cost in eager.costs if cost.overhead_s > 0)
    folded = eager.graph.meta.folded_ops
    assert folded > launches > 0
    host = launches * 10e-6 + folded * 4e-6
    device = sum(max(c.latency_s - c.details["host_wait_s"], 0.0) for c in eager.costs)
    assert host <= eager.latency_s <= host + device
    # a replayed graph dispatches no views: one launch of 2.5 us + 1 ns per node
    graph = simulate(Scenario("bert-tiny", runtime="cuda_graph"), hw, store=store)
    assert graph.latency_s < eager.latency_s - folded * 4e-6


def test_views_per_kernel() -> None:
    assert views_per_kernel(461, 177) == pytest.approx(461 / 177)
    assert views_per_kernel(5, 0) == 0.0


# ---- properties --------------------------------------------------------------------------

DEVICES = ("npu", "a100", "h100", "v100", "t4")


def _typed(store: Any, name: str) -> tuple[OpGraph, HardwareSpec]:
    hw = resolve_hardware(name)
    return apply_precision(store.graph(Scenario("bert-tiny").workload(hw)), hw.native_precision), hw


def _scaled(hw: HardwareSpec, change: Callable[[dict[str, Any]], None]) -> HardwareSpec:
    data = hw.model_dump()
    change(data)
    return HardwareSpec.from_si(data)


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(DEVICES), factor=st.floats(1.0, 8.0), level=st.integers(0, 2))
def test_more_bandwidth_never_slower(store: Any, name: str, factor: float, level: int) -> None:
    graph, hw = _typed(store, name)
    index = min(level, len(hw.memory) - 1)

    def faster(data: dict[str, Any]) -> None:
        data["memory"][index]["bandwidth"] *= factor

    for engine in ("roofline", "cycle"):
        slow = estimate_graph(graph, hw, engine).latency_s
        assert estimate_graph(graph, _scaled(hw, faster), engine).latency_s <= slow * (1 + 1e-9)


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(DEVICES), factor=st.floats(1.0, 64.0))
def test_more_on_chip_capacity_never_more_dram_traffic(
    store: Any, name: str, factor: float
) -> None:
    graph, hw = _typed(store, name)
    holder = holder_level(hw)
    assert holder is not None

    def bigger(data: dict[str, Any]) -> None:
        data["memory"][holder]["capacity"] *= factor

    dram = hw.dram.name
    before = estimate_graph(graph, hw, "roofline").traffic_bytes()[dram]
    after = estimate_graph(graph, _scaled(hw, bigger), "roofline").traffic_bytes()[dram]
    assert after <= before * (1 + 1e-12)


@pytest.mark.parametrize("name", DEVICES)
@pytest.mark.parametrize("runtime", [None, "eager", "cuda_graph", "engine"])
def test_ideal_never_above_achieved(store: Any, name: str, runtime: str | None) -> None:
    hw = resolve_hardware(name)
    graph = store.graph(Scenario("bert-tiny").workload(hw))
    scenario = Scenario("bert-tiny", runtime=runtime)
    for engine in ("roofline", "cycle"):
        achieved = cost_scenario_graph(graph, scenario, hw, engine).latency_s
        ideal = cost_scenario_graph(graph, scenario, ideal_hardware(hw), engine).latency_s
        assert ideal <= achieved * (1 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(
    device_us=st.lists(st.floats(0.0, 50.0), min_size=1, max_size=30),
    host_us=st.floats(0.0, 30.0),
    faster=st.floats(0.0, 1.0),
)
def test_a_faster_host_is_never_slower(
    device_us: list[float], host_us: float, faster: float
) -> None:
    kernels = _kernels(*device_us)
    launched = [True] * len(kernels)
    slow = _end(timeline(kernels, host_us * 1e-6, launched, 0.0))
    quick = _end(timeline(kernels, host_us * faster * 1e-6, launched, 0.0))
    assert quick <= slow * (1 + 1e-12) + 1e-15
    # never below the device's own work, never below the host's
    assert slow >= sum(device_us) * 1e-6 * (1 - 1e-12) - 1e-15
    assert slow >= len(kernels) * host_us * 1e-6 * (1 - 1e-12) - 1e-15


@settings(max_examples=40, deadline=None)
@given(
    device_us=st.lists(st.floats(0.0, 50.0), min_size=1, max_size=30),
    submitted_us=st.floats(0.0, 100.0),
    faster=st.floats(0.0, 1.0),
)
def test_a_quicker_graph_launch_is_never_slower(
    device_us: list[float], submitted_us: float, faster: float
) -> None:
    # a graph replay: the launch call's time plus the kernels, whatever they are
    kernels = _kernels(*device_us)
    launched = [True] * len(kernels)
    slow = _end(timeline(kernels, 0.0, launched, 0.0, submitted_s=submitted_us * 1e-6))
    quick = _end(timeline(kernels, 0.0, launched, 0.0, submitted_s=submitted_us * faster * 1e-6))
    assert quick <= slow * (1 + 1e-12) + 1e-15
    assert slow == pytest.approx((submitted_us + sum(device_us)) * 1e-6, abs=1e-15)


def test_runtime_on_a_serial_host_changes_nothing(store: Any) -> None:
    # eager CPU execution stays serial (op_overhead_serial): no timeline
    hw = resolve_hardware("host")
    assert hw.op_overhead_serial
    graph = store.graph(Scenario("bert-tiny").workload(hw))
    plain = cost_scenario_graph(graph, Scenario("bert-tiny"), hw, "roofline")
    assert apply_runtime(plain, "eager") is plain


def test_floored_kernels_keep_their_stalls_on_the_device() -> None:
    # a 128 x 1024 x 1024 fp16 GEMM on the H200: a few microseconds, under the 5 us launch
    # floor; the cycle engine's kernel is its simulated cycles (mainloop plus prologue,
    # epilogue and split-K handoffs), not the mainloop alone, plus the device's startup of
    # a kernel (`kernel_startup`), and the timeline runs it so
    hw = resolve_hardware("h200")
    op = gemm_op(128, 1024, 1024)
    cycle, roofline = Cycle().op_cost(op, hw), Roofline().op_cost(op, hw)
    assert cycle.bound == roofline.bound == "overhead"
    total_s = cycle.details["total_cycles"] / hw.compute.clock
    assert cycle.details["stall_cycles"] > 0 and cycle.compute_s < total_s
    startup_s = hw.kernel_startup_s
    assert startup_s > 0
    assert device_s(cycle) == pytest.approx(max(total_s, *cycle.level_s.values()) + startup_s)
    # both engines run the library's plan: the same kernel on the timeline
    assert device_s(cycle) == pytest.approx(device_s(roofline))
    # without the engine's figure the timeline falls back to the busier term
    assert device_s(replace(cycle, kernel_s=None)) == max(cycle.compute_s, cycle.memory_s)
