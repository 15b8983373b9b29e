"""Validation results → terminal tables, plotly figure and output files. No file I/O here."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from perfsim.validation.validate import (
    TOTAL,
    CaseResult,
    category_frame,
    error_summaries,
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


def validation_tables(results: Sequence[CaseResult]) -> list[tuple[str, list[dict[str, str]]]]:
    """``perfsim validate``'s tables as ``(title, rows)``, cells as text: per case, predicted
    vs measured per category; then one row per case."""
    from perfsim.units import format_quantity

    tables = []
    for result in results:
        rows = [
            {
                "category": row["category"],
                "predicted": format_quantity(row["predicted_s"], "s"),
                "measured": format_quantity(row["measured_s"], "s"),
                "error": _percent(row["error"], signed=True),
                "measured share": _percent(row["measured_share"]),
            }
            for row in result.category_rows()
        ]
        m = result.measurement
        title = (
            f"{result.label}, {result.threads} threads: {result.engine} on {result.hw}; "
            f"timed passes {_runs(result)}, spread {_percent(m.spread)}, others' CPU "
            f"{_percent(m.foreign_load)}"
        )
        tables.append((title, rows))
    tables.append(("predicted vs measured", [_case_row(result) for result in results]))
    return tables


def _case_row(result: CaseResult) -> dict[str, str]:
    from perfsim.units import format_quantity

    gemm = f"{_percent(result.gemm_share_predicted)} / {_percent(result.gemm_share_measured)}"
    return {
        "case": result.label,
        "threads": str(result.threads),
        "predicted": format_quantity(result.predicted_s, "s"),
        "measured": format_quantity(result.measured_s, "s"),
        "error": _percent(result.error, signed=True),
        "passes min-max": _runs(result),
        "spread": _percent(result.measurement.spread),
        "error vs fastest": _percent(result.error_fastest, signed=True),
        "gemm share p/m": gemm,
        "overhead": _percent(result.measured_overhead_s / result.measured_s),
        "others' CPU": _percent(result.measurement.foreign_load),
    }


def _runs(result: CaseResult) -> str:
    """``9.8 ms-12.1 ms (5)``: the fastest and slowest timed pass (how many passes)."""
    from perfsim.units import format_quantity

    m = result.measurement
    fastest, slowest = format_quantity(m.fastest_s, "s"), format_quantity(m.slowest_s, "s")
    return f"{fastest}-{slowest} ({len(m.wall_samples_s)})"


def _percent(value: Any, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def validation_footer(results: Sequence[CaseResult]) -> str:
    """The lines under ``perfsim validate``'s tables: median and worst |error| against each
    case's median timed pass (the headline), then against its fastest pass, and the
    foreign load seen (the most any case saw)."""
    median, fastest = error_summaries(results)
    loads = [r.measurement.foreign_load for r in results if r.measurement.foreign_load is not None]
    load = f"{max(loads):.0%} of the CPUs at most" if loads else "unknown"
    return "\n".join(
        (
            median.text("each case's median pass"),
            fastest.text("each case's fastest pass"),
            f"other processes while measuring: {load}",
        )
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
