"""Sweep results (one row per design point) → plotly figures. No file I/O here.

Each function takes the tidy table `perfsim.sweep.run_sweep` writes and column names, and
returns a `plotly.graph_objects.Figure`. Hover text names each design by its ``design``
column (the axis values as the spec wrote them) when the table has one.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from perfsim.errors import PerfsimError
from perfsim.ir import Category
from perfsim.report.display import unit_for
from perfsim.sweep.pareto import pareto_mask

KINDS = ("line", "heatmap", "pareto", "breakdown")
_LEGEND_ON_TOP = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0}
_MAXIMIZED = (
    "throughput",
    "perf_per_w",
    "perf_per_mm2",
    "utilization",
    "achieved_flops",
    "tops",
    "per_s",
)


def maximized(column: str) -> bool:
    """Whether bigger is better for a metric, by its name (throughput, perf/W, utilization)."""
    return any(word in column for word in _MAXIMIZED)


def check_columns(frame: pd.DataFrame, *columns: str | None) -> None:
    """`PerfsimError` naming the first column the table lacks, and the ones it has."""
    for column in columns:
        if column is not None and column not in frame.columns:
            raise PerfsimError(
                f"--x/--y/--color: no column {column!r} in the results; "
                f"columns are {', '.join(map(str, frame.columns))}"
            )


def _labels(frame: pd.DataFrame) -> pd.Series:
    if "design" in frame.columns:
        return frame["design"].astype(str)
    return pd.Series([f"point {index}" for index in frame.index], index=frame.index)


def line_plot(frame: pd.DataFrame, x: str, y: str, color: str | None = None) -> go.Figure:
    """``y`` over ``x``, one line per value of ``color`` (points sorted by ``x``)."""
    check_columns(frame, x, y, color)
    figure = go.Figure()
    groups = frame.groupby(color, sort=True) if color else [(None, frame)]
    for value, group in groups:
        group = group.sort_values(x)
        name = f"{color}={value[0] if isinstance(value, tuple) else value}" if color else y
        figure.add_scatter(
            x=group[x],
            y=group[y],
            mode="lines+markers",
            name=name,
            text=_labels(group),
            hovertemplate=f"%{{text}}<br>{x}=%{{x:.4g}}<br>{y}=%{{y:.4g}}<extra></extra>",
        )
    figure.update_layout(title=f"{y} over {x}", xaxis_title=x, yaxis_title=y)
    return figure


def heatmap(frame: pd.DataFrame, x: str, y: str, z: str) -> go.Figure:
    """``z`` over the ``x`` x ``y`` grid; where other axes vary, the best ``z`` per cell."""
    check_columns(frame, x, y, z)
    how = "max" if maximized(z) else "min"
    table = frame.pivot_table(index=y, columns=x, values=z, aggfunc=how).sort_index()
    figure = go.Figure(
        go.Heatmap(
            x=[str(v) for v in table.columns],
            y=[str(v) for v in table.index],
            z=table.to_numpy(),
            colorbar={"title": z},
            hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{z}=%{{z:.4g}}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"{z} ({how} over the other axes)",
        xaxis={"title": x, "type": "category"},
        yaxis={"title": y, "type": "category"},
    )
    return figure


def pareto_front(frame: pd.DataFrame, objectives: Sequence[str]) -> pd.Series:
    """True for the designs on the Pareto front of ``objectives`` (direction by name).

    When the table holds more than one cost model (an ``engine`` column with several
    values), each engine's designs form their own front: the roofline is a lower bound of
    the cycle model, so a mixed front would only say which model is more optimistic.
    An objective no design has a value for (``area_mm2`` of a file without an area
    estimate: all None) is left out rather than emptying the front; a design missing a
    value the others have is never on it.
    """
    check_columns(frame, *objectives)
    objectives = [c for c in objectives if frame[c].notna().any()] or list(objectives)
    mask = pd.Series(False, index=frame.index)
    groups = frame.groupby("engine", sort=False) if "engine" in frame.columns else [(None, frame)]
    for _, group in groups:
        mask[group.index] = pareto_mask(
            group[list(objectives)].to_numpy(dtype=float), [maximized(c) for c in objectives]
        )
    return mask


def pareto_plot(frame: pd.DataFrame, x: str, y: str, color: str | None = None) -> go.Figure:
    """Every design as a point, the non-dominated ones (over x, y and color) highlighted."""
    objectives = [x, y] + ([color] if color else [])
    front = pareto_front(frame, objectives)
    labels = _labels(frame)
    figure = go.Figure()
    unit = unit_for(color, frame[color]) if color else None
    for on_front, name, size in ((False, "dominated", 7), (True, "Pareto front", 11)):
        part = frame[front == on_front].sort_values(x)
        marker: dict[str, object] = {"size": size}
        if unit is not None:
            # one colour axis for both traces: one scale, one bar (in the column's unit)
            marker.update(color=unit.scale(part[str(color)]), coloraxis="coloraxis")
        if not on_front:
            marker["opacity"] = 0.35
        else:
            marker["line"] = {"width": 2, "color": "black"}
        extra = f"<br>{unit.title}: %{{marker.color:.4g}}" if unit is not None else ""
        figure.add_scatter(
            x=part[x],
            y=part[y],
            mode="lines+markers" if on_front and not color else "markers",
            name=name,
            marker=marker,
            text=labels[part.index],
            hovertemplate=f"%{{text}}<br>{x}=%{{x:.4g}}<br>{y}=%{{y:.4g}}{extra}<extra></extra>",
        )
    figure.update_layout(
        title=f"Pareto front: {', '.join(objectives)} ({int(front.sum())} of {len(frame)})",
        xaxis={"title": x, "exponentformat": "SI"},
        yaxis={"title": y, "exponentformat": "SI"},
        legend=_LEGEND_ON_TOP,
    )
    if unit is not None and color is not None:
        from perfsim.report.dashboard_plots import colour_axis

        figure.update_layout(coloraxis=colour_axis(unit, frame[color]))
    return figure


def breakdown_plot(frame: pd.DataFrame, x: str | None = None, limit: int = 60) -> go.Figure:
    """Stacked latency per operator category across designs ("Demystifying BERT" view).

    Designs are ordered by ``x`` when given (else by total latency); at most ``limit`` bars.
    """
    check_columns(frame, x)
    columns = [
        f"latency_{c.value}_s"
        for c in Category
        if f"latency_{c.value}_s" in frame.columns and frame[f"latency_{c.value}_s"].any()
    ]
    if not columns:
        raise PerfsimError("results: no latency_<category>_s columns to break down")
    rows = frame.sort_values(x or "latency_s").head(limit)
    labels = (
        _labels(rows)
        if x is None
        else rows[x].map(lambda v: f"{v:.4g}" if isinstance(v, float) else str(v))
    )
    labels = labels.where(~labels.duplicated(), labels + " #" + rows.index.astype(str))
    figure = go.Figure()
    for column in columns:
        category = column.removeprefix("latency_").removesuffix("_s")
        figure.add_bar(
            name=category,
            x=labels,
            y=rows[column] * 1e6,
            text=_labels(rows),
            hovertemplate=f"%{{text}}<br>{category}: %{{y:.4g}} µs<extra></extra>",
        )
    figure.update_layout(
        barmode="stack",
        title="Latency by operator category across designs",
        xaxis={"title": x or "design", "type": "category", "tickangle": -60, "automargin": True},
        yaxis_title="latency (µs)",
        legend=_LEGEND_ON_TOP,
        height=700,
    )
    return figure


def figure_for(
    frame: pd.DataFrame, kind: str, x: str | None, y: str | None, color: str | None
) -> go.Figure:
    """One figure by kind: ``line`` and ``pareto`` need x and y, ``heatmap`` x, y and color."""
    if kind not in KINDS:
        raise PerfsimError(f"--kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "breakdown":
        return breakdown_plot(frame, x)
    if x is None or y is None:
        raise PerfsimError(f"--x/--y: a {kind} plot needs both")
    if kind == "line":
        return line_plot(frame, x, y, color)
    if kind == "pareto":
        return pareto_plot(frame, x, y, color)
    if color is None:
        raise PerfsimError("--color: a heatmap needs the metric to color by")
    return heatmap(frame, x, y, color)
