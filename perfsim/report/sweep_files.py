"""A sweep's pages beside its results: the ``index.html`` dashboard and one page per topic.

Rendered in memory first and written all or nothing (`perfsim.report.files.write_outputs`).
The pages share one ``plotly.min.js`` in the same folder, so they open offline and stay
small; the per-design reports (``designs/point-<n>/report.html``, written by
`perfsim.sweep.output`) use the same copy.

- ``index.html``: the dashboard: Pareto chart (hover cards, click to open a design's
  report), parallel coordinates over every axis and metric, the chosen designs with links,
  two-axis heatmap slices and the chosen designs' category breakdown;
- ``pareto.html``, ``heatmap.html``, ``breakdown.html``: those parts on their own;
- ``line_<axis>.html``: latency and energy per inference over each numeric axis (the best
  over the axes not drawn), a line per value of the next axis;
- ``roofline.html``: the ops of the fastest and the most energy-efficient designs.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from perfsim.report.dashboard import Dashboard, build_dashboard, feasible, numeric_axes
from perfsim.report.dashboard_plots import best_line
from perfsim.report.html_page import figure_html, page, section
from perfsim.sweep.pareto import DEFAULT_OBJECTIVES

PLOTLY_JS = "plotly.min.js"


def _grid(figures: Sequence[go.Figure]) -> str:
    return (
        "<div class='grid'>" + "".join(f"<div>{figure_html(f)}</div>" for f in figures) + "</div>"
    )


def _index(name: str, description: str, board: Dashboard, pages: Mapping[str, str]) -> str:
    nav = "".join(f"<a href='{file}'>{html.escape(title)}</a>" for file, title in pages.items())
    nav += "<a href='results.csv'>results.csv</a><a href='spec.yaml'>spec.yaml</a>"
    sections = [
        f"<nav>{nav}</nav>",
        section("Pareto front", figure_html(board.pareto, clickable=True), "pareto"),
        section("All designs, every axis and metric", figure_html(board.parallel), "parallel"),
        section(
            "Design reports (Pareto front and fastest designs)", board.designs_table, "designs"
        ),
    ]
    if board.heatmaps:
        sections.append(
            section(
                "Two-axis slices",
                f"<p class='note'>{board.heatmap_rule}</p>{_grid(board.heatmaps)}",
                "heatmaps",
            )
        )
    if board.breakdown is not None:
        sections.append(section("Where the time goes", figure_html(board.breakdown), "breakdown"))
    intro = (html.escape(description) + "<br>" if description else "") + board.summary
    return page(f"Sweep {name}", sections, PLOTLY_JS, intro)


@dataclass(frozen=True, slots=True)
class SweepView:
    """What a sweep's pages show, from its spec.

    ``name`` titles the pages; ``axes`` are the axes to plot (zip followers left out);
    ``objectives`` the Pareto objectives (x, y, colour, then hover only; those the table
    lacks are skipped); ``description`` goes under the title; ``extra_metrics`` are the
    spec's own metric columns (shown in the parallel coordinates).
    """

    name: str
    axes: tuple[str, ...]
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES
    description: str = ""
    extra_metrics: tuple[str, ...] = ()


def render_sweep_pages(
    view: SweepView,
    frame: pd.DataFrame,
    rooflines: Sequence[tuple[str, go.Figure]] = (),
    links: Mapping[int, str] | None = None,
) -> dict[str, str]:
    """File name → HTML text: ``index.html``, the topic pages and the shared ``plotly.min.js``.

    Args:
        view: what the pages show (`SweepView`).
        frame: the results table, one row per design point (SI columns).
        rooflines: (design, roofline figure) of designs worth a roofline.
        links: point index → path of that design's report, relative to the sweep folder.
    """
    from plotly.offline import get_plotlyjs

    name, axes, description = view.name, view.axes, view.description
    board = build_dashboard(frame, axes, view.objectives, links or {}, view.extra_metrics)
    shown = feasible(frame)
    contents: dict[str, str] = {}
    titles: dict[str, str] = {"pareto.html": "Pareto front"}
    contents["pareto.html"] = page(
        f"{name}: Pareto front",
        [section("Pareto front", figure_html(board.pareto, clickable=True))],
        PLOTLY_JS,
        board.summary,
    )
    if board.heatmaps:
        titles["heatmap.html"] = "Heatmaps"
        contents["heatmap.html"] = page(
            f"{name}: two-axis slices", [_grid(board.heatmaps)], PLOTLY_JS, board.heatmap_rule
        )
    if board.breakdown is not None:
        titles["breakdown.html"] = "Breakdown"
        contents["breakdown.html"] = page(
            f"{name}: latency by operator category", [figure_html(board.breakdown)], PLOTLY_JS
        )
    for axis in numeric_axes(shown, axes):
        others = [a for a in axes if a != axis and a in shown.columns and shown[a].nunique() > 1]
        color = others[0] if others else None
        file = f"line_{axis.replace('.', '-')}.html"
        titles[file] = f"Over {axis}"
        charts = [
            best_line(shown, axis, "latency_s", color),
            best_line(shown, axis, "energy_per_inference_j", color),
        ]
        contents[file] = page(f"{name}: latency and energy over {axis}", [_grid(charts)], PLOTLY_JS)
    if rooflines:
        titles["roofline.html"] = "Rooflines"
        contents["roofline.html"] = page(
            f"{name}: rooflines of the fastest and most efficient designs",
            [figure_html(figure) for _, figure in rooflines],
            PLOTLY_JS,
        )
    contents["index.html"] = _index(name, description, board, titles)
    contents[PLOTLY_JS] = get_plotlyjs()
    return contents
