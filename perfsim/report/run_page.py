"""One run's ``report.html``: headline figures, the hardware, the op timeline, traffic and
energy by memory level, latency by category and the roofline."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from perfsim.report.display import text_of
from perfsim.report.hardware_summary import hardware_html
from perfsim.report.html_page import figure_html, page, section, table
from perfsim.report.plots import category_breakdown, roofline_chart
from perfsim.report.run_plots import level_energy, level_traffic, op_timeline


def op_shapes(result: Any) -> list[str]:
    """One short shape per op of the run's graph: a matrix op's ``m=.. n=.. k=..`` (and
    ``b=..`` when batched), else its first input's and output's shapes and dtype."""
    graph = getattr(result, "graph", None) or result.result.graph
    shapes = []
    for op in graph.ops:
        dims = dict(op.dims)
        if {"m", "n", "k"} <= dims.keys():
            batch = f"b={dims['b']} " if dims.get("b", 1) > 1 else ""
            shapes.append(f"GEMM {batch}m={dims['m']} n={dims['n']} k={dims['k']}")
            continue
        into = "x".join(map(str, op.inputs[0].shape)) if op.inputs else "-"
        out = "x".join(map(str, op.outputs[0].shape)) if op.outputs else "-"
        shapes.append(f"[{into}] → [{out}] {op.outputs[0].dtype if op.outputs else ''}")
    return shapes


def matrix_dtype(frame: pd.DataFrame, default: str) -> str:
    """The dtype the run's matrix ops ran in (the summary's precision when there are none)."""
    matrix = frame[frame["category"].isin(("gemm", "attn_gemm"))]
    return str(matrix["dtype"].iloc[0]) if len(matrix) else default


def _headline(summary: dict[str, Any]) -> str:
    traffic = summary["memory_traffic_bytes"]
    rows = [
        ("latency", text_of("latency_s", summary["latency_s"])),
        ("throughput", f"{summary['throughput_samples_per_s']:,.1f} samples/s"),
        ("FLOPs", text_of("flops", summary["flops"])),
        (
            "achieved",
            text_of("achieved_flops_per_s", summary["achieved_flops_per_s"])
            + (
                f" ({summary['achieved_flops_per_s'] / summary['peak_flops_per_s']:.1%} of peak)"
                if summary.get("peak_flops_per_s")
                else ""
            ),
        ),
        ("energy", text_of("energy_j", summary["energy_j"])),
        (
            "average power",
            text_of("power_w", summary["energy_j"] / summary["latency_s"])
            if summary["latency_s"]
            else "-",
        ),
        (
            "memory traffic",
            ", ".join(f"{k} {text_of('traffic_bytes', v)}" for k, v in traffic.items()),
        ),
        ("ops", str(summary["n_ops"])),
    ]
    for key, name in (("area_mm2", "area"), ("peak_power_w", "peak power")):
        if summary.get(key) is not None:
            rows.append((name, text_of(key, float(summary[key]))))
    return table(
        ["figure", "value"], [(html.escape(k), html.escape(v)) for k, v in rows], "headline"
    )


def render_report(
    result: Any, plotly_js: str = "inline", back_link: str = "", design: str = ""
) -> str:
    """The report page of one run (``result``: `Result` or `DataParallelResult`).

    Args:
        result: the costed run.
        plotly_js: ``"inline"`` (a page that opens anywhere) or the relative path of a
            shared ``plotly.min.js``.
        back_link: a link shown at the top (a sweep design's report points to the sweep).
        design: the sweep design's overrides, shown at the top (the hardware tables show
            the overridden figures; the description is the base file's).
    """
    summary = result.summary()
    frame = result.to_frame()
    shapes = op_shapes(result)
    shapes += [""] * (len(frame) - len(shapes))  # data-parallel: the all-reduce rows
    levels = list(summary["memory_traffic_bytes"])
    sections = [
        f"<nav><a href='{html.escape(back_link)}'>back to the sweep</a></nav>" if back_link else "",
        (
            f"<p class='note'><b>Sweep design</b> {html.escape(design)} (the tables below show "
            "its figures; the hardware description is the base file's)</p>"
        )
        if design
        else "",
        section("Summary", _headline(summary), "summary"),
        section("Hardware", hardware_html(result.hw, summary), "hardware"),
        section("Op timeline", figure_html(op_timeline(frame, shapes)), "timeline"),
        section(
            "Traffic and energy by memory level",
            "<div class='grid'>"
            f"<div>{figure_html(level_traffic(frame, levels))}</div>"
            f"<div>{figure_html(level_energy(frame))}</div></div>",
            "levels",
        ),
        section(
            "Latency by operator category", figure_html(category_breakdown(summary)), "categories"
        ),
        section(
            "Roofline",
            figure_html(
                roofline_chart(
                    frame, result.hw, matrix_dtype(frame, str(summary["precision"])), shapes
                )
            ),
            "roofline",
        ),
    ]
    title = f"perfsim: {summary['model']} on {summary['hw']}"
    note = (
        f"{summary['engine']} engine, {summary['precision']}, {summary['mode']}, "
        f"batch {summary['batch']}, seq {summary['seq']}: latency "
        f"{text_of('latency_s', summary['latency_s'])}, "
        f"energy {text_of('energy_j', summary['energy_j'])}"
    )
    return page(title, sections, plotly_js, html.escape(note))
