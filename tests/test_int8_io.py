"""The ``quant=int8-io`` what-if: every activation stored in int8 between kernels, as
TensorRT's int8 BERT engines built with ``-iln -imh`` run (`perfsim.whatif.quantize`).

Bytes by hand on bert-tiny, the compute dtype of the ops between GEMMs (still half
precision), the fused graph's bytes, the study's int8 rows, and properties: int8 storage
never moves more bytes nor runs slower than the ``int8`` policy's fp16 activations.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.hardware import HardwareSpec
from perfsim.ir import Category, OpGraph
from perfsim.studies.published import PUBLISHED
from perfsim.whatif import WhatIfError, estimate_whatif, parse_whatifs
from perfsim.whatif.quantize import quantize
from tests.shipped_hardware import shipped

B, L, H, F = 2, 16, 128, 512  # bert-tiny: hidden 128, FFN 512
M = B * L


@pytest.fixture(scope="module")
def tiny(traced: Callable[..., OpGraph]) -> OpGraph:
    return traced("bert-tiny", batch=B, seq=L)


@pytest.fixture(scope="module")
def a100() -> HardwareSpec:
    return shipped("a100")


def by_scope(graph: OpGraph, suffix: str, category: Category) -> int:
    return next(
        index
        for index, op in enumerate(graph.ops)
        if op.scope.endswith(suffix) and op.category == category
    )


def test_bytes_by_hand(tiny: OpGraph) -> None:
    int8 = quantize(tiny, "int8", "fp16")
    io = quantize(tiny, "int8-io", "fp16")
    dense = by_scope(tiny, "layer.0.intermediate.dense", Category.GEMM)
    # reads: bias F + activation M*H + weight H*F, one byte each under both modes
    assert int8.ops[dense].bytes_read == io.ops[dense].bytes_read == F + M * H + H * F
    # writes: the M x F output, fp16 under the int8 policy, requantized to int8 under int8-io
    assert int8.ops[dense].bytes_written == 2 * M * F
    assert io.ops[dense].bytes_written == M * F
    norm = by_scope(tiny, "layer.0.output.LayerNorm", Category.LAYERNORM)
    params = 2 * H * 2  # gamma and beta stay fp16
    assert int8.ops[norm].bytes_read - params == 2 * (io.ops[norm].bytes_read - params)
    assert io.ops[norm].bytes_read - params == M * H
    # everything it writes is an activation (the M x H output, the row statistics): halved
    assert int8.ops[norm].bytes_written == 2 * io.ops[norm].bytes_written
    assert io.ops[norm].bytes_written == M * H + 2 * M  # output and mean / rstd per row
    # weights keep their dtypes; only activations change
    for small, wide in zip(io.ops, int8.ops, strict=True):
        for a, b in zip(
            (*small.inputs, *small.outputs), (*wide.inputs, *wide.outputs), strict=True
        ):
            if a.role != "activation" or b.dtype != "fp16":
                assert a.dtype == b.dtype
            else:
                assert a.dtype == "int8"


def test_math_between_gemms_stays_half(tiny: OpGraph, a100: HardwareSpec) -> None:
    result = estimate_whatif(
        tiny, a100, precision="int8", engine="roofline", whatifs=parse_whatifs({"quant": "int8-io"})
    )
    vector = {c.dtype for c in result.costs if not c.category.is_matrix and c.flops}
    assert vector == {"fp16"}
    assert {c.dtype for c in result.costs if c.category.is_matrix} == {"int8"}
    assert result.summary()["whatifs"] == {"quant": "int8-io"}
    # the footprint's activations at one byte, half the int8 policy's fp16 ones
    int8 = estimate_whatif(
        tiny, a100, precision="int8", engine="roofline", whatifs=parse_whatifs({"quant": "int8"})
    )
    io_bytes = result.summary()["memory_footprint_bytes"]
    int8_bytes = int8.summary()["memory_footprint_bytes"]
    assert 2 * io_bytes["activations"] == int8_bytes["activations"] > 0
    assert io_bytes["weights"] == int8_bytes["weights"]


def test_training_graph_is_refused(tiny: OpGraph) -> None:
    from dataclasses import replace

    # a graph with backward ops (a training step is traced in its own precision)
    training = OpGraph((replace(tiny.ops[0], phase="backward"), *tiny.ops[1:]), tiny.meta)
    with pytest.raises(WhatIfError, match=r"whatif\.quant"):
        quantize(training, "int8-io", "fp16")


def test_fused_bytes_never_negative_and_below_int8(tiny: OpGraph, a100: HardwareSpec) -> None:
    def run(quant: str) -> list:
        return estimate_whatif(
            tiny,
            a100,
            precision="int8",
            engine="roofline",
            whatifs=parse_whatifs({"quant": quant, "fusion": "all"}),
        ).costs

    io, int8 = run("int8-io"), run("int8")
    assert all(c.bytes_read >= 0 and c.bytes_written >= 0 for c in io)
    assert len(io) == len(int8)
    assert sum(c.bytes_read + c.bytes_written for c in io) < sum(
        c.bytes_read + c.bytes_written for c in int8
    )
    # the same kernels launch: only their bytes change
    assert [c.overhead_s > 0 for c in io] == [c.overhead_s > 0 for c in int8]


@settings(max_examples=8, deadline=None)
@given(
    engine=st.sampled_from(["roofline", "cycle"]),
    fusion=st.sampled_from(["none", "all"]),
    hw=st.sampled_from(["a100", "t4", "npu"]),
)
def test_int8_storage_never_slower(tiny: OpGraph, engine: str, fusion: str, hw: str) -> None:
    spec = shipped(hw)

    def latency(quant: str) -> float:
        return estimate_whatif(
            tiny,
            spec,
            precision="int8",
            engine=engine,
            whatifs=parse_whatifs({"quant": quant, "fusion": fusion}),
        ).latency_s

    assert latency("int8-io") <= latency("int8") * (1 + 1e-9)


def test_study_int8_rows_store_int8() -> None:
    for case in PUBLISHED:
        quant = case.scenario().whatifs.quant
        assert quant == ("int8-io" if case.precision == "int8" else "none"), case.label
    # an explicit what-if set is taken as given
    assert PUBLISHED[0].scenario({"fusion": "all"}).whatifs.quant == "none"
