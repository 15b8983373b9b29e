"""DataFrame → plotly figures. No file I/O here and no global templates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from perfsim.hardware.spec import HardwareSpec
from perfsim.report.display import text_of, unit_for
from perfsim.report.run_plots import CATEGORY_COLOURS, LEGEND_ON_TOP


def category_breakdown(summary: dict[str, Any]) -> go.Figure:
    """Latency per operator category, one bar each, biggest first (hover: share, FLOPs,
    bytes, energy)."""
    rows = sorted(summary["by_category"].items(), key=lambda item: -item[1]["latency_s"])
    unit = unit_for("latency_s", [row["latency_s"] for _, row in rows])
    figure = go.Figure()
    figure.add_bar(
        x=[name for name, _ in rows],
        y=unit.scale(row["latency_s"] for _, row in rows),
        marker={"color": [CATEGORY_COLOURS.get(name) for name, _ in rows]},
        hovertext=[
            f"<b>{name}</b><br>{unit.text(row['latency_s'])} ({row['share']:.1%})<br>"
            f"{text_of('flops', row['flops'])}, {text_of('traffic_bytes', row['bytes'])}, "
            f"{text_of('energy_j', row['energy_j'])}"
            for name, row in rows
        ],
        hovertemplate="%{hovertext}<extra></extra>",
        texttemplate="%{y:.4g}",
        textposition="outside",
    )
    figure.update_layout(
        title={"text": f"Latency by operator category ({summary['model']} on {summary['hw']})"},
        yaxis={"title": f"latency ({unit.unit})"},
        xaxis={"title": "category"},
        height=460,
        font={"size": 14},
    )
    return figure


def roofline_chart(
    frame: pd.DataFrame, hw: HardwareSpec, precision_dtype: str, shapes: Sequence[str] | None = None
) -> go.Figure:
    """Every op on the device's roofline: FLOPs per farthest-level byte vs achieved FLOP/s.

    Hover: op name, its shape (``shapes``, one per row of ``frame``, when given), FLOPs,
    bytes, time and what bounds it.
    """
    dram = hw.dram
    bandwidth = hw.level_bandwidth(dram)
    traffic = frame[f"{dram.name}_bytes"].clip(lower=1.0)
    intensity = frame["flops"] / traffic
    achieved = frame["flops"] / frame["latency_s"].clip(lower=1e-15)
    shown = frame["flops"] > 0
    figure = go.Figure()
    for category, group in frame[shown].groupby("category", sort=True):
        index = group.index
        figure.add_scatter(
            x=intensity[index],
            y=achieved[index],
            mode="markers",
            name=str(category),
            marker={"color": CATEGORY_COLOURS.get(str(category)), "size": 9},
            text=group["op"],
            hovertext=[_op_card(frame, row, dram.name, shapes) for row in index],
            hovertemplate="%{hovertext}<br>%{x:.3g} FLOP/B, %{y:.3g} FLOP/s<extra></extra>",
        )
    x_min = max(float(intensity[shown].min()) / 4, 1e-2) if shown.any() else 1e-2
    x_max = max(float(intensity[shown].max()) * 4, 1e3) if shown.any() else 1e4
    xs = np.logspace(np.log10(x_min), np.log10(x_max), 200)
    for label, peak in (
        (f"matrix {precision_dtype}", hw.matrix_peak_flops(precision_dtype)),
        ("vector fp32", hw.vector_peak_flops("fp32")),
    ):
        if peak > 0:
            figure.add_scatter(
                x=xs,
                y=np.minimum(peak, xs * bandwidth),
                mode="lines",
                name=f"roof: {label}",
                line={"dash": "dash"},
                hoverinfo="skip",
            )
    figure.update_layout(
        title={"text": f"Roofline of {hw.name} ({dram.name} {bandwidth / 1e9:.4g} GB/s)"},
        xaxis={"type": "log", "title": f"operational intensity (FLOP per {dram.name} byte)"},
        yaxis={"type": "log", "title": "achieved FLOP/s", "exponentformat": "SI"},
        legend=LEGEND_ON_TOP,
        height=620,
        margin={"t": 130},
        font={"size": 14},
    )
    return figure


def _op_card(frame: pd.DataFrame, row: Any, dram: str, shapes: Sequence[str] | None) -> str:
    """One op's hover card: name, shape, FLOPs, bytes (all and farthest level), time, bound."""
    op = frame.loc[row]
    shape = f"<br>{shapes[row]}" if shapes is not None else ""
    moved = text_of("traffic_bytes", float(op["bytes_read"]) + float(op["bytes_written"]))
    farthest = text_of("traffic_bytes", float(op[f"{dram}_bytes"]))
    return (
        f"<b>{op['op']}</b>{shape}<br>{text_of('flops', float(op['flops']))}, "
        f"{moved} moved ({farthest} from {dram})<br>"
        f"{text_of('latency_s', float(op['latency_s']))}, bound: {op['bound']}"
    )
