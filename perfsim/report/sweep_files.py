"""A sweep's plots as HTML files beside its results, and one ``index.html`` linking them.

Rendered in memory first and written all or nothing (`perfsim.report.files.write_outputs`).
The pages share one ``plotly.min.js`` in the same folder, so they open offline and stay
small.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from perfsim.report.sweep_plots import breakdown_plot, heatmap, line_plot, pareto_plot
from perfsim.sweep.pareto import DEFAULT_OBJECTIVES

PLOTLY_JS = "plotly.min.js"


def _page(title: str, figures: Sequence[go.Figure], note: str = "") -> str:
    body = "\n".join(figure.to_html(full_html=False, include_plotlyjs=False) for figure in figures)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<script src='{PLOTLY_JS}'></script></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{note}</p>{body}</body></html>"
    )


def _numeric_axes(frame: pd.DataFrame, axes: Sequence[str]) -> list[str]:
    return [
        axis
        for axis in axes
        if axis in frame.columns
        and pd.api.types.is_numeric_dtype(frame[axis])
        and frame[axis].nunique() > 1
    ]


def sweep_figures(
    frame: pd.DataFrame, axes: Sequence[str], rooflines: Sequence[tuple[str, go.Figure]] = ()
) -> dict[str, tuple[str, list[go.Figure]]]:
    """File name → (title, figures) for a sweep's standard plots.

    - ``pareto.html``: latency vs energy per inference, colored (and ranked) by die area
      (`perfsim.sweep.pareto.DEFAULT_OBJECTIVES`; on-chip bytes for a table without area);
    - ``heatmap.html``: latency over the first two numeric axes (best over the others);
    - ``line_<axis>.html``: latency over each numeric axis, a line per value of the next;
    - ``breakdown.html``: latency per operator category across designs;
    - ``roofline.html``: the ops of the selected designs on their rooflines.

    Only feasible designs (constraints met) are plotted when the table says which.
    """
    shown = frame[frame["feasible"]] if "feasible" in frame.columns else frame
    if shown.empty:
        shown = frame
    x, y, color = DEFAULT_OBJECTIVES
    # a table written before the area model, or of files without an area estimate
    if color not in shown.columns or shown[color].isna().all():
        color = "on_chip_bytes"
    pages: dict[str, tuple[str, list[go.Figure]]] = {
        "pareto.html": (
            f"Pareto front: latency, energy per inference, {color}",
            [pareto_plot(shown, x, y, color)],
        )
    }
    numeric = _numeric_axes(shown, axes)
    if len(numeric) >= 2:
        pages["heatmap.html"] = (
            f"Latency over {numeric[0]} x {numeric[1]}",
            [
                heatmap(shown, numeric[0], numeric[1], "latency_s"),
                heatmap(shown, numeric[0], numeric[1], "energy_per_inference_j"),
            ],
        )
    for axis in numeric:
        others = [a for a in axes if a != axis and a in shown.columns and shown[a].nunique() > 1]
        color = others[0] if others else None
        pages[f"line_{axis.replace('.', '-')}.html"] = (
            f"Latency over {axis}",
            [line_plot(shown, axis, "latency_s", color), line_plot(shown, axis, "energy_j", color)],
        )
    pages["breakdown.html"] = (
        "Latency by operator category across designs",
        [breakdown_plot(shown)],
    )
    if rooflines:
        pages["roofline.html"] = (
            "Rooflines of selected designs",
            [figure for _, figure in rooflines],
        )
    return pages


def render_sweep_pages(
    name: str,
    frame: pd.DataFrame,
    axes: Sequence[str],
    rooflines: Sequence[tuple[str, go.Figure]] = (),
) -> dict[str, str]:
    """File name → HTML text: every page, ``index.html`` and the shared ``plotly.min.js``."""
    from plotly.offline import get_plotlyjs

    pages = sweep_figures(frame, axes, rooflines)
    contents = {file: _page(title, figures) for file, (title, figures) in pages.items()}
    feasible = int(frame["feasible"].sum()) if "feasible" in frame.columns else len(frame)
    best = frame.loc[frame["latency_s"].idxmin()] if len(frame) else None
    links = "".join(
        f"<li><a href='{file}'>{html.escape(title)}</a></li>" for file, (title, _) in pages.items()
    )
    summary: Any = (
        f"{len(frame)} designs, {feasible} meet the constraints. Fastest: "
        f"{html.escape(str(best['design']))} ({best['latency_s'] * 1e3:.4g} ms)"
        if best is not None and "design" in frame.columns
        else f"{len(frame)} designs"
    )
    contents["index.html"] = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(name)}</title>"
        f"</head><body><h1>Sweep {html.escape(name)}</h1><p>{summary}</p><ul>{links}</ul>"
        "<p>Table: <a href='results.csv'>results.csv</a>, results.parquet; "
        "spec: <a href='spec.yaml'>spec.yaml</a></p></body></html>"
    )
    contents[PLOTLY_JS] = get_plotlyjs()
    return contents
