"""One run's per-op table → the run report's charts: the op timeline and the traffic and
energy of each memory level. No file I/O here.

The per-op table is `perfsim.estimate.Result.to_frame` (``ops.csv``): ops in execution
order, ``latency_s`` each op's step on the device, ``<level>_bytes`` its traffic at each
memory level and ``energy_<component>_j`` its joules per component. A ``count`` column
(data-parallel steps: micro-steps an op repeats) multiplies traffic and energy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from perfsim.ir import Category
from perfsim.report.display import text_of, unit_for

LEGEND_ON_TOP = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0}
LEGEND_RIGHT = {"orientation": "v", "yanchor": "top", "y": 1.0, "x": 1.02, "title": "category"}
FONT = {"size": 14}
# one fixed colour per category, so every chart of a report agrees
_PALETTE = (
    "#1f77b4", "#aec7e8", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#c7c7c7",
)  # fmt: skip
CATEGORY_COLOURS = dict(zip([c.value for c in Category], _PALETTE, strict=False))
_HEADS = ("cls", "classifier", "qa_outputs", "pooler", "lm_head", "heads")


def layer_group(scope: str, layer: int, phase: str) -> str:
    """The row an op sits in on the timeline: ``layer <n>``, ``embeddings``, ``head``,
    ``optimizer`` or the first part of its module path."""
    if phase == "optimizer":
        return "optimizer"
    if layer >= 0:
        return f"layer {layer}"
    parts = scope.split(".")
    if "embeddings" in parts:
        return "embeddings"
    if any(part in _HEADS for part in parts):
        return "head"
    return parts[0] or "other"


def _weights(frame: pd.DataFrame) -> np.ndarray:
    if "count" in frame.columns:
        return frame["count"].fillna(1).to_numpy(dtype=float)
    return np.ones(len(frame))


def op_timeline(frame: pd.DataFrame, shapes: Sequence[str] | None = None) -> go.Figure:
    """Every op as a bar from its start to its end (execution order, each after the one
    before), one row per layer group, coloured by category."""
    steps = frame["latency_s"].fillna(0.0).to_numpy(dtype=float)
    ends = np.cumsum(steps)
    starts = ends - steps
    unit = unit_for("latency_s", [ends[-1]] if len(ends) else [0.0])
    groups = [
        layer_group(str(scope), int(layer), str(phase))
        for scope, layer, phase in zip(frame["scope"], frame["layer"], frame["phase"], strict=True)
    ]
    order = list(dict.fromkeys(groups))
    figure = go.Figure()
    for category in [c.value for c in Category]:
        rows = np.flatnonzero(frame["category"].to_numpy() == category)
        if not rows.size:
            continue
        cards = [
            f"<b>{frame['op'].iat[i]}</b><br>{category}, {frame['phase'].iat[i]}"
            + (f"<br>{shapes[i]}" if shapes is not None else "")
            + f"<br>start {unit.text(starts[i])}, takes {text_of('latency_s', steps[i])}"
            for i in rows
        ]
        figure.add_bar(
            name=category,
            y=[groups[i] for i in rows],
            x=unit.scale(steps[rows]),
            base=unit.scale(starts[rows]),
            orientation="h",
            marker={"color": CATEGORY_COLOURS.get(category), "line": {"width": 0}},
            hovertext=cards,
            hovertemplate="%{hovertext}<extra></extra>",
        )
    figure.update_layout(
        title={"text": f"Op timeline: {len(frame)} ops in execution order, by layer"},
        barmode="overlay",
        bargap=0.25,
        xaxis={
            "title": f"time ({unit.unit})",
            "range": [0, unit.scale([ends[-1]])[0] if len(ends) else 1],
        },
        yaxis={
            "title": "",
            "type": "category",
            "categoryorder": "array",
            "categoryarray": order[::-1],  # first group at the top
            "automargin": True,
        },
        legend=LEGEND_ON_TOP,
        height=220 + 26 * len(order),
        margin={"t": 120},
        font=FONT,
    )
    return figure


def _by_category(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Sum of ``columns`` (times ``count``) per category, taxonomy order, zero rows dropped."""
    weighted = frame[list(columns)].fillna(0.0).mul(_weights(frame), axis=0)
    table = weighted.groupby(frame["category"]).sum()
    order = [c.value for c in Category if c.value in table.index]
    table = table.loc[order]
    return table.loc[table.sum(axis=1) > 0]


def level_traffic(frame: pd.DataFrame, levels: Sequence[str]) -> go.Figure:
    """Bytes served by each memory level (nearest first), stacked by operator category."""
    columns = [f"{level}_bytes" for level in levels if f"{level}_bytes" in frame.columns]
    labels = [column.removesuffix("_bytes") for column in columns]
    return _stacked_by_category(
        frame,
        columns,
        labels,
        "traffic_bytes",
        "Traffic by memory level (nearest first)",
        ("traffic", "memory level"),
    )


def _stacked_by_category(
    frame: pd.DataFrame,
    columns: list[str],
    labels: list[str],
    unit_column: str,
    title: str,
    axis_titles: tuple[str, str],
) -> go.Figure:
    """One bar per column (x: ``labels``), stacked by operator category, in the display unit
    of ``unit_column``'s kind (y title ``axis_titles[0]`` with the unit, x ``axis_titles[1]``)."""
    table = _by_category(frame, columns)
    unit = unit_for(unit_column, table.sum(axis=0))
    figure = go.Figure()
    for category, row in table.iterrows():
        figure.add_bar(
            name=str(category),
            x=labels,
            y=unit.scale(row[columns]),
            marker={"color": CATEGORY_COLOURS.get(str(category))},
            hovertemplate=f"{category}<br>%{{x}}: %{{y:.4g}} {unit.unit}<extra></extra>",
        )
    figure.update_layout(
        barmode="stack",
        title={"text": title},
        yaxis={"title": f"{axis_titles[0]} ({unit.unit})"},
        xaxis={"title": axis_titles[1]},
        legend=LEGEND_RIGHT,
        height=480,
        margin={"t": 60},
        font=FONT,
    )
    return figure


def energy_components(frame: pd.DataFrame) -> list[str]:
    """The ``energy_<component>_j`` columns of the per-op table, in table order."""
    return [
        c for c in frame.columns if c.startswith("energy_") and c.endswith("_j") and c != "energy_j"
    ]


def level_energy(frame: pd.DataFrame) -> go.Figure:
    """Joules per component (compute, operands, each memory level, static, ...), stacked
    by operator category."""
    columns = energy_components(frame)
    labels = [column.removeprefix("energy_").removesuffix("_j") for column in columns]
    return _stacked_by_category(
        frame,
        columns,
        labels,
        "energy_j",
        "Energy by component and memory level",
        ("energy", "component"),
    )
