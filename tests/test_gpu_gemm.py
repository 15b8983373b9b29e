"""GPU GEMMs as CUTLASS runs them (`perfsim.engines.gpu_gemm`): hand-derived tiles,
mainloops and waves, the library heuristic's properties, and both engines on a100.yaml."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.engines.cycle.engine import Cycle
from perfsim.engines.gpu_gemm import (
    GemmProblem,
    GpuUnits,
    LibraryTile,
    choose_plan,
    ideal_seconds,
    library_plan,
    plan_gemm,
    split_factors,
    step_cycles,
)
from perfsim.engines.roofline import Roofline
from perfsim.hardware import load_hardware
from perfsim.hardware.ideal import ideal_hardware
from perfsim.ir import Category, OpNode, TensorSpec
from tests.conftest import HWCONFIGS

# A100-like units: 108 SMs at 1.41 GHz, 1024 fp16 MACs/clk, 128 B/clk and 192 KiB of
# shared memory per SM; no fill latency and a free reduction unless a test sets them
A100 = GpuUnits(
    units=108, clock=1.41e9, macs_per_cycle=1024, smem_bytes_per_cycle=128, smem_bytes=196608
)
BIG = LibraryTile(128, 256, 64, 3, 2, 4)  # CUTLASS Sm80 f16 [128, 256, 64], 3 stages, 2x4 warps
SMALL = LibraryTile(64, 64, 64, 5, 2, 2)  # CUTLASS Sm80 f16 [64, 64, 64], 5 stages, 2x2 warps


def fp16(m: int, n: int, k: int, batch: int = 1) -> GemmProblem:
    return GemmProblem(batch=batch, m=m, n=n, k=k, in_bytes=2, out_bytes=2)


def test_mainloop_waves_and_epilogue_by_hand() -> None:
    plan = plan_gemm(fp16(4096, 1024, 1024), BIG, 1, A100)
    assert plan is not None
    # pipeline: 3 stages x (128 + 256) x 64 x 2 B = 147456 B; 196608 // 147456 = 1 per SM
    assert plan.tiles_per_unit == 1
    # tiles: (4096 / 128) x (1024 / 256) = 32 x 4 = 128 >= 108 SMs: no split-K
    assert plan.tiles == 128 and plan.split_k == 1
    # waves: ceil(128 / (108 x 1)) = 2; mainloop: 1024 / 64 = 16 steps
    assert plan.waves == 2 and plan.steps == 16
    # MACs per step: 128 x 256 x 64 / 1024 = 2048 cycles
    assert plan.mac_cycles == 2048
    # shared memory per step: written (128 + 256) x 64 = 24576 values; read by 4 warp
    # columns (A) and 2 warp rows (B): (4 x 128 + 2 x 256) x 64 = 65536; 90112 x 2 B / 128
    assert plan.smem_cycles == pytest.approx(1408)
    # epilogue: 128 x 256 outputs x 2 B through shared memory twice / 128 B = 1024 cycles
    assert plan.epilogue_cycles == 1024
    # busiest SM: ceil(128 / 108) = 2 tiles x 16 x 2048 + 2 waves x 1024 = 67584 cycles
    assert plan.seconds == pytest.approx(67584 / 1.41e9)
    # 4096 x 1024 x 1024 MACs / (108 x 1024 x 1.41 GHz) = 27.5 us ideal; 47.9 us achieved
    assert ideal_seconds(fp16(4096, 1024, 1024), A100) == pytest.approx(
        2**32 / (108 * 1024 * 1.41e9)
    )


def test_small_tile_starves_on_shared_memory() -> None:
    # MACs: 64 x 64 x 64 / 1024 = 256 cycles; shared memory: written 128 x 64 = 8192,
    # read (2 x 64 + 2 x 64) x 64 = 16384; 24576 x 2 B / 128 B = 384 cycles > 256
    mac_cycles, smem_cycles = step_cycles(SMALL, fp16(64, 64, 64), A100)
    assert (mac_cycles, smem_cycles) == (256, 384)
    plan = plan_gemm(fp16(64, 64, 64), SMALL, 1, A100)
    assert plan is not None and plan.step_cycles == 384  # 2/3 of the tensor-core rate


def test_occupancy_and_wave_quantization() -> None:
    tile = LibraryTile(64, 64, 32, 10, 2, 2)
    plan = plan_gemm(fp16(4096, 4096, 1024), tile, 1, A100)
    assert plan is not None
    # 10 x (64 + 64) x 32 x 2 B = 81920 B: 196608 // 81920 = 2 tiles per SM
    # tiles 64 x 64 = 4096; waves ceil(4096 / 216) = 19; busiest SM ceil(4096 / 108) = 38
    assert (plan.tiles_per_unit, plan.tiles, plan.waves) == (2, 4096, 19)
    steps, step = 1024 // 32, max(plan.mac_cycles, plan.smem_cycles)
    assert plan.seconds == pytest.approx((38 * steps * step + 19 * plan.epilogue_cycles) / 1.41e9)


def test_split_k_when_tiles_are_fewer_than_units() -> None:
    units = replace(A100, fill_s=0.0, reduce_bandwidth=7.219e12)
    problem = fp16(128, 256, 8192)
    # one output tile < 108 SMs; every split keeps >= 3 stages x 64 = 192 of k
    assert split_factors(problem, BIG, units) == (1, 2, 3, 4, 5, 6, 8, 16)
    plan = choose_plan(problem, [BIG], units)
    assert plan is not None and plan.split_k == 16
    # 8192 / 16 = 512 -> 8 steps x 2048 cycles; epilogue: 2 x 128 x 256 x 2 B / 128 = 1024;
    # 15 serial handoffs, each the fp16 tile read and written through one SM's 128 B/clk
    # port (2 x 65536 B / 180.48 GB/s = 1024 cycles)
    assert plan.reduce_s == pytest.approx(15 * 1024 / 1.41e9)
    assert plan.seconds == pytest.approx((8 * 2048 + 1024 + 15 * 1024) / 1.41e9)
    # enough output tiles: no split-K at all
    assert split_factors(fp16(4096, 4096, 8192), BIG, units) == (1,)


def test_serial_split_k_pays_a_semaphore_handoff_per_extra_split() -> None:
    # the handoff waits the next level's latency (a100.yaml's L2: 142 ns) before each read
    base = replace(A100, reduce_bandwidth=7.219e12)
    slow = replace(base, reduce_latency_s=142e-9)
    problem = fp16(128, 256, 8192)
    for split in (2, 4, 8):
        fast, late = plan_gemm(problem, BIG, split, base), plan_gemm(problem, BIG, split, slow)
        assert fast is not None and late is not None
        assert late.seconds - fast.seconds == pytest.approx((split - 1) * 142e-9)
    # the port is one SM's, never more than the next level: a narrow L2 binds
    narrow = replace(base, reduce_bandwidth=90.24e9)  # half of 128 B x 1.41 GHz
    plan = plan_gemm(problem, BIG, 2, narrow)
    assert plan is not None and plan.reduce_s == pytest.approx(2 * 65536 / 90.24e9)


def test_prologue_waits_the_farthest_level_once_per_wave() -> None:
    units = replace(A100, fill_s=284e-9)  # a100.yaml's HBM latency: 400 cycles at 1.41 GHz
    plan = plan_gemm(fp16(4096, 1024, 1024), BIG, 1, units)
    assert plan is not None and plan.prologue_cycles == pytest.approx(400.44)
    assert plan.seconds == pytest.approx((67584 + 2 * 400.44) / 1.41e9)


def test_tile_that_does_not_fit_is_not_run() -> None:
    assert plan_gemm(fp16(128, 256, 64), BIG, 1, replace(A100, smem_bytes=96 * 1024)) is None


# ---- properties ------------------------------------------------------------------------

SHIPPED = [
    LibraryTile.from_row(row)
    for row in load_hardware(HWCONFIGS / "a100.yaml").compute.matrix.library_tiles["fp16"]
]  # type: ignore[union-attr,index]

problems = st.builds(
    fp16,
    m=st.integers(1, 8192),
    n=st.integers(1, 8192),
    k=st.integers(1, 8192),
    batch=st.integers(1, 64),
)
unit_counts = st.integers(1, 160)


@settings(max_examples=60, deadline=None)
@given(problem=problems, units=unit_counts, scale=st.floats(1.0, 4.0))
def test_library_heuristic_properties(problem: GemmProblem, units: int, scale: float) -> None:
    base = replace(A100, units=units, fill_s=284e-9, reduce_bandwidth=7.219e12)
    plan = choose_plan(problem, SHIPPED, base)
    assert plan is not None and plan.tile in SHIPPED  # a tile the library ships
    # the datasheet peak is never above the achieved time
    assert ideal_seconds(problem, base) <= plan.seconds * (1 + 1e-12)
    # more SMs, more shared-memory or reduction bandwidth, a higher clock: never slower
    faster = [
        replace(base, units=units + max(1, int(units * (scale - 1)))),
        replace(base, smem_bytes_per_cycle=base.smem_bytes_per_cycle * scale),
        replace(base, reduce_bandwidth=base.reduce_bandwidth * scale),
        replace(base, clock=base.clock * scale),
    ]
    for better in faster:
        other = choose_plan(problem, SHIPPED, better)
        assert other is not None and other.seconds <= plan.seconds * (1 + 1e-12)


# ---- both engines on a100.yaml -----------------------------------------------------------


def gemm_op(m: int, n: int, k: int, dtype: str = "fp16", batch: int = 1) -> OpNode:
    bits = {"fp16": 2, "bf16": 2, "fp32": 4, "tf32": 4, "int8": 1}[dtype]
    return OpNode(
        name="mm",
        category=Category.GEMM if batch == 1 else Category.ATTN_GEMM,
        target="aten.bmm.default",
        scope="",
        layer=0,
        phase="forward",
        inputs=(TensorSpec((batch, m, k), dtype), TensorSpec((batch, k, n), dtype)),
        outputs=(TensorSpec((batch, m, n), dtype),),
        dims={"b": batch, "m": m, "n": n, "k": k},
        macs=batch * m * n * k,
        flops=2 * batch * m * n * k,
        bytes_read=bits * batch * (m * k + k * n),
        bytes_written=bits * batch * m * n,
    )


@pytest.fixture(scope="module")
def a100():  # type: ignore[no-untyped-def]
    return load_hardware(HWCONFIGS / "a100.yaml")


@pytest.mark.parametrize(
    ("m", "n", "k", "dtype", "batch"),
    [
        (12288, 1024, 1024, "fp16", 1),  # bert-large b32 s384 projection
        (384, 4096, 1024, "fp16", 1),  # batch 1
        (384, 384, 64, "fp16", 512),  # attention scores: 32 x 16 heads of QK^T
        (12288, 1024, 1024, "int8", 1),
        (12288, 1024, 1024, "fp32", 1),  # CUTLASS SIMT on the CUDA cores
    ],
)
def test_engines_use_the_library_plan(a100, m, n, k, dtype, batch) -> None:  # type: ignore[no-untyped-def]
    op = gemm_op(m, n, k, dtype, batch)
    ideal = Roofline().op_cost(op, ideal_hardware(a100))
    assert "tile_m" not in ideal.details  # no library tiles: the datasheet peak exactly
    peak = a100.matrix_peak_flops(dtype) or a100.vector_peak_flops(dtype)
    assert ideal.compute_s == pytest.approx(op.flops / peak)
    for engine in (Roofline(), Cycle()):
        cost = engine.op_cost(op, a100)
        tile = [cost.details[key] for key in ("tile_m", "tile_n", "tile_k")]
        shipped = a100.compute.matrix.library_tiles[dtype]
        assert tile in [list(row[:3]) for row in shipped]
        assert cost.latency_s >= ideal.latency_s
        assert cost.details["waves"] >= 1


def test_files_without_library_tiles_keep_todays_numbers() -> None:
    mi100 = load_hardware(HWCONFIGS / "mi100.yaml")
    assert mi100.compute.matrix.library_tiles is None  # type: ignore[union-attr]
    op = gemm_op(12288, 1024, 1024)
    cost = Roofline().op_cost(op, mi100)
    assert cost.compute_s == op.flops / mi100.matrix_peak_flops("fp16")
    # no tiles: its compute is the ideal bound's; its memory levels have achievable
    # fractions (gpu-benches measurements), which the ideal bound drops
    ideal = Roofline().op_cost(op, ideal_hardware(mi100))
    assert cost.compute_s == ideal.compute_s
    assert cost.memory_s > ideal.memory_s


def _with_achievable(hw, achievable):  # type: ignore[no-untyped-def]
    """``hw`` with ``compute.matrix.library_achievable`` set to ``achievable``."""
    data = hw.model_dump()
    data["compute"]["matrix"]["library_achievable"] = achievable
    return type(hw).from_si(data)


def test_achievable_fraction_slows_the_mainloop_by_hand(a100) -> None:  # type: ignore[no-untyped-def]
    """a100.yaml: fp16 0.869 (A100 SXM's published best-shape bf16 rate, 271.2 of 312
    TFLOP/s), fp32 SIMT 0.969 (cuBLAS SGEMM 18.88 of 19.49), int8 0.814 (a CUTLASS int8
    GEMM at 507.6 of 623.8 TOP/s), tf32 0.861 (PyTorch's docs: a 10240^3 product in
    0.016 s). A mainloop step's MAC cycles are the tile's MACs at that fraction of the
    unit's rate (a 128 x 256 x 32 tile at 1024 x 0.869 MACs per cycle: 1,178.4 cycles;
    without the fraction 1,024)."""
    assert a100.compute.matrix.library_achievable == {
        "fp16": 0.869,
        "bf16": 0.869,
        "int8": 0.814,
        "tf32": 0.861,
        "fp32": 0.969,
    }
    full = _with_achievable(a100, None)
    op = gemm_op(12288, 1024, 1024)
    plan = library_plan(op, a100, "fp16", on_matrix=True)
    plan_full = library_plan(op, full, "fp16", on_matrix=True)
    assert plan is not None and plan_full is not None
    for chosen, rate in ((plan, 1024 * 0.869), (plan_full, 1024)):
        tile_macs = chosen.tile.m * chosen.tile.n * chosen.tile.k
        assert chosen.mac_cycles == pytest.approx(tile_macs / rate)
    simt = library_plan(gemm_op(12288, 1024, 1024, "fp32"), a100, "fp32", on_matrix=False)
    assert simt is not None
    # SIMT: one MAC per FMA lane, 128 FLOP per cycle per SM = 64 FMAs, at 0.969
    assert simt.mac_cycles == pytest.approx(simt.tile.m * simt.tile.n * simt.tile.k / (64 * 0.969))
    # int8: 2,048 MACs per cycle per SM at 0.814
    imma = library_plan(gemm_op(12288, 1024, 1024, "int8"), a100, "int8", on_matrix=True)
    assert imma is not None
    imma_macs = imma.tile.m * imma.tile.n * imma.tile.k
    assert imma.mac_cycles == pytest.approx(imma_macs / (2048 * 0.814))
    # tf32: 512 MACs per cycle per SM at 0.861
    tf32 = library_plan(gemm_op(12288, 1024, 1024, "tf32"), a100, "tf32", on_matrix=True)
    assert tf32 is not None
    tf32_macs = tf32.tile.m * tf32.tile.n * tf32.tile.k
    assert tf32.mac_cycles == pytest.approx(tf32_macs / (512 * 0.861))
    # a mainloop-bound GEMM is slower by at most 1 / fraction, never faster
    slow = Roofline().op_cost(op, a100).compute_s
    fast = Roofline().op_cost(op, full).compute_s
    assert fast < slow <= fast / 0.869 * (1 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 20000),
    n=st.sampled_from([64, 768, 1024, 3072, 4096]),
    k=st.sampled_from([64, 768, 1024, 3072, 4096]),
    low=st.floats(0.3, 1.0),
    high=st.floats(0.3, 1.0),
)
def test_a_lower_achievable_fraction_is_never_faster(a100, m, n, k, low, high) -> None:  # type: ignore[no-untyped-def]
    low, high = sorted((low, high))
    op = gemm_op(m, n, k)
    for engine in (Roofline(), Cycle()):
        slower = engine.op_cost(op, _with_achievable(a100, {"fp16": low})).latency_s
        faster = engine.op_cost(op, _with_achievable(a100, {"fp16": high})).latency_s
        assert slower >= faster * (1 - 1e-12)


def test_achievable_fraction_needs_the_dtype_tiled(a100) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="library_achievable lists fp8, which library_tiles"):
        _with_achievable(a100, {"fp8": 0.9})


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 20000),
    n=st.sampled_from([64, 768, 1024, 3072, 4096]),
    k=st.sampled_from([64, 768, 1024, 3072, 4096]),
    short=st.floats(0.0, 2e-6),
    extra=st.floats(0.0, 2e-6),
)
def test_a_longer_memory_latency_is_never_faster(
    m: int, n: int, k: int, short: float, extra: float
) -> None:
    # the DRAM latency a wave's prologue waits and the L2 latency of a split-K handoff
    # (session 19 took the GPU files' latencies from pointer-chase measurements): the
    # heuristic's best plan over the shipped tiles only gets slower as they grow
    def best(latency: float) -> float:
        units = replace(A100, fill_s=latency, reduce_latency_s=latency / 2)
        plan = choose_plan(fp16(m, n, k), (BIG, SMALL), units)
        assert plan is not None
        return plan.seconds

    assert best(short + extra) >= best(short)


# ---- a kernel's own rate (a tile row's seventh value) ------------------------------------

# H100-like SIMT units: 132 SMs, 128 fp32 FMAs a cycle each, 128 B/clk of shared memory
HOPPER_SIMT = GpuUnits(
    units=132, clock=1.98e9, macs_per_cycle=128, smem_bytes_per_cycle=128, smem_bytes=233472
)


def fp32(m: int, n: int, k: int) -> GemmProblem:
    return GemmProblem(batch=1, m=m, n=n, k=k, in_bytes=4, out_bytes=4)


def test_tile_row_takes_an_optional_relative_rate() -> None:
    assert LibraryTile.from_row([128, 128, 8, 3, 2, 2]).rate == 1.0
    tile = LibraryTile.from_row([64, 64, 8, 3, 1, 4, 0.751])
    assert (tile.m, tile.n, tile.k, tile.stages, tile.warps_m, tile.warps_n) == (64, 64, 8, 3, 1, 4)
    assert tile.rate == 0.751


def test_kernel_rate_slows_its_mainloop_by_hand() -> None:
    # 64 x 64 x 8 at 0.75 of 128 FMAs a cycle: 32768 / 96 = 341.3 cycles a step (256 at 1)
    slow = LibraryTile(64, 64, 8, 3, 1, 4, 0.75)
    fast = replace(slow, rate=1.0)
    assert step_cycles(slow, fp32(64, 64, 8), HOPPER_SIMT)[0] == pytest.approx(32768 / 96)
    assert step_cycles(fast, fp32(64, 64, 8), HOPPER_SIMT)[0] == 256
    # 8192^3 in 64 x 64 tiles: 128 x 128 = 16384 tiles, 125 on the busiest SM, 1024 steps
    # each; at 0.75 the mainloop takes 1 / 0.75 of the full-rate time, the waves' epilogues
    # the same
    problem = fp32(8192, 8192, 8192)
    slow_plan = plan_gemm(problem, slow, 1, HOPPER_SIMT)
    fast_plan = plan_gemm(problem, fast, 1, HOPPER_SIMT)
    assert slow_plan is not None and fast_plan is not None
    mainloop = 125 * 1024 * 256  # ceil(16384 / 132) tiles x 1024 steps x 256 cycles
    assert fast_plan.seconds * HOPPER_SIMT.clock == pytest.approx(
        mainloop + fast_plan.waves * fast_plan.epilogue_cycles
    )
    assert slow_plan.seconds * HOPPER_SIMT.clock == pytest.approx(
        mainloop / 0.75 + slow_plan.waves * slow_plan.epilogue_cycles
    )


def test_bert_base_projection_on_hopper_takes_the_rates_into_account() -> None:
    """bert-base b32 s128's 4096 x 768 x 768 fp32 projection on 132 SMs, mainloops only:
    128 x 128 tiles make 32 x 6 = 192 tiles, 2 on the busiest SM; 64 x 64 tiles 768, 6 on
    it, each a quarter of the work. At full rate 64 x 64 wins (6 / 4 = 1.5 < 2 tile-times);
    at cuBLAS's measured 0.751 it no longer does (1.5 / 0.751 = 2.0), and 128 x 64 at
    0.867 (384 tiles, 3 a SM, half the work each: 1.5 / 0.867 = 1.73) is the best."""
    problem = fp32(4096, 768, 768)
    big = LibraryTile(128, 128, 8, 3, 2, 2)
    small = LibraryTile(64, 64, 8, 3, 1, 4, 0.751)
    middle = LibraryTile(128, 64, 8, 3, 2, 2, 0.867)
    equal = [replace(tile, rate=1.0) for tile in (big, small, middle)]
    chosen = choose_plan(problem, equal, HOPPER_SIMT)
    assert chosen is not None and (chosen.tile.m, chosen.tile.n) == (64, 64)
    chosen = choose_plan(problem, [big, small, middle], HOPPER_SIMT)
    assert chosen is not None and chosen.tile == middle
    assert chosen.waves == 1 and chosen.tiles == 384


@settings(max_examples=60, deadline=None)
@given(
    problem=st.builds(
        fp32, m=st.integers(1, 16384), n=st.integers(1, 8192), k=st.integers(1, 8192)
    ),
    low=st.floats(0.05, 1.0),
    high=st.floats(0.05, 1.0),
)
def test_a_slower_kernel_never_makes_the_library_faster(
    problem: GemmProblem, low: float, high: float
) -> None:
    low, high = sorted((low, high))
    tiles = [LibraryTile(128, 128, 8, 3, 2, 2), LibraryTile(64, 64, 8, 3, 1, 4)]
    for index in range(len(tiles)):
        slower = [replace(t, rate=low) if i == index else t for i, t in enumerate(tiles)]
        faster = [replace(t, rate=high) if i == index else t for i, t in enumerate(tiles)]
        slow_plan = choose_plan(problem, slower, HOPPER_SIMT)
        fast_plan = choose_plan(problem, faster, HOPPER_SIMT)
        assert slow_plan is not None and fast_plan is not None
        assert slow_plan.seconds >= fast_plan.seconds * (1 - 1e-12)
        assert ideal_seconds(problem, HOPPER_SIMT) <= slow_plan.seconds * (1 + 1e-12)


def test_tile_rate_must_be_a_fraction(a100) -> None:  # type: ignore[no-untyped-def]
    for bad in (0.0, 1.2):
        data = a100.model_dump()
        data["compute"]["matrix"]["library_tiles"]["fp32"] = [[128, 128, 8, 3, 2, 2, bad]]
        with pytest.raises(ValueError, match=r"library_tiles[\s\S]*rate is a fraction"):
            type(a100).from_si(data)
