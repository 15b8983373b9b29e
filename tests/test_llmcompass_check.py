"""LLMCompass's A100 80GB SXM kernel measurements (results/validation/llmcompass) against both
engines: a check, never an input. The committed comparison is what its script makes, the
transcription agrees with the artifact's own throughput column, the ops are counted as by
hand, the large bf16 GEMMs stay within 11%, and the known misses are strict xfails."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from perfsim.ir import Category

FOLDER = Path(__file__).resolve().parents[1] / "results" / "validation" / "llmcompass"

# the artifact's ab/real_hardware/matmul_A100.csv, fifth column (TFLOP/s), in MATMUL_MS order
PUBLISHED_TFLOPS = (
    101.7124, 193.0114, 242.7090, 252.7351, 257.9115, 262.2263, 277.4929, 286.9431,
    290.5223, 279.2160, 2.2700, 8.6608, 30.1244, 91.2121, 185.2380, 243.8497, 269.2169,
    277.5532, 293.0334, 287.7616,
)  # fmt: skip
# the GPT-3 layer's four cuBLAS products
PROJECTIONS = ("q, k, v projections", "output projection", "ffn up", "ffn down")


@pytest.fixture(scope="module")
def compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llmcompass_compare", FOLDER / "compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["llmcompass_compare"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def frame(compare: ModuleType) -> pd.DataFrame:
    return compare.compare(compare.cases())


def test_committed_comparison_is_current(compare: ModuleType, frame: pd.DataFrame) -> None:
    """Regenerate after a model change: `python results/validation/llmcompass/compare.py`."""
    committed = pd.read_csv(FOLDER / "compare.csv")
    pd.testing.assert_frame_equal(committed, frame, check_dtype=False)
    assert (FOLDER / "summary.md").read_text(encoding="utf-8") == compare.summary(frame)


def test_matmul_times_agree_with_the_artifacts_throughput(compare: ModuleType) -> None:
    # each line of the source holds both milliseconds and 2 M N K / time: a typo in the
    # copied times would break the pair (the file prints milliseconds to four decimals)
    assert len(compare.MATMUL_MS) == len(PUBLISHED_TFLOPS)
    for (m, n, k, ms), tflops in zip(compare.MATMUL_MS, PUBLISHED_TFLOPS, strict=True):
        assert 2 * m * n * k / (tflops * 1e12) * 1e3 == pytest.approx(ms, abs=0.51e-4)


def test_attention_score_product_counted_by_hand(compare: ModuleType) -> None:
    # GPT-3's Q K^T on a device of a 4-way split: 8 x 24 products of (2048 x 128) x
    # (128 x 2048) in fp16: 2 x 192 x 2048^2 x 128 FLOPs; reads 192 x 2 x 2048 x 128
    # values, writes 192 x 2048^2
    case = next(c for c in compare.gpt3_layer_cases() if c.shape == "q k^T")
    (op,) = case.build().ops
    assert op.category is Category.ATTN_GEMM
    assert op.flops == 2 * 192 * 2048 * 2048 * 128
    assert op.bytes_read == 192 * 2 * 2048 * 128 * 2
    assert op.bytes_written == 192 * 2048 * 2048 * 2


def test_each_case_traces_the_kernels_it_timed(compare: ModuleType) -> None:
    kinds = {"matmul": Category.GEMM, "softmax": Category.SOFTMAX,
             "layernorm": Category.LAYERNORM, "gelu": Category.GELU}  # fmt: skip
    for case in compare.cases():
        ops = [op for op in case.build().ops if op.flops or op.bytes_read]
        assert len(ops) == 1, case
        if case.kind in kinds:
            assert ops[0].category is kinds[case.kind], case


def test_large_gemms_within_11_percent(frame: pd.DataFrame) -> None:
    """cuBLAS bf16 / fp16 products of 0.2 ms or more (the matmul sweep and the GPT-3 layer's
    four projections): the A100's tile model and sustained clock."""
    gemms = frame[
        (frame["measured_ms"] >= 0.2)
        & ((frame["kind"] == "matmul") | frame["shape"].isin(PROJECTIONS))
    ]
    assert len(gemms) == 18
    for engine in ("roofline", "cycle"):
        assert gemms[f"{engine}_error"].abs().max() <= 0.11, engine


@pytest.mark.xfail(
    strict=True,
    reason="known (issue 12): a short-k batched product with a large output (GPT-3's Q K^T, "
    "k = 128, 1.6 GB of scores) takes 1.88 ms on the A100, near its compute plus its DRAM "
    "time; the model overlaps them (1.02 ms, -46%), as on NeuSight's fp32 rows and the "
    "H200's fp16 ones",
)
def test_score_product_within_25_percent(frame: pd.DataFrame) -> None:
    row = frame[frame["shape"] == "q k^T"].iloc[0]
    assert abs(row["roofline_error"]) <= 0.25


@pytest.mark.xfail(
    strict=True,
    reason="known (issue 12): eager fp16 softmax over rows of 4,096-32,768 streams at "
    "0.47-0.56 of the DRAM peak on the A100 80GB; the file's stream_efficiency (0.80 of the "
    "achievable, from NeuSight's fp32 softmax on the PCIe card) makes it 20-31% too fast",
)
def test_softmax_within_15_percent(frame: pd.DataFrame) -> None:
    rows = frame[(frame["kind"] == "softmax") & (frame["measured_ms"] >= 0.2)]
    assert rows["roofline_error"].abs().max() <= 0.15
