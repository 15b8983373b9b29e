"""Side by side: one workload on several devices, or several workloads on one (or both).

``compare(["bert-base"], ["npu", "a100"])`` runs every (model, hardware) pair through
`perfsim.pipeline.simulate` and returns one row per pair; `compare_chart` draws the
grouped bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfsim.cache import GraphStore
from perfsim.errors import PerfsimError
from perfsim.ir import Category
from perfsim.scenario import Scenario
from perfsim.totals import ratio

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

# the columns the side-by-side table shows, with how to print them
SHOWN = {
    "latency_s": ("latency", "ms", 1e3),
    "throughput_samples_per_s": ("throughput", "samples/s", 1.0),
    "energy_per_inference_j": ("energy / inference", "mJ", 1e3),
    "achieved_flops_per_s": ("achieved", "TFLOP/s", 1e-12),
    "flops_utilization": ("of peak", "%", 100.0),
    "dram_bytes": ("DRAM traffic", "MB", 1e-6),
    "on_chip_bytes": ("on-chip", "MiB", 1 / 2**20),
    "area_mm2": ("die area", "mm^2", 1.0),
}


def compare(
    models: Sequence[str | Path],
    hws: Sequence[str | Path],
    base: Scenario,
    *,
    engine: str = "roofline",
    store: GraphStore | None = None,
) -> pd.DataFrame:
    """One row per (model, hardware): inputs, totals, and latency per category (seconds).

    Every model runs ``base`` (its batch, sequence, mode, precision, ...) with the model
    replaced.

    Columns: ``model, hw, precision, engine, batch, seq, latency_s,
    throughput_samples_per_s, flops, energy_j, energy_per_inference_j,
    achieved_flops_per_s, peak_flops_per_s, flops_utilization, dram_bytes, on_chip_bytes,
    area_mm2, perf_per_mm2`` (`perfsim.area`; None for a file without an area estimate)
    and ``latency_<category>_s`` for every category.
    """
    import pandas as pd

    from perfsim.pipeline import simulate

    if not models or not hws:
        raise PerfsimError("--model/--hw: give at least one model and one hardware")
    rows: list[dict[str, Any]] = []
    for model in models:
        for hw in hws:
            result = simulate(base.but(model=model), hw, engine=engine, store=store)
            summary = result.summary()
            by_category = summary["by_category"]
            rows.append(
                {
                    "model": summary["model"],
                    "hw": str(hw),
                    "precision": summary["precision"],
                    "engine": engine,
                    "batch": base.batch,
                    "seq": base.seq,
                    "latency_s": summary["latency_s"],
                    "throughput_samples_per_s": summary["throughput_samples_per_s"],
                    "flops": summary["flops"],
                    "energy_j": summary["energy_j"],
                    "energy_per_inference_j": summary["energy_j"] / base.batch,
                    "achieved_flops_per_s": summary["achieved_flops_per_s"],
                    "peak_flops_per_s": summary["peak_flops_per_s"],
                    "flops_utilization": ratio(
                        summary["achieved_flops_per_s"], summary["peak_flops_per_s"]
                    ),
                    "dram_bytes": summary["memory_traffic_bytes"][result.hw.dram.name],
                    "on_chip_bytes": result.hw.on_chip_bytes,
                    "area_mm2": summary["area_mm2"],
                    "perf_per_mm2": _per_mm2(
                        summary["throughput_samples_per_s"], summary["area_mm2"]
                    ),
                    **{
                        f"latency_{c.value}_s": by_category.get(c.value, {}).get("latency_s", 0.0)
                        for c in Category
                    },
                }
            )
    return pd.DataFrame(rows)


def _per_mm2(throughput: float, area_mm2: float | None) -> float | None:
    """Samples/s per mm^2 of die, None without an area."""
    return None if area_mm2 is None else ratio(throughput, area_mm2)


def display_records(frame: pd.DataFrame) -> list[dict[str, str]]:
    """The side-by-side table as strings in human units (see `SHOWN`)."""
    records = []
    for row in frame.to_dict("records"):
        record = {"model": str(row["model"]), "hw": str(row["hw"]), "precision": row["precision"]}
        for column, (label, unit, scale) in SHOWN.items():
            value = row[column]
            missing = value is None or value != value  # None, or NaN once in a frame
            record[f"{label} ({unit})"] = "-" if missing else f"{value * scale:.4g}"
        records.append(record)
    return records


def compare_chart(frame: pd.DataFrame) -> go.Figure:
    """Grouped bars of latency, energy per inference and achieved FLOP/s per design."""
    from plotly.subplots import make_subplots

    several_models = frame["model"].nunique() > 1
    several_hws = frame["hw"].nunique() > 1
    x_column = "hw" if several_hws or not several_models else "model"
    group_column = "model" if x_column == "hw" else "hw"
    panels = [
        ("latency_s", "latency (ms)", 1e3),
        ("energy_per_inference_j", "energy per inference (mJ)", 1e3),
        ("achieved_flops_per_s", "achieved TFLOP/s", 1e-12),
    ]
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[1] for p in panels])
    for group, rows in frame.groupby(group_column, sort=False):
        for column_index, (column, label, scale) in enumerate(panels, start=1):
            figure.add_bar(
                x=rows[x_column].astype(str),
                y=rows[column] * scale,
                name=str(group),
                legendgroup=str(group),
                showlegend=column_index == 1,
                hovertemplate=f"{group} on %{{x}}<br>{label}: %{{y:.4g}}<extra></extra>",
                row=1,
                col=column_index,
            )
    figure.update_layout(
        barmode="group",
        title=f"perfsim compare ({frame['engine'].iloc[0]}, batch {frame['batch'].iloc[0]}, "
        f"seq {frame['seq'].iloc[0]})",
        legend_title=group_column,
    )
    return figure
