"""The sweep dashboard's figures: Pareto chart, parallel coordinates, two-axis slices and a
per-category breakdown of chosen designs. No file I/O here.

Every figure plots values in a unit a person reads (`perfsim.report.display`): the
axis or colour-bar title names it, colour bars with few values label each one ("4 MiB",
"8 MiB"), and legends sit above the plot so they never cover a colour bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from perfsim.ir import Category
from perfsim.report.design_labels import short_names, short_value
from perfsim.report.display import Unit, column_name, spread, ticks, unit_for
from perfsim.report.run_plots import CATEGORY_COLOURS
from perfsim.report.sweep_plots import maximized

LEGEND_ON_TOP = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0}
FONT = {"size": 14}


def hover_cards(
    frame: pd.DataFrame, labels: pd.Series, columns: Sequence[str], overrides: Sequence[str]
) -> list[str]:
    """One hover card per design: short label, every override, and ``columns`` with units."""
    units = {column: unit_for(column, frame[column]) for column in columns}
    cards = []
    for index, row in frame.iterrows():
        lines = [f"<b>{labels[index]}</b>"]
        if "point" in frame.columns:
            lines[0] += f"  (point {row['point']})"
        lines += [
            f"{axis} = {short_value(axis, row[axis])}"
            for axis in overrides
            if axis in frame.columns
        ]
        lines += [f"{column_name(c)}: {units[c].text(row[c])}" for c in columns]
        cards.append("<br>".join(lines))
    return cards


def pareto_chart(
    frame: pd.DataFrame,
    objectives: Sequence[str],
    front: pd.Series,
    cards: Sequence[str],
    links: Mapping[int, str] | None = None,
) -> go.Figure:
    """Every design on the first two objectives, coloured by the third (when there is one);
    the Pareto front (over all objectives) drawn big and outlined, the rest faded.

    ``customdata`` of each point is its report's link ("" where it has none): a click on the
    page opens it.
    """
    x, y = objectives[0], objectives[1]
    # a colour objective that does not vary (every design the same size) colours nothing
    color = objectives[2] if len(objectives) > 2 and frame[objectives[2]].nunique() > 1 else None
    x_unit, y_unit = unit_for(x, frame[x]), unit_for(y, frame[y])
    cards_by_row = pd.Series(list(cards), index=frame.index)
    links = links or {}
    figure = go.Figure()
    for on_front, name, size in ((False, "dominated", 8), (True, "Pareto front", 13)):
        part = frame[front == on_front].sort_values(x)
        marker: dict[str, object] = {"size": size}
        if color:
            marker.update(
                color=unit_for(color, frame[color]).scale(part[color]), coloraxis="coloraxis"
            )
        else:
            marker["color"] = "#1f77b4" if on_front else "#999999"
        marker["opacity"] = 1.0 if on_front else 0.45
        if on_front:
            marker["line"] = {"width": 2, "color": "black"}
        points = part["point"] if "point" in part.columns else part.index.to_series()
        figure.add_scatter(
            x=x_unit.scale(part[x]),
            y=y_unit.scale(part[y]),
            mode="markers",
            name=f"{name} ({len(part)})",
            marker=marker,
            text=part["design"] if "design" in part.columns else None,
            hovertext=cards_by_row[part.index],
            customdata=[links.get(int(p), "") for p in points],
            hovertemplate="%{hovertext}<extra></extra>",
        )
    names = ", ".join(column_name(o) for o in objectives)
    layout: dict[str, object] = {
        "title": {"text": f"Pareto front over {names}: {int(front.sum())} of {len(frame)} designs"},
        "xaxis": _axis(x_unit, frame[x]),
        "yaxis": _axis(y_unit, frame[y]),
        "legend": LEGEND_ON_TOP,
        "height": 620,
        "font": FONT,
        "hoverlabel": {"align": "left"},
    }
    if color:
        layout["coloraxis"] = colour_axis(unit_for(color, frame[color]), frame[color])
    figure.update_layout(**layout)
    return figure


def _axis(unit: Unit, values: pd.Series) -> dict[str, object]:
    """An axis titled with its unit; log (labels at 1, 2 and 5 only) when values span 20x+."""
    if spread(values) > 20:
        return {"title": unit.title, "type": "log", "dtick": "D2"}
    return {"title": unit.title, "type": "linear"}


def colour_axis(unit: Unit, values: pd.Series, reverse: bool = False) -> dict[str, object]:
    """A shared colour axis over ``values`` (display unit), its bar titled with the unit and,
    when few distinct values, one tick per value ("4 MiB" ... "32 MiB")."""
    scaled = unit.scale(values)
    finite = scaled[np.isfinite(scaled)]
    return {
        "colorscale": "Viridis",
        "reversescale": reverse,
        "cmin": float(finite.min()) if finite.size else 0.0,
        "cmax": float(finite.max()) if finite.size else 1.0,
        "colorbar": {"title": {"text": unit.title, "side": "right"}, **ticks(unit, values)},
    }


def parallel_coordinates(
    frame: pd.DataFrame, axes: Sequence[str], metrics: Sequence[str], color: str
) -> go.Figure:
    """One vertical axis per sweep axis that varies and per metric; one line per design,
    coloured by ``color``. Categorical axes (strings) are coded 0, 1, ... and labelled."""
    names = short_names(list(axes))
    dimensions = []
    for axis in axes:
        values = frame[axis]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            unit = unit_for(axis, values)
            label = f"{names[axis]} ({unit.unit})" if unit.unit else names[axis]
            dimensions.append(
                {"label": label, "values": unit.scale(values), **ticks(unit, values, 12)}
            )
        else:
            levels = sorted(values.astype(str).unique())
            codes = values.astype(str).map({v: i for i, v in enumerate(levels)})
            dimensions.append(
                {
                    "label": names[axis],
                    "values": codes.to_numpy(dtype=float),
                    "tickvals": list(range(len(levels))),
                    "ticktext": levels,
                }
            )
    for metric in metrics:
        unit = unit_for(metric, frame[metric])
        dimensions.append(
            {
                "label": unit.title,
                "values": unit.scale(frame[metric]),
                **ticks(unit, frame[metric], 6),
            }
        )
    colour_unit = unit_for(color, frame[color])
    figure = go.Figure(
        go.Parcoords(
            dimensions=dimensions,
            line={
                "color": colour_unit.scale(frame[color]),
                "colorscale": "Viridis",
                "reversescale": not maximized(color),
                "showscale": True,
                "colorbar": {"title": {"text": colour_unit.title, "side": "right"}},
            },
            labelangle=-15,
            labelside="top",
        )
    )
    figure.update_layout(
        title={"text": "Every design across axes and metrics (drag on an axis to filter)"},
        height=560,
        margin={"t": 150, "l": 80, "r": 40},
        font=FONT,
    )
    return figure


def slice_of(
    frame: pd.DataFrame, anchor: Mapping[str, object], free: Sequence[str]
) -> pd.DataFrame:
    """The designs whose axes other than ``free`` equal their ``anchor`` values."""
    chosen = frame
    for axis, value in anchor.items():
        if axis not in free and axis in chosen.columns:
            chosen = chosen[chosen[axis] == value]
    return chosen


def slice_heatmap(
    frame: pd.DataFrame, x: str, y: str, metric: str, anchor: Mapping[str, object]
) -> go.Figure:
    """``metric`` over the ``x`` x ``y`` grid of the designs whose other axes equal
    ``anchor`` (where several still share a cell, the best of them); blank cells: no such
    design met the constraints."""
    chosen = slice_of(frame, anchor, (x, y))
    how = "max" if maximized(metric) else "min"
    table = chosen.pivot_table(index=y, columns=x, values=metric, aggfunc=how).sort_index()
    table = table.reindex(sorted(table.columns), axis=1)
    unit = unit_for(metric, frame[metric])
    z = unit.scale(table.to_numpy().ravel()).reshape(table.shape)
    figure = go.Figure(
        go.Heatmap(
            x=[short_value(x, v) for v in table.columns],
            y=[short_value(y, v) for v in table.index],
            z=z,
            colorscale="Viridis",
            reversescale=not maximized(metric),
            colorbar={"title": {"text": unit.title, "side": "right"}},
            texttemplate="%{z:.3g}",
            hovertemplate=(
                f"{x} = %{{x}}<br>{y} = %{{y}}<br>{unit.title}: %{{z:.4g}}<extra></extra>"
            ),
        )
    )
    names = short_names([x, y])
    figure.update_layout(
        title={"text": f"{column_name(metric)}: {names[y]} x {names[x]}"},
        xaxis={"title": x, "type": "category"},
        yaxis={"title": y, "type": "category"},
        height=440,
        font=FONT,
    )
    return figure


def design_breakdown(frame: pd.DataFrame, labels: pd.Series) -> go.Figure:
    """Latency per operator category of each design, one horizontal bar per design (short
    label on the left, fastest on top)."""
    columns = [
        f"latency_{c.value}_s"
        for c in Category
        if f"latency_{c.value}_s" in frame.columns and frame[f"latency_{c.value}_s"].any()
    ]
    rows = frame.sort_values("latency_s", ascending=False)  # plotly draws the last bar on top
    unit = unit_for("latency_s", rows["latency_s"])
    figure = go.Figure()
    for column in columns:
        category = column.removeprefix("latency_").removesuffix("_s")
        figure.add_bar(
            name=category,
            y=labels[rows.index],
            x=unit.scale(rows[column]),
            orientation="h",
            marker={"color": CATEGORY_COLOURS.get(category)},
            hovertemplate=f"%{{y}}<br>{category}: %{{x:.4g}} {unit.unit}<extra></extra>",
        )
    figure.update_layout(
        barmode="stack",
        title={"text": "Latency by operator category, chosen designs (fastest on top)"},
        xaxis={"title": f"latency ({unit.unit})"},
        yaxis={"type": "category", "automargin": True},
        legend={**LEGEND_ON_TOP, "traceorder": "normal"},
        height=180 + 30 * len(rows),
        margin={"t": 130},
        font=FONT,
    )
    return figure


def best_line(frame: pd.DataFrame, x: str, y: str, color: str | None = None) -> go.Figure:
    """``y`` over ``x``, one line per value of ``color``: at each ``x``, the best ``y`` over
    the axes not drawn (the envelope a designer can reach), in units a person reads."""
    how = "max" if maximized(y) else "min"
    x_unit, y_unit = unit_for(x, frame[x]), unit_for(y, frame[y])
    figure = go.Figure()
    groups = frame.groupby(color, sort=True) if color else [(None, frame)]
    names = short_names([a for a in (x, color) if a])
    for value, group in groups:
        value = value[0] if isinstance(value, tuple) else value
        best = group.groupby(x)[y].agg(how).sort_index()
        figure.add_scatter(
            x=x_unit.scale(best.index),
            y=y_unit.scale(best.to_numpy()),
            mode="lines+markers",
            name=f"{names[color]}={short_value(color, value)}" if color else column_name(y),
            hovertemplate=(
                f"{names[x]} = %{{x:.4g}} {x_unit.unit}<br>"
                f"{y_unit.title}: %{{y:.4g}}<extra></extra>"
            ),
        )
    figure.update_layout(
        title={"text": f"{column_name(y)} over {names[x]} ({how} over the other axes)"},
        xaxis={**_axis(x_unit, frame[x]), **ticks(x_unit, frame[x])},
        yaxis=_axis(y_unit, frame[y]),
        legend=LEGEND_ON_TOP,
        height=480,
        margin={"t": 110},
        font=FONT,
    )
    return figure


def sampled_map(frame: pd.DataFrame, x: str, y: str, metric: str) -> go.Figure:
    """``metric`` over ``x`` and ``y`` for sampled (random, Latin-hypercube) axes, where no
    grid of cells exists: every design is a dot at its (x, y), coloured by the metric."""
    x_unit, y_unit, unit = (unit_for(c, frame[c]) for c in (x, y, metric))
    figure = go.Figure(
        go.Scatter(
            x=x_unit.scale(frame[x]),
            y=y_unit.scale(frame[y]),
            mode="markers",
            marker={
                "size": 12,
                "color": unit.scale(frame[metric]),
                "colorscale": "Viridis",
                "reversescale": not maximized(metric),
                "colorbar": {"title": {"text": unit.title, "side": "right"}},
                "line": {"width": 0.5, "color": "#333"},
            },
            hovertemplate=(
                f"{x} = %{{x:.4g}} {x_unit.unit}<br>{y} = %{{y:.4g}} {y_unit.unit}<br>"
                f"{unit.title}: %{{marker.color:.4g}}<extra></extra>"
            ),
        )
    )
    names = short_names([x, y])
    figure.update_layout(
        title={"text": f"{column_name(metric)}: {names[y]} x {names[x]} (every design)"},
        xaxis=_axis(x_unit, frame[x]) | {"title": x_unit.title},
        yaxis=_axis(y_unit, frame[y]) | {"title": y_unit.title},
        height=440,
        font=FONT,
    )
    return figure
