"""The sweep dashboard's content: which metrics, which slices, which designs, in what words.

`Dashboard` holds the figures and notes of one sweep; `perfsim.report.sweep_files` lays
them out as ``index.html`` and the single-topic pages.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from perfsim.report.dashboard_plots import (
    design_breakdown,
    hover_cards,
    parallel_coordinates,
    pareto_chart,
    sampled_map,
    slice_heatmap,
    slice_of,
)
from perfsim.report.design_labels import short_labels
from perfsim.report.display import column_name, unit_for
from perfsim.report.sweep_plots import maximized, pareto_front

# the metrics a design is judged by, in this order, where the table has them
METRICS = (
    "latency_s",
    "energy_per_inference_j",
    "area_mm2",
    "on_chip_bytes",
    "peak_power_w",
    "average_power_w",
    "throughput_samples_per_s",
    "perf_per_w",
    "perf_per_mm2",
)
HEATMAP_METRICS = ("latency_s", "energy_per_inference_j")
MAX_HEATMAP_PAIRS = 3


@dataclass(frozen=True)
class Dashboard:
    """The figures of one sweep's dashboard, each with the sentence that explains it."""

    pareto: go.Figure
    parallel: go.Figure
    heatmaps: list[go.Figure]
    heatmap_rule: str
    breakdown: go.Figure | None
    designs_table: str
    summary: str
    objectives: list[str] = field(default_factory=list)


def feasible(frame: pd.DataFrame) -> pd.DataFrame:
    """The designs that meet the constraints (all of them when none do, or none are given)."""
    shown = frame[frame["feasible"].astype(bool)] if "feasible" in frame.columns else frame
    return shown if not shown.empty else frame


def metric_columns(
    frame: pd.DataFrame, objectives: Sequence[str], extra: Sequence[str] = ()
) -> list[str]:
    """Objectives first, then the standard metrics and ``extra`` (the spec's own metrics)
    that the table has and that vary; a metric proportional to one already listed (for
    example ``latency_ms`` beside ``latency_s``) is left out."""
    chosen: list[str] = []
    for column in [*objectives, *METRICS, *extra]:
        if column in chosen or column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(values).any() or np.nanmax(values) == np.nanmin(values):
            continue
        if any(_proportional(values, frame[other].to_numpy(dtype=float)) for other in chosen):
            continue
        chosen.append(column)
    return chosen


def _proportional(a: np.ndarray, b: np.ndarray) -> bool:
    mask = np.isfinite(a) & np.isfinite(b) & (b != 0)
    if not mask.any():
        return False
    ratio = a[mask] / b[mask]
    return bool(np.allclose(ratio, ratio[0], rtol=1e-9, atol=0.0))


def numeric_axes(frame: pd.DataFrame, axes: Sequence[str]) -> list[str]:
    """The axes with numbers that take more than one value."""
    return [
        axis
        for axis in axes
        if axis in frame.columns
        and pd.api.types.is_numeric_dtype(frame[axis])
        and frame[axis].nunique() > 1
    ]


def build_dashboard(
    frame: pd.DataFrame,
    axes: Sequence[str],
    objectives: Sequence[str],
    links: Mapping[int, str],
    extra_metrics: Sequence[str] = (),
) -> Dashboard:
    """Every figure of the dashboard from the results table (feasible designs only).

    Args:
        frame: the sweep's results, one row per design point.
        axes: the axes to show (zip followers left out).
        objectives: Pareto objectives, in order: x, y, colour, then hover only.
        links: point index → its report's path, relative to the page.
        extra_metrics: the spec's own metric columns.
    """
    shown = feasible(frame)
    objectives = [o for o in objectives if o in shown.columns]
    varying = [a for a in axes if a in shown.columns and shown[a].nunique() > 1]
    labels = short_labels(shown, varying)
    metrics = metric_columns(shown, objectives, extra_metrics)
    cards = hover_cards(shown, labels, metrics, varying)
    front = pareto_front(shown, objectives)
    pareto = pareto_chart(shown, objectives, front, cards, links)
    parallel = parallel_coordinates(shown, varying, metrics, objectives[0])
    heatmaps, rule = _heatmaps(shown, varying, objectives[0], labels)
    chosen = shown[shown["point"].isin(list(links))] if "point" in shown.columns else shown.iloc[:0]
    breakdown = design_breakdown(chosen, labels) if len(chosen) else None
    feasible_count = int(frame["feasible"].sum()) if "feasible" in frame.columns else len(frame)
    names = ", ".join(column_name(o) for o in objectives)
    drawn = "only those are drawn" if feasible_count else "all are drawn"
    count = int(front.sum())
    on_front = f"{count} design is" if count == 1 else f"{count} designs are"
    summary = (
        f"{len(frame)} designs, {feasible_count} meet the constraints ({drawn}). "
        f"Pareto objectives: {html.escape(names)}; {on_front} on the front. "
        "Hover a point for its overrides and figures; click it to open its report."
    )
    return Dashboard(
        pareto=pareto,
        parallel=parallel,
        heatmaps=heatmaps,
        heatmap_rule=rule,
        breakdown=breakdown,
        designs_table=_designs_table(chosen, labels, metrics, links, front),
        summary=summary,
        objectives=list(objectives),
    )


def _heatmaps(
    frame: pd.DataFrame, axes: Sequence[str], first: str, labels: pd.Series
) -> tuple[list[go.Figure], str]:
    """Heatmap slices of a grid; for sampled axes (a slice that is no grid, `_is_grid`),
    every design as a dot coloured by the metric."""
    numeric = numeric_axes(frame, axes)
    if len(numeric) < 2:
        return [], "Fewer than two numeric axes vary: no two-axis slices."
    best = frame.loc[frame[first].idxmax() if maximized(first) else frame[first].idxmin()]
    anchor = {axis: best[axis] for axis in axes}
    pairs = list(combinations(numeric, 2))[:MAX_HEATMAP_PAIRS]
    metrics = [m for m in HEATMAP_METRICS if m in frame.columns]
    figures = []
    sampled = False
    for x, y in pairs:
        if _is_grid(slice_of(frame, anchor, (x, y)), x, y):
            figures += [slice_heatmap(frame, x, y, m, anchor) for m in metrics]
        else:
            sampled = True
            figures += [sampled_map(frame, x, y, m) for m in metrics]
    rule = (
        "Each heatmap varies two numeric axes; every other axis is held at its value in the "
        f"best design by {column_name(first)} (point {best.get('point', best.name)}: "
        f"{html.escape(str(labels[best.name]))}). A cell is blank where no such design meets "
        "the constraints; where designs still share a cell, the best value is shown."
    )
    if sampled:
        rule += (
            " Where the axes are sampled rather than a grid, the chart shows every design as "
            "a dot coloured by the metric."
        )
    return figures, rule


def _is_grid(cells: pd.DataFrame, x: str, y: str) -> bool:
    """At least 2 x 2 cells, at most 20 a side, half of them or more holding a design."""
    nx, ny = cells[x].nunique(), cells[y].nunique()
    filled = len(cells[[x, y]].drop_duplicates())
    return 2 <= nx <= 20 and 2 <= ny <= 20 and filled >= 0.5 * nx * ny


def _designs_table(
    chosen: pd.DataFrame,
    labels: pd.Series,
    metrics: Sequence[str],
    links: Mapping[int, str],
    front: pd.Series,
) -> str:
    from perfsim.report.html_page import table

    if chosen.empty:
        return "<p>No design reports.</p>"
    units = {m: unit_for(m, chosen[m]) for m in metrics}
    rows = []
    for index, row in chosen.sort_values(metrics[0] if metrics else "point").iterrows():
        point = int(row["point"])
        link = links.get(point, "")
        name = html.escape(str(labels[index]))
        rows.append(
            [
                f"<a href='{html.escape(link)}'>{name}</a>" if link else name,
                "yes" if bool(front.get(index, False)) else "",
                *(units[m].text(row[m]) for m in metrics),
            ]
        )
    return table(["design (report)", "Pareto", *(units[m].title for m in metrics)], rows, "designs")
