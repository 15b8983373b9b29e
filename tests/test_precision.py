"""The precision policy applied to a real graph: dtypes, bytes, and unchanged FLOPs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.cache import graph_key
from perfsim.engines.roofline import matrix_cost
from perfsim.errors import UnsupportedPrecisionError
from perfsim.estimate import check_precision
from perfsim.hardware import resolve_hardware
from perfsim.ir import Category, GraphMeta, OpGraph
from perfsim.precision import POLICIES, apply_precision
from perfsim.workload import load_workload
from tests.test_gpu_gemm import gemm_op


@pytest.mark.parametrize("precision", sorted(POLICIES))
def test_flops_do_not_change(traced, precision: str) -> None:
    graph = traced("bert-tiny")
    typed = apply_precision(graph, precision)
    assert [op.flops for op in typed.ops] == [op.flops for op in graph.ops]
    assert typed.meta.precision == precision


def test_fp16_halves_every_floating_point_tensor(traced) -> None:
    graph = traced("bert-tiny")
    half = apply_precision(graph, "fp16")
    query = next(op for op in half.ops if op.name == "encoder.layer.0.attention.self.query/addmm")
    # bias 128 + activations 128x128 + weight 128x128, 2 bytes each
    assert query.bytes_read == 2 * (128 + 2 * 128 * 128)
    assert query.bytes_written == 2 * 128 * 128
    word = next(op for op in half.ops if op.name == "embeddings.word_embeddings/embedding")
    # ids stay int64: 128 ids x 8 B, plus 128 gathered rows of 128 fp16 values
    assert word.bytes_read == 128 * 8 + 128 * 128 * 2


def test_int8_gemms_read_int8_and_write_fp16(traced) -> None:
    typed = apply_precision(traced("bert-tiny"), "int8")
    for op in typed.ops:
        if op.category.is_matrix:
            assert {t.dtype for t in op.inputs} == {"int8"}
            assert {t.dtype for t in op.outputs} == {"fp16"}
        elif op.category == Category.SOFTMAX:
            assert op.inputs[0].dtype == "fp16"


def test_int4_packs_two_values_per_byte(traced) -> None:
    typed = apply_precision(traced("bert-tiny"), "int4")
    up = next(op for op in typed.ops if op.name == "encoder.layer.0.intermediate.dense/addmm")
    # bias 512 + activations 128x128 + weight 128x512, half a byte each
    assert up.bytes_read == (512 + 128 * 128 + 128 * 512) // 2
    assert up.bytes_written == 128 * 512 * 2  # dequantized fp16 output


def test_missing_precision_is_an_error_naming_the_file(npu) -> None:
    with pytest.raises(UnsupportedPrecisionError, match=r"npu\.yaml: compute: no int4"):
        check_precision(npu, "int4", "hwconfigs/npu.yaml")
    check_precision(npu, "bf16")


def test_tf32_retypes_the_matrix_ops_only_and_keeps_fp32_bytes(traced) -> None:
    graph = traced("bert-tiny")
    tf32 = apply_precision(graph, "tf32")
    for before, after in zip(graph.ops, tf32.ops, strict=True):
        # fp32 storage: every op reads and writes the bytes it did in fp32
        assert (after.bytes_read, after.bytes_written) == (before.bytes_read, before.bytes_written)
        if after.category.is_matrix:
            assert {t.dtype for t in after.inputs} == {"tf32"}
            assert {t.dtype for t in after.outputs} == {"fp32"}
        else:
            assert after == before


def test_tf32_runs_only_where_tensor_cores_take_it() -> None:
    assert "tf32" in resolve_hardware("a100").supported_precisions()
    assert "tf32" in resolve_hardware("h100").supported_precisions()
    v100 = resolve_hardware("v100")  # Volta's tensor cores multiply fp16 only
    assert "tf32" not in v100.supported_precisions()
    with pytest.raises(UnsupportedPrecisionError, match=r"no tf32 support"):
        check_precision(v100, "tf32", "hwconfigs/v100.yaml")


def test_a_tf32_gemm_runs_at_the_tf32_rate(traced) -> None:
    a100 = resolve_hardware("a100")
    graph = traced("bert-tiny")
    name = "encoder.layer.0.intermediate.dense/addmm"
    fp32 = next(op for op in graph.ops if op.name == name)
    tf32 = next(op for op in apply_precision(graph, "tf32").ops if op.name == name)
    fp32_cost, tf32_cost = matrix_cost(fp32, a100), matrix_cost(tf32, a100)
    # the same bytes; the product on the tensor cores (512 tf32 MACs a clock an SM against
    # 64 fp32 FMAs on the CUDA cores): faster, and never faster than the tf32 peak allows
    assert tf32_cost.memory_s == pytest.approx(fp32_cost.memory_s)
    assert tf32_cost.compute_s < fp32_cost.compute_s
    assert tf32_cost.compute_s >= tf32.flops / a100.matrix_peak_flops("tf32")


def test_a_tf32_training_step_is_the_fp32_step_with_tf32_products(store) -> None:
    workload = load_workload("bert-tiny", batch=2, seq=16, mode="training", precision="tf32")
    graph = store.graph(workload)
    assert graph.meta.trace_precision == "fp32"  # traced in fp32 (TRACED_AS)
    # and stored as the fp32 step is: the two share one trace
    fp32 = load_workload("bert-tiny", batch=2, seq=16, mode="training", precision="fp32")
    assert graph_key(workload) == graph_key(fp32)
    assert store.graph(fp32).ops == graph.ops
    step = apply_precision(graph, "tf32")
    assert step.meta.precision == "tf32"
    matrix = [op for op in step.ops if op.category.is_matrix]
    assert {op.phase for op in matrix} == {"forward", "backward"}
    assert all({t.dtype for t in op.inputs} == {"tf32"} for op in matrix)
    for op, before in zip(step.ops, graph.ops, strict=True):
        assert op.category.is_matrix or op == before
    with pytest.raises(ValueError, match="traced in fp32, asked for fp16"):
        apply_precision(graph, "fp16")


def test_fp32_on_a_tpu_runs_on_the_mxus_at_the_bf16_rate(traced) -> None:
    """A TPU multiplies fp32 matmuls in bf16 by default (``fp32_as``): the MXUs' rate, fp32
    operands in memory. By hand for bert-tiny's first FFN GEMM on one TPUv3 chip."""
    tpu = resolve_hardware("tpu-v3")
    op = next(o for o in traced("bert-tiny").ops if o.name.endswith("intermediate.dense/addmm"))
    cost = matrix_cost(op, tpu)
    assert cost.unit == "matrix"
    mxus = 2 * 16384 * 4 * 0.94e9  # FLOP/s: 4 MXUs of 128 x 128 MACs at 940 MHz
    assert tpu.matrix_peak_flops("fp32") == pytest.approx(mxus)
    assert cost.compute_s == pytest.approx(op.flops / mxus)
    # the operands are fp32 in HBM: 4 bytes an element, read and written at 900 GB/s
    assert op.bytes_read + op.bytes_written == 4 * sum(t.numel for t in (*op.inputs, *op.outputs))
    assert cost.memory_s == pytest.approx((op.bytes_read + op.bytes_written) / 900e9)


def test_fp32_as_adds_no_fp32_array_to_the_area() -> None:
    from perfsim.area.model import area_breakdown

    tpu = resolve_hardware("tpu-v3")
    assert tpu.compute.matrix.fp32_as == "bf16"
    assert tpu.compute.matrix.datapaths == {"bf16": 16384}
    without = tpu.model_copy(update={"compute": tpu.compute.model_copy(update={"matrix": None})})
    bf16_only = type(tpu.compute.matrix).model_validate(
        {**tpu.compute.matrix.model_dump(), "fp32_as": None, "macs_per_cycle": {"bf16": 16384}}
    )
    plain = tpu.model_copy(update={"compute": tpu.compute.model_copy(update={"matrix": bf16_only})})
    assert area_breakdown(plain).total_m2 == pytest.approx(area_breakdown(tpu).total_m2)
    assert area_breakdown(without).total_m2 < area_breakdown(tpu).total_m2


def test_fp32_as_follows_a_sweeps_override_of_its_dtype() -> None:
    from perfsim.sweep.override import override

    npu = resolve_hardware("npu")  # TPUv4i-like: fp32 matmuls one bf16 pass, as tpu-v3
    assert npu.compute.matrix.macs_per_cycle["fp32"] == 16384
    assert "fp32" not in npu.model_dump()["compute"]["matrix"]["macs_per_cycle"]  # derived
    halved = override(npu, "matrix.macs_per_cycle.bf16", 8192)
    assert halved.compute.matrix.macs_per_cycle["fp32"] == 8192
    smaller = override(npu, "matrix.rows", 64)  # every rate rescales with rows x cols
    assert smaller.compute.matrix.macs_per_cycle == {"bf16": 8192, "int8": 8192, "fp32": 8192}
    assert halved.matrix_peak_flops("fp32") == pytest.approx(npu.matrix_peak_flops("fp32") / 2)


def _tpu_gemm(m: int, n: int, k: int, dtype: str):  # type: ignore[no-untyped-def]
    meta = GraphMeta(model="gemm", batch=1, seq=m, mode="inference")
    return OpGraph((gemm_op(m, n, k, dtype),), meta)


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(1, 4096),
    n=st.sampled_from([64, 128, 768, 1024, 3072, 4096]),
    k=st.sampled_from([64, 128, 768, 1024, 4096]),
)
def test_an_fp32_gemm_on_a_tpu_is_its_bf16_gemm_with_fp32_bytes(m: int, n: int, k: int) -> None:
    """fp32 on the MXUs (``fp32_as``): the bf16 product's MACs at the bf16 rate, moving twice
    the bytes: never faster than the bf16 GEMM, never faster than its arithmetic at the MXU
    peak, and the roofline stays a lower bound of the cycle engine."""
    from perfsim.estimate import estimate_graph

    tpu = resolve_hardware("tpu-v3")
    fp32, bf16 = _tpu_gemm(m, n, k, "fp32"), _tpu_gemm(m, n, k, "bf16")
    for engine in ("roofline", "cycle"):
        wide, narrow = estimate_graph(fp32, tpu, engine), estimate_graph(bf16, tpu, engine)
        assert wide.latency_s >= narrow.latency_s * (1 - 1e-9)
        assert wide.latency_s >= 2 * m * n * k / tpu.matrix_peak_flops("bf16") * (1 - 1e-9)
        assert wide.costs[0].unit == "matrix"
    roofline, cycle = (estimate_graph(fp32, tpu, e).latency_s for e in ("roofline", "cycle"))
    assert roofline <= cycle * (1 + 1e-9)


def test_the_summary_says_fp32_matmuls_ran_as_bf16_passes(traced) -> None:
    from perfsim.estimate import estimate_graph

    graph = apply_precision(traced("bert-tiny"), "fp32")
    tpu = estimate_graph(graph, resolve_hardware("tpu-v3")).summary()
    assert tpu["fp32_matmuls_as"] == "bf16"
    assert tpu["matrix_ops_on_vector_engine"] == 0
    a100 = estimate_graph(graph, resolve_hardware("a100")).summary()  # fp32 SIMT: no alias
    assert "fp32_matmuls_as" not in a100
    bf16 = estimate_graph(apply_precision(traced("bert-tiny"), "bf16"), resolve_hardware("tpu-v3"))
    assert "fp32_matmuls_as" not in bf16.summary()
