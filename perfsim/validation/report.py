"""Validation results → plotly figure and output files. No file I/O here."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from perfsim.validation.compare import (
    TOTAL,
    CaseResult,
    category_frame,
    median_abs_error,
    results_json,
    summary_frame,
)

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

OUTPUT_FILES = ("validation.csv", "categories.csv", "validation.json", "validation.html")


def validation_figure(results: Sequence[CaseResult]) -> go.Figure:
    """Top: predicted vs measured time per category, grouped, one group per case.
    Bottom: predicted vs measured total per case, log-log, with the y = x line."""
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=2,
        cols=1,
        vertical_spacing=0.2,
        subplot_titles=("per category (ms)", "total per case (ms)"),
    )
    frame = category_frame(results)
    frame = frame[frame["category"] != TOTAL]
    labels = _labels(frame)
    for column, name in (("predicted_s", "predicted"), ("measured_s", "measured")):
        figure.add_bar(
            x=[labels, list(frame["category"])],
            y=frame[column] * 1e3,
            name=name,
            legendgroup=name,
            hovertemplate="%{x}<br>%{y:.4g} ms<extra>" + name + "</extra>",
            row=1,
            col=1,
        )
    summary = summary_frame(results)
    cases = _labels(summary)
    figure.add_scatter(
        x=summary["measured_s"] * 1e3,
        y=summary["predicted_s"] * 1e3,
        mode="markers",
        name="cases",
        text=cases,
        customdata=summary["error"] * 100,
        hovertemplate=(
            "%{text}<br>measured %{x:.4g} ms<br>predicted %{y:.4g} ms"
            "<br>error %{customdata:+.1f}%<extra></extra>"
        ),
        row=2,
        col=1,
    )
    values = [*summary["measured_s"], *summary["predicted_s"]]
    positive = [v * 1e3 for v in values if v > 0]
    if positive:
        low, high = min(positive) / 1.5, max(positive) * 1.5
        figure.add_scatter(
            x=[low, high],
            y=[low, high],
            mode="lines",
            name="predicted = measured",
            line={"dash": "dash", "color": "gray"},
            row=2,
            col=1,
        )
    figure.update_xaxes(type="log", title_text="measured (ms)", row=2, col=1)
    figure.update_yaxes(type="log", title_text="predicted (ms)", row=2, col=1)
    figure.update_yaxes(title_text="time (ms)", row=1, col=1)
    figure.update_layout(barmode="group", height=900, title=_title(results))
    return figure


def _labels(frame: pd.DataFrame) -> list[str]:
    columns = (frame["model"], frame["batch"], frame["seq"])
    return [f"{m} b{b} s{s}" for m, b, s in zip(*columns, strict=True)]


def _title(results: Sequence[CaseResult]) -> str:
    if not results:
        return "perfsim validate: no cases"
    mae = median_abs_error(results)
    first = results[0]
    return (
        f"perfsim validate: {first.engine} on {first.hw} vs {first.device} "
        f"({len(results)} cases, median |error| {mae:.1%})"
        if not math.isnan(mae)
        else "perfsim validate"
    )


def render_validation_outputs(results: Sequence[CaseResult]) -> dict[str, str]:
    """File name → contents (`OUTPUT_FILES`), for `perfsim.report.files.write_outputs`."""
    html = validation_figure(results).to_html(full_html=True, include_plotlyjs=True)
    return {
        "validation.csv": summary_frame(results).to_csv(index=False),
        "categories.csv": category_frame(results).to_csv(index=False),
        "validation.json": json.dumps(results_json(results), indent=2) + "\n",
        "validation.html": html,
    }
