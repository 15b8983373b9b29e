"""A finished sweep's pages: the dashboard, the topic pages, and a full run report for each
chosen design (the Pareto front and the fastest designs, at most `MAX_REPORTS`).

Chosen designs get ``designs/point-<n>/report.html`` (the report of ``perfsim run`` for
that point, sharing the sweep's ``plotly.min.js``; its figures are the table's row, so no
``summary.json`` beside it); the dashboard links each of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from perfsim.cache import GraphStore
from perfsim.estimate import Result
from perfsim.pipeline import simulate
from perfsim.sweep.pareto import DEFAULT_OBJECTIVES
from perfsim.sweep.plan import Point, plan
from perfsim.sweep.spec import SweepSpec

if TYPE_CHECKING:
    import pandas as pd

# a table without area (written before the area model, or a device without one) ranks
# designs by on-chip bytes instead
_STAND_INS = {"area_mm2": "on_chip_bytes"}
MAX_REPORTS = 20
MIN_REPORTS = 8
DESIGNS_DIR = "designs"


def point_result(point: Point, store: GraphStore | None = None) -> Result:
    """The full per-op `Result` of one design point, what-ifs included (for its roofline or
    ops table)."""
    return simulate(point.scenario, point.hw, engine=point.engine, store=store)


def pareto_objectives(spec: SweepSpec, frame: pd.DataFrame) -> list[str]:
    """The sweep's Pareto objectives that its table has: the spec's ``objectives`` where it
    names some, else `DEFAULT_OBJECTIVES`; a column the table lacks is replaced by its
    stand-in (area → on-chip bytes) or dropped."""
    requested = getattr(spec, "objectives", None) or DEFAULT_OBJECTIVES
    chosen: list[str] = []
    for objective in requested:
        present = objective in frame.columns and frame[objective].notna().any()
        column = objective if present else _STAND_INS.get(objective)
        if column is not None and column in frame.columns and column not in chosen:
            chosen.append(column)
    return chosen


def selected_points(
    frame: pd.DataFrame,
    objectives: Sequence[str] = DEFAULT_OBJECTIVES[:2],
    limit: int = MAX_REPORTS,
) -> list[int]:
    """Point indices worth a full report, best first by the first objective.

    The feasible designs (all of them when none is) on the Pareto front of ``objectives``
    (more than ``limit``: the best on each objective, then evenly spread along the first),
    topped up with the next best designs by the first objective to `MIN_REPORTS`. The
    fastest and the most energy-efficient come first (the sweep's rooflines use them).
    """
    from perfsim.report.dashboard import feasible
    from perfsim.report.sweep_plots import maximized, pareto_front

    shown = feasible(frame)
    objectives = [o for o in objectives if o in shown.columns]
    if shown.empty or not objectives:
        return []
    first = objectives[0]
    ordered = shown.sort_values(first, ascending=not maximized(first))
    front = ordered[pareto_front(ordered, objectives)]
    # the best on each objective among the front (ties: the design nothing dominates)
    best = [
        int(front.loc[front[o].idxmax() if maximized(o) else front[o].idxmin(), "point"])
        for o in (*objectives, "energy_per_inference_j")
        if o in front.columns
    ]
    chosen = list(dict.fromkeys([best[0], best[-1], *best]))
    points = [p for p in front["point"].astype(int) if p not in chosen]
    if len(points) > limit - len(chosen):
        spots = np.linspace(0, len(points) - 1, max(limit - len(chosen), 0)).round().astype(int)
        points = [points[i] for i in spots]
    chosen = list(dict.fromkeys([*chosen, *points]))
    for point in ordered["point"].astype(int):
        if len(chosen) >= min(MIN_REPORTS, limit):
            break
        if point not in chosen:
            chosen.append(point)
    return chosen[:limit]


def design_link(point: int) -> str:
    """Where a design's report lives, relative to the sweep folder."""
    return f"{DESIGNS_DIR}/point-{point}/report.html"


def render_plots(
    spec: SweepSpec, frame: pd.DataFrame, store: GraphStore | None = None
) -> dict[str, str]:
    """File name → contents of every page of a sweep and its design reports (nothing
    written yet)."""
    from perfsim.report.files import render_outputs
    from perfsim.report.plots import roofline_chart
    from perfsim.report.run_page import matrix_dtype, op_shapes
    from perfsim.report.sweep_files import SweepView, render_sweep_pages

    objectives = pareto_objectives(spec, frame)
    points = {point.index: point for point in plan(spec)}
    chosen = selected_points(frame, objectives)
    contents: dict[str, str] = {}
    rooflines = []
    for rank, index in enumerate(chosen):
        point = points[index]
        result = point_result(point, store)
        folder = Path(design_link(index)).parent.as_posix()
        report = render_outputs(
            result,
            plotly_js="../../plotly.min.js",
            back_link="../../index.html",
            design=f"point {index}: {point.design}",
        )
        contents[f"{folder}/report.html"] = report["report.html"]
        if rank < 2:  # the fastest and the most energy-efficient
            ops = result.to_frame()
            chart = roofline_chart(
                ops, point.hw, matrix_dtype(ops, point.precision), op_shapes(result)
            )
            chart.update_layout(title={"text": f"Roofline of design {index}: {point.design}"})
            rooflines.append((point.design, chart))
    # an axis zipped to an earlier one carries no new information: plot the first of a group
    followers = {name for group in spec.zip for name in group[1:]}
    axes = [name for name in spec.axes if name not in followers]
    view = SweepView(
        name=spec.name,
        axes=tuple(axes),
        objectives=tuple(objectives),
        description=spec.description,
        extra_metrics=tuple(spec.metrics),
    )
    links = {index: design_link(index) for index in chosen}
    contents.update(render_sweep_pages(view, frame, rooflines, links))
    return contents


def write_plots(
    spec: SweepSpec, frame: pd.DataFrame, out_dir: Path, store: GraphStore | None = None
) -> list[Path]:
    """Write the pages, ``index.html`` and the design reports into ``out_dir`` (all or
    nothing)."""
    from perfsim.report.files import write_outputs

    return write_outputs(render_plots(spec, frame, store), out_dir)
