"""A run's ``report.html``, read back: hardware summary, op timeline, traffic and energy by
memory level, roofline hover; the numbers match the run's summary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from perfsim.cache import GraphStore
from perfsim.cli import main
from perfsim.estimate import Result
from perfsim.pipeline import simulate
from perfsim.report.display import unit_for
from perfsim.report.files import render_outputs
from perfsim.report.html_page import figures_in
from perfsim.report.run_page import render_report
from perfsim.scenario import Scenario

FACTORS = {"B": 1.0, "kB": 1e3, "MB": 1e6, "GB": 1e9, "J": 1.0, "mJ": 1e-3, "µJ": 1e-6}
FACTORS |= {"nJ": 1e-9, "s": 1.0, "ms": 1e-3, "µs": 1e-6, "ns": 1e-9}


@pytest.fixture(scope="module")
def result(graph_cache: Path) -> Result:
    return simulate(Scenario("bert-tiny", batch=2, seq=64), "npu", store=GraphStore(graph_cache))


@pytest.fixture(scope="module")
def page(result: Result) -> str:
    return render_outputs(result)["report.html"]


def _titled(page: str, title: str) -> dict[str, Any]:
    for figure in figures_in(page):
        if title in figure["layout"].get("title", {}).get("text", ""):
            return figure
    raise AssertionError(f"no figure titled {title!r}")


def _factor(axis_title: str) -> float:
    """The SI factor of an axis title's unit: ``traffic (MB)`` → 1e6."""
    found = re.search(r"\(([^)]+)\)$", axis_title)
    assert found, axis_title
    return FACTORS[found.group(1)]


def test_page_embeds_plotly_and_has_every_section(page: str) -> None:
    assert "<script src=" not in page and "plotly.js v" in page  # inlined: opens offline
    for anchor in ("summary", "hardware", "timeline", "levels", "categories", "roofline"):
        assert f"id='{anchor}'" in page, anchor


def test_hardware_summary_names_clock_peaks_levels_and_tdp(page: str, result: Result) -> None:
    hardware = page[page.index("id='hardware'") :]
    hw = result.hw
    assert f"<td>{hw.name}</td>" in hardware and f"<td>{hw.kind}</td>" in hardware
    assert "1.05 GHz" in hardware  # npu.yaml: clock 1.05 GHz
    assert "137.6 TFLOP/s" in hardware  # bf16: 2 x 128 x 128 x 4 arrays x 1.05 GHz
    assert "175 W" in hardware  # TDP
    for level in hw.memory:
        assert f"<td>{level.name}</td>" in hardware
    assert "16 MiB" in hardware and "614 GB/s" in hardware  # vmem capacity, HBM bandwidth


def test_hardware_summary_shows_area_and_peak_power_when_the_summary_has_them(
    result: Result,
) -> None:
    class WithArea:
        """The result, its summary carrying the area model's figures."""

        hw = result.hw
        graph = result.graph

        def summary(self) -> dict[str, Any]:
            return {**result.summary(), "area_mm2": 312.5, "peak_power_w": 180.0}

        def to_frame(self) -> Any:
            return result.to_frame()

    page = render_report(WithArea())
    hardware = page[page.index("id='hardware'") :]
    assert "<td>area</td><td>312.5 mm²</td>" in hardware
    assert "<td>peak power</td><td>180 W</td>" in hardware


def test_traffic_by_level_adds_up_to_the_summary(page: str, result: Result) -> None:
    figure = _titled(page, "Traffic by memory level")
    factor = _factor(figure["layout"]["yaxis"]["title"]["text"])
    levels = figure["data"][0]["x"]
    drawn = {level: 0.0 for level in levels}
    for trace in figure["data"]:  # one trace per category, stacked
        for level, value in zip(trace["x"], trace["y"], strict=True):
            drawn[level] += value * factor
    traffic = result.summary()["memory_traffic_bytes"]
    assert levels == list(traffic)  # nearest first
    for level, total in traffic.items():
        assert drawn[level] == pytest.approx(total, rel=1e-9)
    assert sum(drawn.values()) == pytest.approx(sum(traffic.values()), rel=1e-9)


def test_energy_by_component_adds_up_to_the_summary(page: str, result: Result) -> None:
    figure = _titled(page, "Energy by component")
    factor = _factor(figure["layout"]["yaxis"]["title"]["text"])
    drawn: dict[str, float] = {}
    for trace in figure["data"]:
        for component, value in zip(trace["x"], trace["y"], strict=True):
            drawn[component] = drawn.get(component, 0.0) + value * factor
    summary = result.summary()
    for component, joules in summary["energy_breakdown_j"].items():
        assert drawn[component] == pytest.approx(joules, rel=1e-9, abs=1e-15), component
    assert sum(drawn.values()) == pytest.approx(summary["energy_j"], rel=1e-9)


def test_timeline_lays_every_op_end_to_end_by_layer(page: str, result: Result) -> None:
    figure = _titled(page, "Op timeline")
    factor = _factor(figure["layout"]["xaxis"]["title"]["text"])
    bars = [
        (base * factor, width * factor, group)
        for trace in figure["data"]
        for base, width, group in zip(trace["base"], trace["x"], trace["y"], strict=True)
    ]
    assert len(bars) == len(result.costs)
    bars.sort()
    ends = [base + width for base, width, _ in bars]
    assert ends[-1] == pytest.approx(result.latency_s, rel=1e-9)
    # each op starts where the one before it ended
    assert np.allclose([base for base, _, _ in bars[1:]], ends[:-1], rtol=1e-9, atol=1e-18)
    groups = figure["layout"]["yaxis"]["categoryarray"]
    assert set(groups) == {"embeddings", "layer 0", "layer 1", "head"}  # bert-tiny: 2 layers
    assert groups[-1] == "embeddings"  # drawn at the top: the first to run
    categories = {trace["name"] for trace in figure["data"]}
    assert {"gemm", "attn_gemm", "softmax", "layernorm"} <= categories


def test_roofline_hover_names_op_shape_flops_bytes_and_time(page: str, result: Result) -> None:
    figure = _titled(page, "Roofline of npu")
    gemm = next(trace for trace in figure["data"] if trace["name"] == "gemm")
    card = next(text for text in gemm["hovertext"] if "attention.self.query" in text)
    # bert-tiny query projection: m = 2 x 64 tokens, n = k = 128 hidden
    assert "GEMM m=128 n=128 k=128" in card
    assert "MFLOP" in card and "moved" in card and "from hbm" in card and "bound:" in card
    frame = result.to_frame()
    row = frame[frame["op"] == "encoder.layer.0.attention.self.query/addmm"].iloc[0]
    assert f"{row['flops'] / 1e6:.4g} MFLOP" in card
    assert unit_for("latency_s", [row["latency_s"]]).text(row["latency_s"]) in card


def test_cli_run_out_writes_the_new_report(
    tmp_path: Path, graph_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["run", "-m", "bert-tiny", "--hw", "npu", "--cache-dir", str(graph_cache)]
    with pytest.raises(SystemExit) as done:
        main([*args, "--out", str(out)])
    assert done.value.code == 0
    titles = [f["layout"]["title"]["text"] for f in figures_in((out / "report.html").read_text())]
    assert any(t.startswith("Op timeline") for t in titles)
    assert any(t.startswith("Traffic by memory level") for t in titles)
    assert any(t.startswith("Energy by component") for t in titles)
    assert any(t.startswith("Roofline") for t in titles)
