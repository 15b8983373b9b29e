"""A fused attention kernel's CTA grid (`perfsim.hardware.attention_kernel`), the units its
ops run on and its softmax's conversions (`perfsim.engines.vector_work`), and the
mainloop's loads from L2 (`perfsim.engines.gpu_gemm.load_cycles`): hand-derived examples
and invariants."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.cache import GraphStore
from perfsim.engines import get_cost_model
from perfsim.engines.gpu_gemm import (
    GemmProblem,
    LibraryTile,
    choose_plan,
    flash_plan,
    load_cycles,
    plan_gemm,
)
from perfsim.engines.vector_work import conversion_s, kernel_units, special_function_s
from perfsim.hardware import resolve_hardware
from perfsim.hardware.attention_kernel import cta_rows, kernel_geometry
from perfsim.ir import Category, TensorSpec
from perfsim.precision import apply_precision
from perfsim.whatif import WhatIfError, parse_whatifs
from perfsim.whatif.fusion import fuse
from perfsim.whatif.knobs import FUSION_PASSES
from perfsim.workload import load_workload
from tests.test_gpu_gemm import A100, SMALL, fp16
from tests.test_kernel_startup import unary_op

ROOT = Path(__file__).resolve().parents[1]
A100_FILE = resolve_hardware(ROOT / "hwconfigs" / "a100.yaml")
HOST_FILE = resolve_hardware(ROOT / "hwconfigs" / "host.yaml")


def scores_softmax(heads: int, seq: int, **dims: int):
    """The fp16 softmax of a fused attention kernel over ``heads`` x ``seq`` x ``seq``
    scores (on chip), 5 FLOPs an element, with the kernel's ``dims``."""
    tensor = TensorSpec((1, heads, seq, seq), "fp16")
    op = unary_op(
        Category.SOFTMAX, "aten._softmax.default", tensor, flops=5 * tensor.numel, on_chip=True
    )
    return replace(op, dims=dims)


def test_grids_by_hand() -> None:
    # BERT-large at batch 1, 384 tokens: 16 heads; FlashAttention-2 cuts each head's 384
    # rows into 3 blocks of 128 (48 CTAs), TensorRT's fixed-length plugin runs one CTA a
    # head (16 CTAs: launch grid (heads, batch))
    qk = {"b": 16, "m": 384, "n": 384, "k": 64}
    assert kernel_geometry("flash2", qk) == (128, 48)
    assert kernel_geometry("per_head", qk) == (384, 16)
    assert kernel_geometry("flash2", {**qk, "b": 32 * 16}) == (128, 1536)
    assert cta_rows("flash2", 100) == 100  # a short sequence is one block of its rows


def test_kernel_units_on_a_gpu_and_a_cpu() -> None:
    op = scores_softmax(16, 384, ctas=16)
    assert kernel_units(op, A100_FILE) == 16  # 16 of 108 SMs
    assert kernel_units(scores_softmax(16, 384, ctas=1536), A100_FILE) == 108
    assert kernel_units(scores_softmax(16, 384), A100_FILE) == 108  # not in a fused kernel
    # a CPU runs no library GPU kernels: its threads share the work as before
    assert kernel_units(op, HOST_FILE) == HOST_FILE.compute.units


def test_softmax_of_a_batch_one_kernel_by_hand() -> None:
    # 16 x 384 x 384 = 2,359,296 scores on 16 SMs of the A100 (1.41 GHz): one exp each at
    # 16 a cycle a SM, and for int8 products two conversions (int32 score -> float,
    # probability -> int8) at 16 a cycle a SM; 5 FLOPs each at the fp16 vector rate
    elements = 16 * 384 * 384
    clock, sms = A100_FILE.compute.clock, 16
    int8 = scores_softmax(16, 384, ctas=16, product_bits=8)
    fp16_op = scores_softmax(16, 384, ctas=16, product_bits=16)
    assert special_function_s(int8, A100_FILE) == pytest.approx(elements / (16 * sms * clock))
    assert conversion_s(int8, A100_FILE) == pytest.approx(2 * elements / (16 * sms * clock))
    assert conversion_s(fp16_op, A100_FILE) == 0.0  # half pairs: no published rate
    fp32_op = scores_softmax(16, 384, ctas=16, product_bits=32)
    assert conversion_s(fp32_op, A100_FILE) == 0.0
    assert conversion_s(scores_softmax(16, 384, ctas=16), A100_FILE) == 0.0  # not a kernel's
    lanes = A100_FILE.compute.vector.flops_per_cycle["fp16"]
    arithmetic = 5 * elements / (lanes * sms * clock)
    roofline = get_cost_model("roofline").op_cost(int8, A100_FILE)
    assert roofline.compute_s == pytest.approx(arithmetic + 3 * elements / (16 * sms * clock))
    # on every SM (a large batch) the same work takes 16 / 108 of it
    everywhere = replace(int8, dims={"product_bits": 8, "ctas": 10_000})
    spread = get_cost_model("roofline").op_cost(everywhere, A100_FILE)
    assert spread.compute_s == pytest.approx(roofline.compute_s * 16 / 108)


def test_load_cycles_by_hand() -> None:
    # a 64 x 64 x 64 int8 step loads (64 + 64) x 64 = 8,192 B; the A100's L2 at 0.75 of
    # 7,219 GB/s shared by 108 busy SMs at 1.41 GHz gives each 35.55 B a cycle: 230 cycles,
    # against 64 x 64 x 64 / 2048 = 128 cycles of int8 MACs
    units = replace(A100, macs_per_cycle=2048, load_bandwidth=0.75 * 7219e9)
    int8 = GemmProblem(batch=1, m=6912, n=4096, k=1024, in_bytes=1, out_bytes=2)
    per_sm = 0.75 * 7219e9 / 108 / 1.41e9
    assert load_cycles(SMALL, int8, units, 108) == pytest.approx(8192 / per_sm)
    # one busy SM is held to its own port (128 B a cycle)
    assert load_cycles(SMALL, int8, units, 1) == pytest.approx(8192 / 128)
    plan = plan_gemm(int8, SMALL, 1, units)
    assert plan is not None and plan.load_cycles > plan.mac_cycles
    # the heuristic prefers a bigger tile, which loads half the bytes per MAC
    best = choose_plan(int8, [SMALL, LibraryTile(128, 128, 64, 3, 2, 2)], units)
    assert best is not None and best.tile.m == 128


def test_per_head_kernel_in_a_traced_graph(store: GraphStore) -> None:
    """The fusion pass writes the grid into bert-tiny's fused attention (2 heads, batch 1):
    at seq 128 per_head gives 2 CTAs; at seq 512 per_head 2 and flash2 8 (4 blocks a head).
    """
    for seq, kernel, ctas in ((128, "per_head", 2), (512, "per_head", 2), (512, "flash2", 8)):
        workload = load_workload("bert-tiny", batch=1, seq=seq, precision="int8")
        graph = apply_precision(store.graph(workload), "int8")
        fused, _ = fuse(graph, ("attention",), kernel)
        softmaxes = [op for op in fused.ops if op.category == Category.SOFTMAX]
        assert softmaxes and all(op.dims["ctas"] == ctas for op in softmaxes)
        assert all(op.dims["product_bits"] == 8 for op in softmaxes)
        products = [op for op in fused.ops if "flash" in op.dims]
        assert len(products) == 2 * len(softmaxes)
        assert all(op.dims["cta_rows"] == (seq if kernel == "per_head" else 128) for op in products)


def test_the_knob() -> None:
    knobs = parse_whatifs({"attention_kernel": "per_head", "fusion": "attention"})
    assert knobs.attention_kernel == "per_head"
    assert parse_whatifs({}).attention_kernel == "flash2"
    with pytest.raises(WhatIfError, match=r"whatif\.attention_kernel"):
        parse_whatifs({"attention_kernel": "flash3"}, "x.yaml")


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 2048),
    heads=st.integers(1, 64),
    units=st.integers(1, 160),
)
def test_fewer_ctas_are_never_faster(m: int, heads: int, units: int) -> None:
    """A per-head kernel (fewer, longer CTAs) never beats FlashAttention-2's blocks where
    the rows fill whole blocks (a last, partial block still runs 128 rows' products)."""
    m = m if m <= 128 else 128 * math.ceil(m / 128)
    base = replace(A100, units=units)
    problem = fp16(m, m, 64, batch=heads)
    per_head = flash_plan(problem, base, cta_rows("per_head", m))
    flash2 = flash_plan(problem, base, cta_rows("flash2", m))
    assert flash2.seconds <= per_head.seconds * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 8192),
    n=st.integers(1, 8192),
    k=st.integers(16, 4096),
    scale=st.floats(1.0, 8.0),
)
def test_more_l2_bandwidth_is_never_slower(m: int, n: int, k: int, scale: float) -> None:
    base = replace(A100, load_bandwidth=5.4e12, fill_s=284e-9)
    tiles = [SMALL, LibraryTile(128, 256, 64, 3, 2, 4), LibraryTile(128, 128, 32, 4, 2, 2)]
    slow = choose_plan(fp16(m, n, k), tiles, base)
    fast = choose_plan(fp16(m, n, k), tiles, replace(base, load_bandwidth=5.4e12 * scale))
    assert slow is not None and fast is not None
    assert fast.seconds <= slow.seconds * (1 + 1e-12)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_fused_bytes_never_negative(store: GraphStore, precision: str) -> None:
    """Fusion removes only what each reader counted: under the int8 policy the AV product
    reads the fp16 softmax's probabilities as int8 (half the bytes the softmax wrote), so
    it drops its own int8 read of them and keeps V's (it used to go negative)."""
    workload = load_workload("bert-tiny", batch=2, seq=64, precision=precision)
    graph = apply_precision(store.graph(workload), precision)
    fused, _ = fuse(graph, ("epilogue", "softmax", "layernorm", "attention"))
    for before, after in zip(graph.ops, fused.ops, strict=True):
        assert 0 <= after.bytes_read <= before.bytes_read, after.name
        assert 0 <= after.bytes_written <= before.bytes_written, after.name
    if precision == "int8":
        av = [op for op in fused.ops if op.dims.get("flash") == 2]
        assert av and all(op.bytes_read == op.inputs[1].nbytes for op in av)


def test_fused_training_bytes_never_negative(store: GraphStore) -> None:
    """In a training step FlashAttention's recomputed score ops read and write nothing and
    belong to its backward kernel: the softmax pass used to group them again and take
    their bytes below zero."""
    workload = load_workload("bert-tiny", batch=2, seq=64, precision="fp16", mode="training")
    graph = apply_precision(store.graph(workload), "fp16")
    fused, _ = fuse(graph, FUSION_PASSES)
    recomputed = [op for op in fused.ops if op.name.endswith(".recompute")]
    assert recomputed
    scores = [op for op in recomputed if not op.category.is_matrix]  # QKᵀ reads Q and K
    assert scores and all(op.bytes_read == op.bytes_written == 0 for op in scores)
    assert all(op.bytes_read >= 0 and op.bytes_written >= 0 for op in fused.ops)


def test_the_knob_without_the_attention_pass_changes_nothing() -> None:
    # as PIM settings without the unit: left out of the applied knobs (a sweep may cross
    # it with fusion), and the graph is the same
    alone = parse_whatifs({"attention_kernel": "per_head", "fusion": "epilogue"})
    assert "attention_kernel" not in alone.applied()
    assert parse_whatifs({"attention_kernel": "per_head"}).is_empty
    with_pass = parse_whatifs({"attention_kernel": "per_head", "fusion": "all"})
    assert with_pass.applied()["attention_kernel"] == "per_head"
