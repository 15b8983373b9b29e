"""Studies: the analyses against hand-derived numbers, the report's contents, the CLI."""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
from html import escape as html_escape
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from perfsim.cache import GraphStore
from perfsim.cli import cli
from perfsim.pipeline import simulate
from perfsim.scenario import Scenario
from perfsim.studies import write_study
from perfsim.studies.analysis import (
    amdahl_curve,
    amdahl_speedup,
    class_breakdown,
    matrix_share,
    op_intensity,
)
from perfsim.studies.demystify import Point, Runner, ivanov_classes
from perfsim.studies.published import (
    PUBLISHED,
    PUBLISHED_T4,
    comparison_figure,
    comparison_table,
)
from perfsim.studies.report import Figure, render_study


def test_amdahl_by_hand() -> None:
    # half the time sped up 2x: 1 / (0.5 + 0.25) = 4/3; infinitely: 1 / 0.5 = 2
    assert amdahl_speedup(0.5, 2.0) == pytest.approx(4 / 3)
    assert amdahl_speedup(0.5, math.inf) == pytest.approx(2.0)
    assert amdahl_speedup(0.0, 10.0) == 1.0
    assert amdahl_speedup(1.0, math.inf) == math.inf
    with pytest.raises(ValueError):
        amdahl_speedup(1.2, 2.0)
    with pytest.raises(ValueError):
        amdahl_speedup(0.5, 0.5)


@given(
    share=st.floats(0.0, 0.99),
    factors=st.lists(st.floats(1.0, 1e6), min_size=2, max_size=6).map(sorted),
)
def test_amdahl_grows_with_the_factor_and_stays_under_the_bound(
    share: float, factors: list[float]
) -> None:
    curve = amdahl_curve(share, factors)
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(curve))
    assert all(1.0 - 1e-12 <= s <= 1.0 / (1.0 - share) + 1e-9 for s in curve)


def test_class_breakdown_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "category": ["gemm", "attn_gemm", "softmax", "layernorm", "gelu", "optimizer"],
            "latency_s": [4.0, 2.0, 1.0, 1.0, 2.0, 100.0],
            "flops": [90.0, 8.0, 1.0, 0.5, 0.5, 7.0],
        }
    )
    classes = class_breakdown(frame)
    # the optimizer is outside Ivanov et al.'s three classes: 10 s in all
    assert classes["tensor_contraction"]["runtime_share"] == pytest.approx(0.6)
    assert classes["statistical_normalization"]["runtime_share"] == pytest.approx(0.2)
    assert classes["elementwise"]["runtime_share"] == pytest.approx(0.2)
    assert classes["tensor_contraction"]["flop_share"] == pytest.approx(0.98)
    assert matrix_share({"gemm": {"share": 0.5}, "attn_gemm": {"share": 0.1}}) == 0.6


# Datasheet figures, written here rather than read from hwconfigs/:
# NVIDIA Tesla V100 GPU Architecture whitepaper (2017), Table 1, Tesla V100 SXM2:
# 125 TFLOP/s tensor (fp16), 900 GB/s HBM2; NVIDIA A100 whitepaper (2020) Table 1, V100
# column: 31.4 TFLOP/s fp16 non-tensor.
V100_TENSOR_FP16, V100_VECTOR_FP16, V100_HBM = 125e12, 31.4e12, 900e9
# NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020), Table 1, A100 40GB SXM4:
# 312 TFLOP/s fp16 tensor (dense), 624 TOP/s int8 tensor (dense), 1555 GB/s HBM2.
A100_TENSOR = {"fp16": 312e12, "int8": 624e12}
A100_HBM = 1555e9


def test_intensity_and_ridge_of_a_real_run(store: GraphStore) -> None:
    result = simulate(Scenario("bert-tiny"), "v100", store=store)
    frame = op_intensity(result)
    matrix = frame[frame["unit"] == "matrix"]
    assert set(matrix["dtype"]) == {"fp16"}
    # the ridge of V100's tensor cores against the HBM bandwidth the part achieves
    # (v100.yaml: 0.88 of the datasheet's 900 GB/s, measured): 125e12 / 792e9 = 157.8 FLOP/B
    # (the file derives 2 x 512 x 80 x 1.53 GHz = 125.3 TFLOP/s: 0.3% above)
    hbm = V100_HBM * 0.88
    assert matrix["ridge_flop_per_byte"].to_numpy() == pytest.approx(
        V100_TENSOR_FP16 / hbm, rel=0.005
    )
    vector = frame[(frame["unit"] == "vector") & (frame["dtype"] == "fp16")]
    # fp16 on the CUDA cores: 31.4e12 / 792e9 = 39.6 FLOP/B
    assert vector["ridge_flop_per_byte"].to_numpy() == pytest.approx(
        V100_VECTOR_FP16 / hbm, rel=0.005
    )
    # an fp16 add reads two elements and writes one: 1 FLOP per 6 bytes at least, so never
    # more than a few FLOPs per byte; far below the 39.6 FLOP/B ridge
    # (counted on the bytes they move through DRAM: those whose tensors all stay on chip
    # between ops, perfsim.engines.residency, move none)
    elementwise = frame[frame["category"] == "elementwise"]
    streamed = elementwise[elementwise["dram_bytes"] >= elementwise["flops"]]
    assert (streamed["intensity_flop_per_byte"] <= 1.0).all()
    assert streamed["below_ridge"].all()
    # bert-tiny's linear layers (m = 128 tokens) stream their fp16 weights from DRAM: at
    # most 2 m k n FLOPs per 2 k n weight bytes = m = 128 FLOP/B, below the 157.8 FLOP/B
    # tensor-core ridge, so the roofline calls every one memory-bound (their activations,
    # and the attention products' operands, stay on chip: perfsim.engines.residency)
    linear = matrix[matrix["category"] == "gemm"]
    assert len(linear) > 0
    assert linear["intensity_flop_per_byte"].max() <= 128 * 1.01  # + bias bytes
    assert linear["below_ridge"].all()


def test_published_bert_base_cases(store: GraphStore) -> None:
    cases = [case for case in PUBLISHED if case.model == "bert-base"]
    table = comparison_table(cases, store=store)
    assert len(table) == len(cases)
    # bert-base at batch 1, sequence 128, by hand (tests/test_flops.py): 21,744,451,584
    # GEMM + 603,979,776 attention FLOPs; weight matrices 12 x (4 x 768^2 + 2 x 768 x
    # 3072) + 768^2 (pooler) = 85,524,480 elements, each read at least once
    flops, weights = 21_744_451_584 + 603_979_776, 85_524_480
    # TensorRT-style fusion leaves at least 7 kernels per layer: the QKV projection, fused
    # attention, attention output, add + LayerNorm, FFN up (+ GELU), FFN down, add +
    # LayerNorm
    kernels = 12 * 7
    startup = 1.31e-6  # hwconfigs/a100.yaml's kernel_startup: each replayed kernel's least
    for row in table.itertuples():
        assert row.error_pct == pytest.approx(100 * (row.predicted_s / row.published_s - 1))
        assert row.error_cycle_pct == pytest.approx(
            100 * (row.predicted_cycle_s / row.published_s - 1)
        )
        # the cycle engine runs the same fused graph on the same host timeline: its kernels
        # are never shorter than the roofline's
        assert row.predicted_cycle_s >= row.predicted_s * (1 - 1e-12)
        element = 1 if row.precision == "int8" else 2
        # never faster than the datasheet's tensor peak (71.6 us fp16, 35.8 us int8), than
        # streaming the weights once at 1555 GB/s (110.0 us, 55.0 us), than the launches
        assert row.predicted_s >= flops / A100_TENSOR[row.precision]
        assert row.predicted_s >= weights * element / A100_HBM
        assert kernels <= row.n_kernels < 213  # fused: fewer than the unfused graph's ops
        assert row.predicted_s >= kernels * startup
        # and too fast by about half against NVIDIA's measurement (0.58 ms int8, 0.67 ms
        # fp16): the benchmark replays the engine from a CUDA graph, so the prediction is
        # the kernels' device time, 2.9-3.6 us a kernel over 91 kernels, where TensorRT's
        # take 6.4-7.4 us. Until session 16 the study issued them at an engine runtime's
        # 5 us host floor and the int8 row agreed within 21% by cancellation
        assert row.published_s / 2.5 <= row.predicted_s <= row.published_s / 1.8
    figure = comparison_figure(table)
    # counted against issue 12's aims: neither batch-1 row within 25% (-54%, -51%)
    assert "0 of 2 batch-1 cases within its 25%" in figure.sentence
    assert "The cycle engine:" in figure.sentence


def test_report_holds_every_figure_and_its_data(tmp_path: Path) -> None:
    data = pd.DataFrame({"x": [1, 2], "y": [3.5, 4.25]})
    chart = go.Figure(go.Bar(x=data["x"], y=data["y"], name="bars-trace"))
    figures = [
        Figure("first", "First figure", "It shows 3.5.", data, chart),
        Figure("second", "Table only", "No chart here.", data, None),
    ]
    contents = render_study("T", "perfsim study x --out d", "intro", figures)
    html = contents["report.html"]
    assert html.count("<section") == 2
    assert "bars-trace" in html and "It shows 3.5." in html
    assert html.count("plotly.js v") <= 1  # plotly.js inlined once
    assert contents["first.csv"] == data.to_csv(index=False)
    assert "## Table only" in contents["summary.md"]
    assert "perfsim study x --out d" in contents["summary.md"]


def test_unknown_study_is_one_line_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["study", "nope", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert not (tmp_path / "o").exists()
    with pytest.raises(Exception, match="unknown study"):
        write_study("nope", tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_published_study_command(tmp_path: Path, graph_cache: Path) -> None:
    out = tmp_path / "published"
    result = CliRunner().invoke(
        cli,
        ["study", "published-inference", "--out", str(out), "--cache-dir", str(graph_cache)],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "published_inference.csv")
    assert len(table) == len(PUBLISHED) and set(table["hw"]) == {"a100"}
    t4 = pd.read_csv(out / "published_inference_t4.csv")
    assert len(t4) == len(PUBLISHED_T4) and set(t4["hw"]) == {"t4"}
    assert t4["source"].str.contains("NVIDIA T4 (16GB)", regex=False).all()
    # the same cases on both parts, each priced on its own file
    assert list(t4[["model", "seq", "batch", "precision"]].itertuples(index=False)) == list(
        table[["model", "seq", "batch", "precision"]].itertuples(index=False)
    )
    assert (t4["predicted_s"] > table["predicted_s"]).all()
    html = (out / "report.html").read_text()
    # every row's label and predicted latency (ms) are in the chart's data
    values = chart_numbers(html)
    for row in pd.concat([table, t4]).itertuples():
        assert f"{row.model} s{row.seq} b{row.batch} {row.precision}" in html
        assert any(math.isclose(v, row.predicted_s * 1e3, rel_tol=1e-9) for v in values)


def chart_numbers(html: str) -> list[float]:
    """Every number in the data of the plotly charts of a page (plain JSON arrays, or the
    base64 ``bdata`` arrays plotly 6 writes for numpy data)."""
    numbers: list[float] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "bdata" in node and "dtype" in node:
                raw = base64.b64decode(node["bdata"])
                numbers.extend(np.frombuffer(raw, dtype=np.dtype(node["dtype"])).tolist())
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, int | float) and not isinstance(node, bool):
            numbers.append(float(node))

    for data in re.findall(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*\{', html, re.S):
        walk(json.loads(data))
    return numbers


# ---- literature checks: Pati et al. (arXiv 2104.08335) and Ivanov et al. (MLSys 2021) ----


@pytest.fixture(scope="module")
def study_runner(store: GraphStore) -> Runner:
    """One `Runner` for the module: each BERT-large training step is traced and costed once."""
    return Runner(store=store)


def test_gemms_dominate_and_lamb_is_second(study_runner: Runner) -> None:
    """Pati et al.: GEMMs dominate a BERT-large pre-training step, memory-bound operators
    are a large minority, and the LAMB optimizer is the second-largest contributor."""
    for hw in ("v100", "mi100"):
        for precision in ("fp32", "fp16"):
            result = study_runner(Point(hw, 128, 32, precision))
            categories = result.by_category()
            ranked = sorted(categories, key=lambda name: -categories[name]["share"])
            assert ranked[:2] == ["gemm", "optimizer"], (hw, precision, ranked[:4])
            memory_bound = 1.0 - matrix_share(categories)
            # in fp32 the GEMMs run on the CUDA cores (no fp32 tensor cores on these parts)
            # and crowd the rest out: about 12% on the V100; mixed precision is the setting
            # the paper's finding is about
            low = 0.2 if precision == "fp16" else 0.05
            assert low <= memory_bound <= 0.5, (hw, precision, memory_bound)


def test_lamb_share_grows_with_mixed_precision_and_fewer_tokens(study_runner: Runner) -> None:
    """Pati et al.: LAMB's share grows under mixed precision (the rest speeds up, LAMB stays
    fp32) and with fewer tokens per device (its cost is per step, not per token)."""

    def share(batch: int, precision: str) -> float:
        result = study_runner(Point("v100", 128, batch, precision))
        return result.by_category()["optimizer"]["share"]

    assert share(32, "fp16") > 2 * share(32, "fp32")
    assert share(4, "fp16") > 2 * share(32, "fp16")


def test_operator_classes_match_ivanov_et_al(study_runner: Runner) -> None:
    """Ivanov et al., Table 1 (BERT-large encoder layer, V100, forward + backward): tensor
    contractions 61% / statistical normalizations 25.5% / element-wise 13.5% of runtime with
    99.8% / 0.17% / 0.03% of FLOPs; perfsim within 10 points of every runtime share and
    within half a point of every FLOP share. The normalizations (15.8%) are within 10
    points once the V100's LayerNorm and softmax kernels stream at the rate eager PyTorch's
    measured ones do (v100.yaml ``compute.vector.stream_efficiency``, from NeuSight's V100
    PCIe runs; 13.2% at the achievable DRAM rate): still low, as the paper's 2020 kernels
    were slower than PyTorch 2.1's and the backward kernels take the forward's rate."""
    table = ivanov_classes(study_runner).set_index("class")
    for name, row in table.iterrows():
        assert abs(row["flop_share"] - row["published_flop_share"]) <= 0.005, name
        assert abs(row["runtime_share"] - row["published_runtime_share"]) <= 0.10, name


def test_demystify_report_holds_every_figure_and_its_data(store: GraphStore) -> None:
    """The whole study: every figure is in the page with all of its chart data, every
    sentence is there, and every figure has its CSV."""
    from perfsim.studies import demystify

    figures = demystify.run_study(store=store)
    assert [figure.key for figure in figures] == [
        "breakdown",
        "batch",
        "sequence",
        "intensity",
        "amdahl",
        "whatif",
        "communication",
        "ivanov",
    ]
    contents = render_study(demystify.TITLE, "cmd", demystify.INTRO, figures)
    html = contents["report.html"]
    in_page = {round(value, 9) for value in chart_numbers(html)}
    for figure in figures:
        assert figure.chart is not None and html_escape(figure.sentence) in html
        assert f"{figure.key}.csv" in contents and len(figure.data) > 0
        drawn = chart_numbers(figure.chart.to_html(full_html=False, include_plotlyjs=False))
        assert drawn and {round(value, 9) for value in drawn} <= in_page, figure.key
