"""Systolic arrays sharing a core (`perfsim.engines.cycle.cores`): blocks and traffic by
hand, the blocking's properties, and the TPUv3 file through the cycle engine."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.engines.cycle.cores import (
    ACCUMULATOR_BYTES,
    CoreRun,
    Cores,
    block_candidates,
    core_array,
    shared_core_gemm,
    split_over_cores,
)
from perfsim.engines.cycle.engine import Cycle
from perfsim.engines.cycle.systolic import SystolicArray, gemm_cycles
from perfsim.engines.gpu_gemm import GemmProblem
from perfsim.engines.roofline import Roofline
from perfsim.hardware import resolve_hardware
from perfsim.sweep.override import override
from tests.test_gpu_gemm import gemm_op

# a 4 x 4 weight-stationary array, 1-byte words, its own 64 / 64 / 256-byte buffers
ARRAY = SystolicArray(
    rows=4,
    cols=4,
    dataflow="ws",
    ifmap_sram_bytes=64,
    filter_sram_bytes=64,
    ofmap_sram_bytes=256,
    word_bytes=1,
    dram_words_per_cycle=1,
)


def run(m: int, n: int, k: int, *, b: int = 1, bandwidth: float = 4.0) -> CoreRun:
    problem = GemmProblem(b, m, n, k, 1, 1)
    return shared_core_gemm(problem, ARRAY, Cores(4, 2, bandwidth))


def test_two_arrays_side_by_side_share_their_buffers() -> None:
    core = core_array(ARRAY, 2)
    assert (core.rows, core.cols) == (4, 8)
    assert (core.ifmap_sram_bytes, core.filter_sram_bytes, core.ofmap_sram_bytes) == (128, 128, 512)
    assert core.dram_words_per_cycle is None  # the blocks' DRAM time is costed apart


def test_a_gemm_by_hand() -> None:
    # 4 arrays, 2 to a core: 2 cores each take 8 of the 16 rows
    assert split_over_cores(1, 16, 2) == (1, 8, 2, 2)
    # A panel 8 x 8 = 64 B fits half the 128-byte ifmap buffer; accumulators: 512 B /
    # (8 columns x 4 B) = 16 rows: one block of all 8 rows
    assert block_candidates(8, 8, core_array(ARRAY, 2)) == (8,)
    result = run(16, 8, 8, bandwidth=4.0)
    folds = gemm_cycles(8, 8, 8, core_array(ARRAY, 2)).compute_cycles
    # DRAM per core: A 64 + B 64 + C 64 = 192 B at 4 / 2 cores = 2 B per cycle: 96 cycles,
    # longer than the folds: the block takes its DRAM time
    assert folds < 96 and result.total_cycles == 96 and result.compute_cycles == folds
    assert (result.dram_ifmap_reads, result.dram_filter_reads, result.dram_ofmap_writes) == (
        128,
        128,
        128,
    )
    assert result.blocks == 1 and result.cores_used == 2
    # with bandwidth to spare the folds set the time
    fast = run(16, 8, 8, bandwidth=1000.0)
    assert fast.total_cycles == folds


def test_the_blocking_trades_panel_rereads_for_weight_rereads() -> None:
    # 1 KiB ifmap and ofmap buffers an array: a core holds a 16 x 64 panel in half its
    # ifmap and the fp32 accumulators of 64 rows x 8 columns; m = 128 (64 a core), n = 16
    # (2 column folds), k = 64
    big = replace(ARRAY, ifmap_sram_bytes=1024, ofmap_sram_bytes=1024)
    assert block_candidates(64, 64, core_array(big, 2)) == (16, 32, 64)

    def at(bandwidth: float):  # type: ignore[no-untyped-def]
        return shared_core_gemm(GemmProblem(1, 128, 16, 64, 1, 1), big, Cores(4, 2, bandwidth))

    # with DRAM to spare the fewest blocks win (one preload and skew per fold per block):
    # one block of 64 rows, its 64 x 64 panel streamed again for the second column fold
    wide = at(1e9)
    assert wide.blocks == 1 and wide.dram_ifmap_reads == 2 * (64 * 64 * 2)
    # at a narrow DRAM the panels that fit win: 4 blocks of 16 rows read A once and B
    # four times (2 x (4,096 + 4 x 1,024 + 1,024) = 18,432 B against 20,480)
    narrow = at(0.5)
    assert narrow.blocks == 4 and narrow.dram_ifmap_reads == 128 * 64
    assert narrow.dram_filter_reads == 2 * 4 * 64 * 16


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 300),
    n=st.integers(1, 64),
    k=st.integers(1, 64),
    b=st.integers(1, 5),
    bandwidth=st.floats(0.25, 64.0),
    scale=st.floats(1.0, 8.0),
)
def test_blocking_properties(
    m: int, n: int, k: int, b: int, bandwidth: float, scale: float
) -> None:
    result = run(m, n, k, b=b, bandwidth=bandwidth)
    # every operand crosses DRAM at least once; the time is never below the folds
    assert result.dram_ifmap_reads >= b * m * k and result.dram_ofmap_writes == b * m * n
    assert result.dram_filter_reads >= b * k * n or result.cores_used > 1
    assert result.total_cycles >= result.compute_cycles
    # the peak bound: 4 arrays of 16 MACs a cycle
    assert result.total_cycles * 4 * 16 >= b * m * n * k * (1 - 1e-12)
    # more DRAM bandwidth never makes it slower
    assert run(m, n, k, b=b, bandwidth=bandwidth * scale).total_cycles <= result.total_cycles


def test_accumulators_bound_the_block() -> None:
    # ofmap 256 B an array: 512 B a core / (8 columns x 4 B) = 16 rows at most
    core = core_array(ARRAY, 2)
    assert max(block_candidates(1000, 1, core)) == 512 // (8 * ACCUMULATOR_BYTES)


# ---- the TPUv3 file ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tpu():  # type: ignore[no-untyped-def]
    return resolve_hardware("tpu-v3")


def test_tpu_v3_streams_each_operand_once_where_it_fits(tpu) -> None:  # type: ignore[no-untyped-def]
    # bert-large's Q projection at b64 s128 (8,192 tokens): each core takes 4,096 rows
    op = replace(gemm_op(8192, 1024, 1024, "fp16"), dims={"b": 1, "m": 8192, "n": 1024, "k": 1024})
    op = replace(op, inputs=tuple(replace(t, dtype="bf16") for t in op.inputs))
    op = replace(op, outputs=tuple(replace(t, dtype="bf16") for t in op.outputs))
    shared = Cycle().op_cost(op, tpu)
    # the same part as SCALE-Sim's per-array model (which has no fold pipelining)
    unpipelined = override(tpu, "compute.matrix.pipelined_folds", False)
    per_array = Cycle().op_cost(op, override(unpipelined, "compute.matrix.arrays_per_core", None))
    roofline = Roofline().op_cost(op, tpu)
    # DRAM: the per-array model streams A into every array and writes every fold's partial
    # sums; shared, A is read once a column fold, B once a block, C written once
    assert shared.traffic_bytes["hbm"] < per_array.traffic_bytes["hbm"] / 2
    assert shared.details["dram_ofmap_writes"] == 8192 * 1024
    # the roofline is a lower bound of the cycle model
    assert roofline.latency_s <= shared.latency_s


def test_pipelined_folds_by_hand() -> None:
    """Weight-stationary folds back to back: one preload, each fold but the last taking
    the longer of T and the next tile's shift-in, one fill and drain of the skew."""
    from perfsim.engines.cycle.folds import dataflow_mapping, fold_mapping, pipelined_cycles

    # 256 x 256 x 256 on a 128 x 128 ws array: k and n in 2 folds each, T = m = 256
    folds = fold_mapping(dataflow_mapping("ws", 256, 256, 256), 128, 128)
    assert (folds.count, folds.mapping.t, folds.preload) == (4, 256, 128)
    assert folds.cycles == 256 + 128 + 128 - 2 + 128  # SCALE-Sim: 638 a fold
    assert pipelined_cycles(folds) == 128 + 4 * 256 + 128 + 128 - 2  # 1,406, not 2,552
    # fewer rows than the tile takes to shift in: each fold waits for the next tile
    short = fold_mapping(dataflow_mapping("ws", 64, 256, 256), 128, 128)
    assert pipelined_cycles(short) == 128 + 3 * 128 + 64 + 128 + 128 - 2
    # output stationary preloads nothing: the folds stream back to back
    os_folds = fold_mapping(dataflow_mapping("os", 256, 256, 64), 128, 128)
    assert pipelined_cycles(os_folds) == 4 * 64 + 128 + 128 - 2


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 600),
    n=st.integers(1, 600),
    k=st.integers(1, 600),
    dataflow=st.sampled_from(["os", "ws", "is"]),
)
def test_pipelined_folds_never_slower(m: int, n: int, k: int, dataflow: str) -> None:
    from perfsim.engines.cycle.folds import dataflow_mapping, fold_mapping, pipelined_cycles

    folds = fold_mapping(dataflow_mapping(dataflow, m, n, k), 32, 16)  # type: ignore[arg-type]
    pipelined = pipelined_cycles(folds)
    assert pipelined <= folds.count * folds.cycles
    # never below the streaming itself
    assert pipelined >= folds.count * folds.mapping.t
    if folds.count == 1 and folds.mapping.t >= folds.preload:
        assert pipelined == folds.cycles


def test_a_core_with_pipelined_folds(tpu) -> None:  # type: ignore[no-untyped-def]
    """The TPU v3 file pipelines its folds: bert-large's FFN GEMM runs faster than with
    SCALE-Sim's per-fold preload and skew, the same words move, and the roofline stays a
    lower bound."""
    op = replace(gemm_op(8192, 4096, 1024, "fp16"), dims={"b": 1, "m": 8192, "n": 4096, "k": 1024})
    op = replace(op, inputs=tuple(replace(t, dtype="bf16") for t in op.inputs))
    op = replace(op, outputs=tuple(replace(t, dtype="bf16") for t in op.outputs))
    assert tpu.compute.matrix.pipelined_folds
    pipelined = Cycle().op_cost(op, tpu)
    per_fold = Cycle().op_cost(op, override(tpu, "compute.matrix.pipelined_folds", False))
    assert pipelined.latency_s < per_fold.latency_s
    assert pipelined.traffic_bytes == per_fold.traffic_bytes
    assert Roofline().op_cost(op, tpu).latency_s <= pipelined.latency_s
    with pytest.raises(Exception, match="pipelined_folds is modelled for systolic arrays"):
        override(tpu, "compute.matrix.arrays_per_core", None)
