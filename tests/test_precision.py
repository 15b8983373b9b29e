"""The precision policy applied to a real graph: dtypes, bytes, and unchanged FLOPs."""

from __future__ import annotations

import pytest

from perfsim.errors import UnsupportedPrecisionError
from perfsim.estimate import check_precision
from perfsim.ir import Category
from perfsim.precision import POLICIES, apply_precision


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
