"""A finished sweep's plots: the standard pages plus rooflines of the selected designs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from perfsim.cache import GraphStore
from perfsim.estimate import Result
from perfsim.pipeline import simulate
from perfsim.sweep.plan import Point, plan
from perfsim.sweep.spec import SweepSpec

if TYPE_CHECKING:
    import pandas as pd


def point_result(point: Point, store: GraphStore | None = None) -> Result:
    """The full per-op `Result` of one design point, what-ifs included (for its roofline or
    ops table)."""
    return simulate(point.scenario, point.hw, engine=point.engine, store=store)


def selected_points(frame: pd.DataFrame) -> list[int]:
    """Point indices worth a roofline: the fastest and the most energy-efficient feasible ones."""
    shown = frame[frame["feasible"]] if "feasible" in frame.columns else frame
    if shown.empty:
        return []
    chosen = [
        int(shown.loc[shown["latency_s"].idxmin(), "point"]),
        int(shown.loc[shown["energy_per_inference_j"].idxmin(), "point"]),
    ]
    return list(dict.fromkeys(chosen))


def render_plots(
    spec: SweepSpec, frame: pd.DataFrame, store: GraphStore | None = None
) -> dict[str, str]:
    """File name → contents of every plot page of a sweep (nothing written yet)."""
    from perfsim.report.plots import roofline_chart
    from perfsim.report.sweep_files import render_sweep_pages

    points = {point.index: point for point in plan(spec)}
    rooflines = []
    for index in selected_points(frame):
        point = points[index]
        result = point_result(point, store)
        ops = result.to_frame()
        matrix = ops[ops["category"].isin(("gemm", "attn_gemm"))]
        dtype = str(matrix["dtype"].iloc[0]) if len(matrix) else point.precision
        chart = roofline_chart(ops, point.hw, dtype)
        chart.update_layout(title=f"Roofline of design {index}: {point.design}")
        rooflines.append((point.design, chart))
    # an axis zipped to an earlier one carries no new information: plot the first of a group
    followers = {name for group in spec.zip for name in group[1:]}
    axes = [name for name in spec.axes if name not in followers]
    return render_sweep_pages(spec.name, frame, axes, rooflines)


def write_plots(
    spec: SweepSpec, frame: pd.DataFrame, out_dir: Path, store: GraphStore | None = None
) -> list[Path]:
    """Write the plot pages and ``index.html`` into ``out_dir`` (all or nothing)."""
    from perfsim.report.files import write_outputs

    return write_outputs(render_plots(spec, frame, store), out_dir)
