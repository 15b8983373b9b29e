"""DataFrame → plotly figures. No file I/O here and no global templates."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from perfsim.hardware.spec import HardwareSpec


def category_breakdown(summary: dict[str, Any]) -> go.Figure:
    """Stacked bar of latency per category, one bar for the run (hover: share, FLOPs)."""
    figure = go.Figure()
    label = f"{summary['model']} / {summary['hw']}"
    for name, row in sorted(summary["by_category"].items(), key=lambda item: -item[1]["latency_s"]):
        figure.add_bar(
            name=name,
            x=[label],
            y=[row["latency_s"] * 1e6],
            hovertemplate=(
                f"{name}<br>%{{y:.2f}} µs ({row['share']:.1%})<br>"
                f"{row['flops'] / 1e9:.3g} GFLOP, {row['bytes'] / 1e6:.3g} MB<extra></extra>"
            ),
        )
    figure.update_layout(
        barmode="stack",
        title="Latency by operator category",
        yaxis_title="latency (µs)",
        legend_title="category",
    )
    return figure


def roofline_chart(frame: pd.DataFrame, hw: HardwareSpec, precision_dtype: str) -> go.Figure:
    """Every op on the device's roofline: FLOPs per farthest-level byte vs achieved FLOP/s."""
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
            text=group["op"],
            customdata=np.stack([group["latency_s"] * 1e6, group["bound"]], axis=-1),
            hovertemplate=(
                "%{text}<br>%{x:.3g} FLOP/B, %{y:.3g} FLOP/s<br>"
                "%{customdata[0]:.3g} µs, bound: %{customdata[1]}<extra></extra>"
            ),
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
        title=f"Roofline of {hw.name} ({dram.name} {bandwidth / 1e9:.4g} GB/s)",
        xaxis={"type": "log", "title": f"operational intensity (FLOP per {dram.name} byte)"},
        yaxis={"type": "log", "title": "achieved FLOP/s"},
    )
    return figure
