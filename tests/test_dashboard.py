"""The sweep dashboard, read back from its HTML: the plotly figures' data and layout, the
links to the chosen designs' reports, units and colour scales a person reads."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from perfsim.cache import GraphStore
from perfsim.report.dashboard import build_dashboard, feasible, metric_columns
from perfsim.report.dashboard_plots import colour_axis
from perfsim.report.design_labels import short_axis, short_labels
from perfsim.report.display import ticks, unit_for
from perfsim.report.html_page import figures_in
from perfsim.report.sweep_plots import pareto_front, pareto_plot
from perfsim.sweep import Workers, load_sweep_spec, run_sweep
from perfsim.sweep.output import (
    MAX_REPORTS,
    pareto_objectives,
    selected_points,
    write_plots,
)

SPEC = """\
version: 1
name: dash
description: a small sweep for the dashboard tests
base: {model: bert-tiny, hw: npu, batch: 2, seq: 64}
axes:
  matrix.rows: [32, 64, 128]
  matrix.cols: [32, 64, 128]
  memory.sram.capacity: ["4 MiB", "8 MiB", "16 MiB", "32 MiB"]
  memory.dram.bandwidth: ["300 GB/s", "1.2 TB/s"]
  engine: [roofline, cycle]
zip: [[matrix.rows, matrix.cols]]
metrics: {latency_us: "latency_s * 1e6"}
constraints: ["on_chip_bytes <= 32 MiB"]
"""
AXES = ["matrix.rows", "memory.sram.capacity", "memory.dram.bandwidth", "engine"]
MiB = 2**20


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, graph_cache: Path) -> SimpleNamespace:
    """The sweep run and its pages written: folder, table, spec and the index's figures."""
    folder = tmp_path_factory.mktemp("dash")
    path = folder / "dash.yaml"
    path.write_text(SPEC, encoding="utf-8")
    spec = load_sweep_spec(path)
    store = GraphStore(graph_cache)
    outcome = run_sweep(spec, out_dir=folder / "out", workers=Workers(jobs=1), store=store)
    out = folder / "out"
    write_plots(spec, outcome.frame, out, store)
    index = (out / "index.html").read_text(encoding="utf-8")
    return SimpleNamespace(
        out=out, frame=outcome.frame, spec=spec, index=index, figures=figures_in(index)
    )


def _figure(figures: list[dict[str, Any]], kind: str, title: str = "") -> dict[str, Any]:
    for figure in figures:
        text = figure["layout"].get("title", {}).get("text", "")
        if figure["data"] and figure["data"][0]["type"] == kind and title in text:
            return figure
    raise AssertionError(f"no {kind} figure titled {title!r}")


def test_index_opens_on_the_pareto_chart_then_parallel_coordinates(sweep: SimpleNamespace) -> None:
    kinds = [figure["data"][0]["type"] for figure in sweep.figures]
    assert kinds[:2] == ["scatter", "parcoords"]
    assert "<script src='plotly.min.js'>" in sweep.index and "http" not in sweep.index
    assert (sweep.out / "plotly.min.js").stat().st_size > 1_000_000  # offline: a local copy


def test_pareto_colour_bar_reads_mebibytes_and_front_is_the_non_dominated_set(
    sweep: SimpleNamespace,
) -> None:
    pareto = sweep.figures[0]
    colour = pareto["layout"]["coloraxis"]
    shown = feasible(sweep.frame)
    # the third objective is die area: its bar reads mm² over the designs' real range
    area = shown["area_mm2"]
    assert "mm²" in colour["colorbar"]["title"]["text"]
    assert np.isclose(colour["cmin"], area.min()) and np.isclose(colour["cmax"], area.max())
    if area.nunique() <= 10:
        assert all(text.endswith("mm²") for text in colour["colorbar"]["ticktext"])
    # a bytes axis over 4..32 MiB: one labelled tick per value, in MiB (not 4.1943M)
    on_chip = shown["on_chip_bytes"]
    bytes_axis = colour_axis(unit_for("on_chip_bytes", on_chip), on_chip)
    assert bytes_axis["colorbar"]["ticktext"] == ["4 MiB", "8 MiB", "16 MiB", "32 MiB"]
    assert bytes_axis["colorbar"]["tickvals"] == [4.0, 8.0, 16.0, 32.0]
    assert "MiB" in bytes_axis["colorbar"]["title"]["text"]
    assert (bytes_axis["cmin"], bytes_axis["cmax"]) == (4.0, 32.0)
    # both traces share the colour axis: one scale, one bar
    assert all(trace["marker"]["coloraxis"] == "coloraxis" for trace in pareto["data"])
    # the legend sits above the plot, clear of the colour bar on the right
    assert pareto["layout"]["legend"]["orientation"] == "h"
    assert pareto["layout"]["legend"]["y"] > 1
    objectives = ["latency_s", "energy_per_inference_j", "area_mm2"]
    expected = shown[pareto_front(shown, objectives)]
    front = pareto["data"][1]
    assert sorted(front["text"]) == sorted(expected["design"])
    # x in the unit its title says (bert-tiny: µs)
    unit = unit_for("latency_s", shown["latency_s"])
    assert unit.unit == "µs"
    assert np.allclose(sorted(front["x"]), sorted(expected["latency_s"] / 1e-6))
    assert pareto["layout"]["xaxis"]["title"]["text"] == "latency (µs)"
    energy = unit_for("energy_per_inference_j", shown["energy_per_inference_j"]).unit
    assert pareto["layout"]["yaxis"]["title"]["text"] == f"energy / inference ({energy})"


def test_hover_cards_name_overrides_and_figures(sweep: SimpleNamespace) -> None:
    cards = [card for trace in sweep.figures[0]["data"] for card in trace["hovertext"]]
    assert len(cards) == len(feasible(sweep.frame))
    card = cards[0]
    for text in ("matrix.rows = ", "memory.sram.capacity = ", "latency: ", " µs", "J", "MiB"):
        assert text in card, text


def test_parallel_coordinates_have_a_dimension_per_axis_and_metric(
    sweep: SimpleNamespace,
) -> None:
    parallel = sweep.figures[1]["data"][0]
    labels = [dimension["label"] for dimension in parallel["dimensions"]]
    shown = feasible(sweep.frame)
    metrics = metric_columns(shown, pareto_objectives(sweep.spec, shown), ["latency_us"])
    assert len(labels) == len(AXES) + len(metrics)
    assert labels[:4] == ["rows", "sram (MiB)", "dram_bw (GB/s)", "engine"]
    assert "latency (µs)" in labels and "energy / inference (µJ)" in labels
    assert "latency_us" not in metrics  # proportional to latency_s: left out
    engine = parallel["dimensions"][3]
    assert engine["ticktext"] == ["cycle", "roofline"]
    latency = parallel["dimensions"][labels.index("latency (µs)")]
    assert np.allclose(latency["values"], shown["latency_s"] * 1e6)
    sram = parallel["dimensions"][1]
    assert sram["ticktext"] == ["4 MiB", "8 MiB", "16 MiB", "32 MiB"]


def test_design_links_resolve_to_reports_of_the_chosen_designs(sweep: SimpleNamespace) -> None:
    links = sorted(set(re.findall(r"href='(designs/point-\d+/report\.html)'", sweep.index)))
    chosen = selected_points(sweep.frame, pareto_objectives(sweep.spec, sweep.frame))
    assert 1 <= len(links) <= MAX_REPORTS
    assert links == sorted(f"designs/point-{p}/report.html" for p in chosen)
    for link in links:
        report = (sweep.out / link).read_text(encoding="utf-8")
        assert "../../plotly.min.js" in report  # shares the sweep's copy: a small page
        assert len(report) < 1_000_000
    # a click on a Pareto point opens its report: customdata holds the link
    clickable = [link for trace in sweep.figures[0]["data"] for link in trace["customdata"] if link]
    assert set(clickable) == set(links)


def test_heatmaps_are_slices_at_the_fastest_design_and_say_so(sweep: SimpleNamespace) -> None:
    shown = feasible(sweep.frame)
    best = shown.loc[shown["latency_s"].idxmin()]
    assert "every other axis is held at its value in the best design by latency" in sweep.index
    heatmap = _figure(sweep.figures, "heatmap", "latency: sram x rows")["data"][0]
    assert heatmap["x"] == ["32", "64", "128"]
    assert heatmap["y"] == ["4MiB", "8MiB", "16MiB", "32MiB"]
    cell = shown[
        (shown["matrix.rows"] == 64)
        & (shown["memory.sram.capacity"] == 8 * MiB)
        & (shown["memory.dram.bandwidth"] == best["memory.dram.bandwidth"])
        & (shown["engine"] == best["engine"])
    ]
    assert np.asarray(heatmap["z"])[1, 1] == pytest.approx(cell["latency_s"].iloc[0] * 1e6)


def test_breakdown_shows_only_chosen_designs_with_short_labels(sweep: SimpleNamespace) -> None:
    bars = _figure(sweep.figures, "bar", "Latency by operator category")
    labels = set(bars["data"][0]["y"])
    chosen = selected_points(sweep.frame, pareto_objectives(sweep.spec, sweep.frame))
    assert len(labels) == len(chosen)
    assert all(len(label) <= 60 for label in labels)
    assert any(label.startswith("rows=") and "sram=" in label for label in labels)
    # the figure grows with its bars: at least 30 px each
    assert bars["layout"]["height"] >= 30 * len(labels)
    page = (sweep.out / "breakdown.html").read_text(encoding="utf-8")
    assert figures_in(page)[0]["data"][0]["y"] == bars["data"][0]["y"]


LAT, ENERGY, ON_CHIP = "latency_s", "energy_per_inference_j", "on_chip_bytes"


@pytest.mark.parametrize(
    ("columns", "requested", "expected"),
    [
        # today: no area model ran, on-chip bytes stand in for area
        ([LAT, ENERGY, ON_CHIP], None, [LAT, ENERGY, ON_CHIP]),
        # with the area model's column: latency x energy x area
        ([LAT, ENERGY, ON_CHIP, "area_mm2"], None, [LAT, ENERGY, "area_mm2"]),
        # the spec names its own
        ([LAT, "perf_per_w", "area_mm2"], [LAT, "perf_per_w"], [LAT, "perf_per_w"]),
    ],
)
def test_pareto_objectives_follow_the_spec_and_the_table(
    columns: list[str], requested: list[str] | None, expected: list[str]
) -> None:
    frame = pd.DataFrame({column: [1.0, 2.0] for column in columns})
    spec = SimpleNamespace(objectives=requested)
    assert pareto_objectives(spec, frame) == expected  # type: ignore[arg-type]


def test_selected_points_are_the_front_capped_and_fastest_first() -> None:
    n = 60
    latency = np.linspace(1e-3, 6e-2, n)
    frame = pd.DataFrame(
        {
            "point": range(n),
            "latency_s": latency,
            "energy_per_inference_j": 1.0 / latency,  # every design trades off: all on the front
            "feasible": True,
        }
    )
    chosen = selected_points(frame, ["latency_s", "energy_per_inference_j"], limit=20)
    assert len(chosen) == 20
    assert chosen[:2] == [0, n - 1]  # fastest, then most energy-efficient
    assert len(set(chosen)) == 20


def test_units_and_labels_a_person_reads() -> None:
    sizes = [4 * MiB, 8 * MiB, 16 * MiB, 32 * MiB]
    unit = unit_for("memory.sram.capacity", sizes)
    assert unit.title == "sram capacity (MiB)"
    assert ticks(unit, sizes)["ticktext"] == ["4 MiB", "8 MiB", "16 MiB", "32 MiB"]
    assert unit_for("latency_s", [2e-3, 5e-3]).text(2.5e-3) == "2.5 ms"
    assert unit_for("energy_per_inference_j", [0.03]).text(0.032) == "32 mJ"
    assert unit_for("memory.dram.bandwidth", [1.2e12]).text(1.2e12) == "1.2 TB/s"
    assert unit_for("area_mm2", [300.0]).title == "area (mm²)"
    assert unit_for("peak_power_w", [300.0]).title == "peak power (W)"
    assert short_axis("memory.dram.bandwidth") == "dram_bw"
    frame = pd.DataFrame(
        {
            "point": [0, 1],
            "matrix.rows": [128, 256],
            "memory.sram.capacity": [16 * MiB, 16 * MiB],
            "memory.dram.bandwidth": [1.2e12, 2.4e12],
        }
    )
    labels = short_labels(
        frame.assign(**{"memory.sram.capacity": [16 * MiB, 32 * MiB]}),
        ["matrix.rows", "memory.sram.capacity", "memory.dram.bandwidth"],
    )
    assert labels.tolist() == [
        "rows=128 sram=16MiB dram_bw=1.2TB/s",
        "rows=256 sram=32MiB dram_bw=2.4TB/s",
    ]


def test_plot_command_pareto_shares_one_colour_scale() -> None:
    frame = pd.DataFrame(
        {
            "design": [f"d{i}" for i in range(4)],
            "latency_s": [1.0, 2.0, 3.0, 4.0],
            "energy_per_inference_j": [4.0, 3.0, 2.0, 5.0],
            "on_chip_bytes": [4 * MiB, 32 * MiB, 8 * MiB, 16 * MiB],
        }
    )
    figure = pareto_plot(frame, "latency_s", "energy_per_inference_j", "on_chip_bytes")
    colour = figure.layout.coloraxis
    assert list(colour.colorbar.ticktext) == ["4 MiB", "8 MiB", "16 MiB", "32 MiB"]
    assert (colour.cmin, colour.cmax) == (4.0, 32.0)
    assert all(trace.marker.coloraxis == "coloraxis" for trace in figure.data)


def test_sampled_axes_get_dot_maps_and_infeasible_sweeps_still_choose_designs() -> None:
    rng = np.random.default_rng(0)
    n = 30
    bandwidth = rng.uniform(1e11, 4e12, n)
    clock = rng.uniform(5e8, 2e9, n)
    latency = 1e-3 * (1e12 / bandwidth + 1e9 / clock)
    frame = pd.DataFrame(
        {
            "point": range(n),
            "design": [f"d{i}" for i in range(n)],
            "memory.dram.bandwidth": bandwidth,
            "clock": clock,
            "latency_s": latency,
            "energy_per_inference_j": latency * 50,
            "on_chip_bytes": 16.0 * MiB,
            "feasible": False,  # none meets the constraints: all are drawn and chosen from
        }
    )
    axes = ["memory.dram.bandwidth", "clock"]
    objectives = ["latency_s", "energy_per_inference_j", "on_chip_bytes"]
    chosen = selected_points(frame, objectives)
    assert chosen and chosen[0] == int(np.argmin(latency))
    board = build_dashboard(
        frame, axes, objectives, {p: f"designs/point-{p}/report.html" for p in chosen}
    )
    # no grid: no two designs share the other axes' values, so a dot per design
    assert len(board.heatmaps) == 2
    for figure in board.heatmaps:
        assert figure.data[0].type == "scatter" and len(figure.data[0].x) == n
        assert "(every design)" in figure.layout.title.text
    assert "sampled rather than a grid" in board.heatmap_rule
    assert "0 meet the constraints (all are drawn)" in board.summary
    # on-chip memory does not vary: the Pareto chart has no colour axis
    assert not board.pareto.layout.coloraxis.colorbar.ticktext
