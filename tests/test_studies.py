"""Studies: the analyses against hand-derived numbers, the report's contents, the CLI."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from perfsim.cli import cli
from perfsim.studies import write_study
from perfsim.studies.analysis import (
    amdahl_curve,
    amdahl_speedup,
    class_breakdown,
    matrix_share,
    op_intensity,
)
from perfsim.studies.published import PUBLISHED, comparison_figure, comparison_table
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


def test_intensity_and_ridge_of_a_real_run(graph_cache: Path) -> None:
    from perfsim.api import run_estimate

    result = run_estimate("bert-tiny", "v100", cache_dir=graph_cache)
    frame = op_intensity(result)
    hw = result.hw
    gemm = frame[frame["unit"] == "matrix"].iloc[0]
    assert gemm["ridge_flop_per_byte"] == pytest.approx(
        hw.matrix_peak_flops(gemm["dtype"]) / hw.level_bandwidth(hw.dram)
    )
    # element-wise ops do a few FLOPs per byte: far below any ridge
    assert frame.loc[frame["category"] == "elementwise", "below_ridge"].all()


def test_published_bert_base_cases(graph_cache: Path) -> None:
    cases = [case for case in PUBLISHED if case.model == "bert-base"]
    table = comparison_table(cases, cache_dir=graph_cache)
    assert len(table) == len(cases)
    for row in table.itertuples():
        assert row.predicted_s > 0
        assert row.error_pct == pytest.approx(100 * (row.predicted_s / row.published_s - 1))
        # fused: fewer kernels than the ~213 ops of the unfused bert-base graph
        assert row.n_kernels < 213
    figure = comparison_figure(table)
    assert "batch-1 cases err by" in figure.sentence


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
    assert len(table) == len(PUBLISHED)
    html = (out / "report.html").read_text()
    # every row's label and predicted latency (ms, plain JSON numbers) are in the chart
    for row in table.itertuples():
        assert f"{row.model} s{row.seq} b{row.batch} {row.precision}" in html
        digits = f"{row.predicted_s * 1e3:.12f}"[:6]
        assert re.search(re.escape(digits), html), digits
