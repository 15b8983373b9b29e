"""Data-parallel steps on synthetic graphs: buckets, overlap, accumulation, by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.engines import OpCost
from perfsim.errors import SpecError, WorkloadError
from perfsim.estimate import Result
from perfsim.hardware import HardwareSpec, load_hardware
from perfsim.hardware.spec import Interconnect
from perfsim.ir import Category, GraphMeta, OpGraph, OpNode
from perfsim.parallel.buckets import gradient_buckets, micro_batch
from perfsim.parallel.data_parallel import DataParallel, data_parallel

HWCONFIGS = Path(__file__).resolve().parent.parent / "hwconfigs"
MIB = 2**20


def _hw(bandwidth: float = 10e9, latency: float = 0.0, links: int = 1) -> HardwareSpec:
    """npu.yaml with a simple switch: ``links x bandwidth`` per device each way."""
    npu = load_hardware(HWCONFIGS / "npu.yaml")
    net = Interconnect.model_validate(
        {"topology": "switch", "bandwidth": bandwidth, "latency": latency, "links": links},
        context={"si": True},
    )
    return npu.model_copy(update={"interconnect": net})


def _result(
    phases_latencies: list[tuple[str, float]],
    grad_ready: list[list[Any]] | None,
    hw: HardwareSpec,
    batch: int = 4,
) -> Result:
    """A costed graph whose op ``i`` has the given phase and latency (seconds)."""
    ops, costs = [], []
    for index, (phase, latency) in enumerate(phases_latencies):
        category = Category.OPTIMIZER if phase == "optimizer" else Category.GEMM
        ops.append(
            OpNode(
                name=f"op{index}",
                category=category,
                target="aten.mm.default",
                scope="",
                layer=-1,
                phase=phase,
                inputs=(),
                outputs=(),
                dims={},
                macs=1000,
                flops=2000,
                bytes_read=10,
                bytes_written=10,
            )
        )
        costs.append(
            OpCost(
                op=f"op{index}",
                category=category,
                unit="matrix",
                dtype="bf16",
                macs=1000,
                flops=2000,
                bytes_read=10,
                bytes_written=10,
                compute_s=latency,
                memory_s=0.0,
                overhead_s=0.0,
                latency_s=latency,
                bound="compute",
                traffic_bytes={level.name: 20.0 for level in hw.memory},
                level_s={},
                actions={},
                energy_j=1.0,
                energy_breakdown_j={"compute": 1.0},
            )
        )
    meta = GraphMeta(batch=batch, mode="training", model="synthetic")
    if grad_ready is not None:
        meta = meta.but(grad_ready=tuple(tuple(entry) for entry in grad_ready))
    return Result(OpGraph(tuple(ops), meta), hw, "roofline", tuple(costs))


# forward 2 ms, backward ops 1 ms each at indices 2..5 (ending at 3, 4, 5, 6 ms), optimizer 1 ms
STEP = [("forward", 1e-3), ("forward", 1e-3)] + [("backward", 1e-3)] * 4 + [("optimizer", 1e-3)]


def test_micro_batch_splits_the_global_batch() -> None:
    assert micro_batch(65536, 1024, 1) == 64
    assert micro_batch(256, 8, 4) == 8
    with pytest.raises(WorkloadError, match="--batch: global batch 100 does not split into 8"):
        micro_batch(100, 8, 1)
    with pytest.raises(WorkloadError, match="--grad-accum"):
        micro_batch(8, 1, 0)


def test_buckets_follow_ddp_caps() -> None:
    # fp32 grads of 0.5, 0.5, 10, 10, 10, 1 MiB; first cap 1 MiB, then 25 MiB; a bucket
    # closes once it reaches its cap: [0.5 + 0.5] [10 + 10 + 10] [1]
    quarter_mib = MIB // 4  # fp32 elements in 1 MiB
    grads = [
        [5, quarter_mib // 2, "fp32"],
        [4, quarter_mib // 2, "fp32"],
        [3, 10 * quarter_mib, "fp32"],
        [2, 10 * quarter_mib, "fp32"],
        [1, 10 * quarter_mib, "fp32"],
        [0, quarter_mib, "fp32"],
    ]
    buckets = gradient_buckets(grads, 25 * MIB, MIB)
    assert buckets == [(5, 2, MIB, "fp32"), (3, 3, 30 * MIB, "fp32"), (0, 1, MIB, "fp32")]
    # a dtype change closes a bucket; fp16 is 2 bytes per element
    mixed = gradient_buckets([[1, 100, "fp32"], [0, 100, "fp16"]], 25 * MIB, MIB)
    assert mixed == [(1, 1, 400, "fp32"), (0, 1, 200, "fp16")]


def test_overlap_by_hand() -> None:
    # 2 devices at 10 GB/s, no latency: ring all-reduce of n bytes = 2 * 1/2 * n / 1e10.
    # grads: 10 MB ready after op 2 (3 ms), 10 MB after op 5 (6 ms); one bucket each
    # (first cap 1 MiB: the first grad alone fills it; second bucket 25 MiB holds the rest).
    # bucket 0: 3 ms -> 4 ms; bucket 1: 6 ms -> 7 ms; backward ends at 6 ms: 1 ms exposed.
    hw = _hw()
    grads = [[2, 2_500_000, "fp32"], [5, 2_500_000, "fp32"]]
    step = data_parallel(_result(STEP, grads, hw), DataParallel(devices=2))
    assert [(b.ready_s, b.start_s, b.end_s) for b in step.buckets] == [
        pytest.approx((3e-3, 3e-3, 4e-3)),
        pytest.approx((6e-3, 6e-3, 7e-3)),
    ]
    assert step.communication_s == pytest.approx(2e-3)
    assert step.exposed_communication_s == pytest.approx(1e-3)
    # compute 6 ms forward+backward + 1 ms optimizer, plus 1 ms exposed
    assert step.step_time_s == pytest.approx(8e-3)
    summary = step.summary()
    assert summary["devices"] == 2
    assert summary["global_batch"] == 8 and summary["batch"] == 8 and summary["micro_batch"] == 4
    assert summary["throughput_samples_per_s"] == pytest.approx(8 / 8e-3)
    assert summary["by_category"]["collective"]["latency_s"] == pytest.approx(1e-3)
    assert summary["by_category"]["collective"]["busy_s"] == pytest.approx(2e-3)
    shares = sum(row["share"] for row in summary["by_category"].values())
    assert shares == pytest.approx(1.0)


def test_a_busy_link_delays_the_next_bucket() -> None:
    # 40 MB ready at 3 ms takes 4 ms (to 7 ms); 10 MB ready at 6 ms waits until 7 ms and ends
    # at 8 ms: exposed 8 - 6 = 2 ms
    hw = _hw()
    grads = [[2, 10_000_000, "fp32"], [5, 2_500_000, "fp32"]]
    step = data_parallel(_result(STEP, grads, hw), DataParallel(devices=2))
    assert step.buckets[1].start_s == pytest.approx(7e-3)
    assert step.exposed_communication_s == pytest.approx(2e-3)


def test_gradient_accumulation_communicates_once() -> None:
    # 4 micro-steps of 6 ms, 3 passes of accumulation adds, one optimizer step of 1 ms, the
    # same 1 ms exposed as above
    hw = _hw()
    grads = [[2, 2_500_000, "fp32"], [5, 2_500_000, "fp32"]]
    step = data_parallel(_result(STEP, grads, hw), DataParallel(devices=2, grad_accum=4))
    assert step.accumulation is not None
    add = step.accumulation.latency_s
    assert step.accumulation_s == pytest.approx(3 * add)
    assert step.compute_s == pytest.approx(4 * 6e-3 + 3 * add + 1e-3)
    assert step.communication_s == pytest.approx(2e-3)
    assert step.step_time_s == pytest.approx(26e-3 + 3 * add)
    assert step.summary()["global_batch"] == 4 * 2 * 4
    # energy: 6 forward/backward ops x 4 + 1 optimizer op, 1 J each, the adds 3 times, plus
    # static while waiting
    static = hw.energy.static_power * 1e-3
    assert step.energy_j == pytest.approx(25.0 + 3 * step.accumulation.energy_j + static)
    frame = step.to_frame()
    assert list(frame["count"][:9]) == [4, 4, 4, 4, 4, 4, 1, 3, 3]
    collectives = frame[frame["category"] == "collective"]
    assert list(collectives["phase"]) == ["communication", "communication"]
    assert list(collectives["latency_s"]) == pytest.approx([1e-3, 1e-3])


def test_accumulation_adds_each_gradient_into_its_sum_by_hand() -> None:
    # PyTorch's AccumulateGrad, `grad += new_grad`, once a parameter per micro-step after the
    # first: each add reads the sum and the new gradient (2 x 10 MB of fp32) and writes the
    # sum (10 MB), at no more than the device's DRAM peak
    hw = _hw()
    grads = [[2, 2_500_000, "fp32"], [5, 2_500_000, "fp32"]]
    step = data_parallel(_result(STEP, grads, hw), DataParallel(devices=1, grad_accum=2))
    assert step.accumulation is not None
    ops = step.accumulation.graph.ops
    assert [op.target for op in ops] == ["aten.add_.Tensor"] * 2
    assert {op.phase for op in ops} == {"accumulate"}
    assert [(op.bytes_read, op.bytes_written, op.flops) for op in ops] == [
        (20_000_000, 10_000_000, 2_500_000)
    ] * 2
    dram = hw.memory[-1].bandwidth
    assert step.accumulation_s == pytest.approx(step.accumulation.latency_s)
    assert step.accumulation_s >= 60_000_000 / dram
    # one micro-step has nothing to add into
    single = data_parallel(_result(STEP, grads, hw), DataParallel(devices=1, grad_accum=1))
    assert single.accumulation is None and single.accumulation_s == 0.0


def test_exchange_after_the_backward_pass_is_all_exposed() -> None:
    # the two buckets of test_overlap_by_hand, both started at the end of backward (6 ms):
    # 6 -> 7 ms and 7 -> 8 ms, all 2 ms exposed (apex's allreduce_post_accumulation)
    hw = _hw()
    grads = [[2, 2_500_000, "fp32"], [5, 2_500_000, "fp32"]]
    step = data_parallel(_result(STEP, grads, hw), DataParallel(devices=2, overlap=False))
    assert [(b.ready_s, b.start_s, b.end_s) for b in step.buckets] == [
        pytest.approx((6e-3, 6e-3, 7e-3)),
        pytest.approx((6e-3, 7e-3, 8e-3)),
    ]
    assert step.exposed_communication_s == pytest.approx(step.communication_s)
    assert step.step_time_s == pytest.approx(9e-3)


def test_a_sharded_optimizer_runs_a_device_share() -> None:
    # 4 devices: the 1 ms optimizer op runs a quarter on each device, its 1 J and 2,000
    # FLOPs too; the gradient exchange moves what the all-reduce moves (reduce-scatter +
    # all-gather, the ring's two halves)
    hw = _hw()
    grads = [[2, 2_500_000, "fp32"], [5, 2_500_000, "fp32"]]
    whole = data_parallel(_result(STEP, grads, hw), DataParallel(devices=4))
    shard = data_parallel(_result(STEP, grads, hw), DataParallel(devices=4, sharded_optimizer=True))
    assert shard.optimizer_s == pytest.approx(whole.optimizer_s / 4) == pytest.approx(0.25e-3)
    assert shard.compute_s == pytest.approx(6e-3 + 0.25e-3)
    assert shard.communication_s == pytest.approx(whole.communication_s)
    assert shard.flops == 6 * 2000 + 500
    assert shard.device_totals().energy_j == pytest.approx(6.0 + 0.25)
    assert list(shard.to_frame()["count"][:7]) == [1, 1, 1, 1, 1, 1, 0.25]


def test_one_device_is_the_single_device_step() -> None:
    hw = _hw()
    result = _result(STEP, [[2, 100, "fp32"]], hw)
    step = data_parallel(result, DataParallel())
    assert step.buckets == ()
    assert step.step_time_s == pytest.approx(result.latency_s)
    assert step.summary()["latency_s"] == pytest.approx(result.summary()["latency_s"])


def test_errors() -> None:
    hw = _hw()
    with pytest.raises(WorkloadError, match="needs a training step"):
        data_parallel(_result(STEP, None, hw), DataParallel(devices=2))
    bare = hw.model_copy(update={"interconnect": None})
    with pytest.raises(SpecError, match="interconnect: missing"):
        data_parallel(_result(STEP, [[2, 1, "fp32"]], bare), DataParallel(devices=2))
    a100 = load_hardware(HWCONFIGS / "a100.yaml")
    with pytest.raises(SpecError, match="a100: interconnect: 12 devices are not a whole number"):
        data_parallel(_result(STEP, [[2, 1, "fp32"]], a100), DataParallel(devices=12))


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 20_000_000), min_size=1, max_size=12),
    devices=st.sampled_from([2, 4, 8]),
    accum=st.integers(1, 4),
)
def test_exposed_communication_is_bounded(sizes: list[int], devices: int, accum: int) -> None:
    # exposed communication is never negative and never more than all of it; the step is
    # never shorter than its compute nor longer than compute plus all communication
    hw = _hw()
    grads = [[2 + (i % 4), size, "fp32"] for i, size in enumerate(sorted(sizes))]
    grads.sort(key=lambda g: g[0])
    step = data_parallel(_result(STEP, grads, hw), DataParallel(devices=devices, grad_accum=accum))
    assert 0.0 <= step.exposed_communication_s <= step.communication_s + 1e-15
    assert step.compute_s <= step.step_time_s <= step.compute_s + step.communication_s + 1e-15
    assert sum(b.nbytes for b in step.buckets) == 4 * sum(sizes)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 5_000_000), min_size=1, max_size=8),
    accum=st.integers(1, 8),
    dtype=st.sampled_from(["fp32", "fp16"]),
)
def test_accumulation_grows_with_the_micro_steps(sizes: list[int], accum: int, dtype: str) -> None:
    # grad_accum - 1 passes, each no cheaper than its bytes at the DRAM peak; one more
    # micro-step never shortens the step nor lowers its energy, and no energy is negative
    hw = _hw()
    grads = [[2, size, dtype] for size in sizes]
    steps = [
        data_parallel(_result(STEP, grads, hw), DataParallel(devices=1, grad_accum=g))
        for g in (accum, accum + 1)
    ]
    one_pass = steps[1].accumulation
    assert one_pass is not None
    width = 4 if dtype == "fp32" else 2
    floor = 3 * width * sum(sizes) / hw.memory[-1].bandwidth
    assert one_pass.latency_s >= floor * (1 - 1e-12)
    assert steps[1].accumulation_s == pytest.approx(accum * one_pass.latency_s)
    assert steps[0].accumulation_s == pytest.approx((accum - 1) * one_pass.latency_s)
    assert steps[1].step_time_s > steps[0].step_time_s
    assert steps[1].energy_j > steps[0].energy_j
    assert all(value >= 0 for value in steps[1].energy_breakdown_j().values())


def test_interconnect_energy_when_the_file_prices_links() -> None:
    # 2 devices send 2 * 1/2 * 20 MB = 20 MB each (ring); at 10 pJ/B that is 0.2 mJ
    hw = _hw()
    assert hw.interconnect is not None
    priced = hw.model_copy(
        update={"interconnect": hw.interconnect.model_copy(update={"energy_per_byte": 10e-12})}
    )
    grads = [[2, 2_500_000, "fp32"], [5, 2_500_000, "fp32"]]
    unpriced = data_parallel(_result(STEP, grads, hw), DataParallel(devices=2))
    assert "interconnect" not in unpriced.energy_breakdown_j()
    step = data_parallel(_result(STEP, grads, priced), DataParallel(devices=2))
    assert step.sent_bytes == pytest.approx(20e6)
    assert step.energy_breakdown_j()["interconnect"] == pytest.approx(2e-4)
    assert step.energy_j == pytest.approx(unpriced.energy_j + 2e-4)
