"""apex's fmhalib attention (`perfsim.whatif.fmha`): keys, stored probabilities, by hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.cache import GraphStore
from perfsim.errors import WorkloadError
from perfsim.ir import Category, OpGraph, TensorSpec
from perfsim.parallel.schedule import load_schedule
from perfsim.scenario import Parallelism, Scenario
from perfsim.whatif import fuse, parse_whatifs
from perfsim.whatif.flash import flash_blocks
from perfsim.whatif.fmha import kernel_keys, widen_keys
from perfsim.workload import load_workload
from tests.test_gpu_gemm import gemm_op

# bert-tiny: 2 heads of d = 64, 2 layers; batch B = 2, seq L = 16: the 128-key kernel
B, L, HEADS, D, KEYS = 2, 16, 2, 64, 128


@pytest.fixture(scope="module")
def tiny_training(graph_cache: Path) -> OpGraph:
    step = load_workload("bert-tiny", batch=B, seq=L, mode="training")
    return GraphStore(graph_cache).graph(step)


@pytest.mark.parametrize(
    ("longest", "keys"), [(1, 128), (128, 128), (129, 256), (300, 384), (512, 512)]
)
def test_kernel_keys_as_fmha_api_picks_them(longest: int, keys: int) -> None:
    # fmha_api.cpp: max_seq_len <= 128 -> the 128 kernel, <= 256, <= 384, <= 512
    assert kernel_keys(longest) == keys


def test_kernel_keys_refuses_longer_sequences() -> None:
    with pytest.raises(WorkloadError, match="at most 512 tokens, got 513"):
        kernel_keys(513)


def test_widen_keys_by_hand() -> None:
    # QK^T of 32 (sequence, head) pairs of 100 tokens: n (the keys) becomes 128
    traced_qk = gemm_op(100, 100, 64, batch=32)
    qk = widen_keys(traced_qk, 100, 128)
    assert qk.dims == {"b": 32, "m": 100, "n": 128, "k": 64}
    assert qk.macs == 32 * 100 * 128 * 64 and qk.flops == 2 * qk.macs
    assert qk.bytes_total == traced_qk.bytes_total  # valid columns only move
    # AV: the keys are its depth k
    av = widen_keys(gemm_op(100, 64, 100, batch=32), 100, 128)
    assert av.dims == {"b": 32, "m": 100, "n": 64, "k": 128}
    # a score op: its key axis and FLOPs widen, its bytes do not
    scores = TensorSpec((2, 16, 100, 100), "fp16", role="activation")
    softmax = replace(
        qk, category=Category.SOFTMAX, dims={}, inputs=(scores,), outputs=(scores,), macs=0
    )
    softmax = replace(softmax, flops=5 * scores.numel)
    wide = widen_keys(softmax, 100, 128)
    assert wide.inputs[0].shape == (2, 16, 100, 128) and wide.outputs[0].numel == 409_600
    assert wide.flops == 5 * 409_600 and wide.bytes_total == softmax.bytes_total
    assert widen_keys(qk, 128, 128) is qk  # a sequence as long as the kernel: as traced


def test_training_step_by_hand(tiny_training: OpGraph) -> None:
    graph = tiny_training
    blocks = flash_blocks(graph)
    assert len(blocks) == 2
    flash, _ = fuse(graph, ["attention"])
    apex, inner = fuse(graph, ["attention"], "apex_fmha")
    # no recomputation: the traced ops, one for one, in order (grad_ready holds)
    assert len(apex.ops) == len(graph.ops) < len(flash.ops)
    assert [op.name for op in apex.ops] == [op.name for op in graph.ops]
    assert apex.meta.grad_ready == graph.meta.grad_ready
    for block in blocks:
        qk = apex.ops[block.qk]
        assert qk.dims["n"] == KEYS and qk.macs == B * HEADS * L * KEYS * D
        # every product of the layer's attention (QK^T, AV; dP, dV, dQ, dK) multiplies
        # 128 keys: six products of B * heads * L * 128 * d MACs
        products = [
            i
            for i, op in enumerate(graph.ops)
            if op.category == Category.ATTN_GEMM and op.scope == qk.scope
        ]
        assert len(products) == 6
        assert all(graph.ops[i].macs == B * HEADS * L * L * D for i in products)
        assert all(apex.ops[i].macs == B * HEADS * L * KEYS * D for i in products)
        # one forward kernel (QK^T) and one backward kernel (its first op, dV or dP)
        kernel = {*products, *block.forward, *block.backward}
        launched = sorted(i for i in kernel if i not in inner)
        assert len(launched) == 2 and launched[0] == block.qk
        assert graph.ops[launched[1]].phase == "backward"
    # bytes: FlashAttention's (without its recomputation, which reads Q and K again) plus
    # the probabilities four times a block (written, read, dS written over them, read
    # back), less the layout copies the fmhalib does without: Q, K, V into heads and the
    # context out of them, dO into heads and dQ, dK, dV out, each a [B, L, H] fp32 tensor
    # read and written, 8 a layer
    probabilities = B * HEADS * L * L * 4  # fp32 trace: [B, heads, L, L] floats
    copies = [
        i
        for i, op in enumerate(graph.ops)
        if op.category == Category.DATA_MOVEMENT and op.bytes_total and not apex.ops[i].bytes_total
    ]
    assert len(copies) == 2 * 8 and set(copies) <= inner
    assert all(graph.ops[i].bytes_total == 2 * B * L * HEADS * D * 4 for i in copies)
    recompute_reads = sum(op.bytes_total for op in flash.ops if op.name.endswith(".recompute"))
    flash_bytes = sum(op.bytes_total for op in flash.ops) - recompute_reads
    expected = flash_bytes + 2 * 4 * probabilities - 16 * 2 * B * L * HEADS * D * 4
    assert sum(op.bytes_total for op in apex.ops) == expected
    assert all(op.bytes_read >= 0 and op.bytes_written >= 0 for op in apex.ops)


def test_inference_kernel_widens_keys_and_stores_nothing(
    traced: Callable[..., OpGraph],
) -> None:
    graph = traced("bert-tiny", batch=B, seq=L)
    per_head, _ = fuse(graph, ["attention"], "per_head")
    apex, _ = fuse(graph, ["attention"], "apex_fmha")
    assert sum(op.bytes_total for op in apex.ops) == sum(op.bytes_total for op in per_head.ops)
    qks = [op for op in apex.ops if op.category == Category.ATTN_GEMM and op.dims.get("n") == KEYS]
    assert len(qks) == 2  # one QK^T a layer over the kernel's 128 keys
    assert apex.flops > per_head.flops
    # the same grid as TensorRT's per-head kernel: one CTA per (sequence, head)
    assert {op.dims.get("ctas") for op in apex.ops if "ctas" in op.dims} == {B * HEADS}


@settings(max_examples=20, deadline=None)
@given(
    tokens=st.integers(min_value=1, max_value=512),
    heads=st.integers(min_value=1, max_value=16),
)
def test_widening_never_shrinks_and_keeps_bytes(tokens: int, heads: int) -> None:
    keys = kernel_keys(tokens)
    op = gemm_op(tokens, tokens, 64, batch=heads)
    wide = widen_keys(op, tokens, keys)
    assert wide.flops >= op.flops and wide.macs == heads * tokens * keys * 64
    assert (wide.flops == op.flops) == (tokens == keys)
    assert wide.bytes_total == op.bytes_total


def test_data_parallel_training_carries_the_kernel() -> None:
    knobs = parse_whatifs({"fusion": "all", "attention_kernel": "apex_fmha"})
    assert knobs.not_for_training() == []
    Scenario("bert-tiny", mode="training", whatifs=knobs, parallel=Parallelism(devices=2)).check()


def test_mlperf_v1_schedule_runs_apex_fmha() -> None:
    schedule = load_schedule("workloads/schedules/mlperf-v1.0-bert-dgxa100.yaml")
    assert schedule.phases[0].scenario.whatifs.attention_kernel == "apex_fmha"
