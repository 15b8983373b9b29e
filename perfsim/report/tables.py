"""Human-readable tables for the terminal (units formatted here, nowhere else)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from perfsim.units import format_duration, format_quantity


def _count(value: float) -> str:
    return format_quantity(float(value), "").strip()


Row = tuple[str, str]


def summary_table(summary: Mapping[str, Any], console: Console) -> None:
    """Print a run's headline figures and its per-category breakdown."""
    precision = summary["precision"] + (" autocast" if summary.get("autocast") else "")
    title = (
        f"{summary['model']} on {summary['hw']} — {summary['engine']}, {precision}, "
        f"{summary['mode']}, batch {summary['batch']}, seq {summary['seq']}"
    )
    head = Table(title=title, show_header=False, box=None, title_justify="left")
    head.add_column(style="bold")
    head.add_column()
    for row in (
        *_headline_rows(summary),
        *_scenario_rows(summary),
        *_footprint_rows(summary),
        *_cycle_rows(summary),
        *_note_rows(summary),
        *_data_parallel_rows(summary),
    ):
        head.add_row(*row)
    console.print(head)
    console.print(category_table(summary["by_category"]))


def _headline_rows(summary: Mapping[str, Any]) -> list[Row]:
    """Latency, throughput, FLOPs, parameters, traffic, energy and op count."""
    peak = summary["peak_flops_per_s"]
    achieved = summary["achieved_flops_per_s"]
    utilization = (
        f" ({achieved / peak:.1%} of {format_quantity(peak, 'FLOP/s')} peak)" if peak else ""
    )
    traffic = summary["memory_traffic_bytes"]
    energy = summary["energy_breakdown_j"]
    return [
        ("latency", format_quantity(summary["latency_s"], "s")),
        ("throughput", f"{summary['throughput_samples_per_s']:,.1f} samples/s"),
        ("FLOPs", format_quantity(summary["flops"], "FLOP")),
        ("achieved", format_quantity(achieved, "FLOP/s") + utilization),
        ("parameters", _count(summary["params"] or 0)),
        (
            "memory traffic",
            ", ".join(f"{name} {format_quantity(value, 'B')}" for name, value in traffic.items()),
        ),
        (
            "energy",
            format_quantity(summary["energy_j"], "J")
            + " ("
            + ", ".join(f"{name} {format_quantity(value, 'J')}" for name, value in energy.items())
            + ")",
        ),
        ("ops", str(summary["n_ops"])),
        *_design_rows(summary),
    ]


def _design_rows(summary: Mapping[str, Any]) -> list[Row]:
    """Die area and power: peak (every unit busy), the run's average, and the limit."""
    if "area_mm2" not in summary:
        return []
    tdp = summary.get("tdp_w")
    limit = f", TDP {tdp:,.0f} W" if tdp is not None else ""
    area = summary["area_mm2"]
    die = "no die area (no process node)" if area is None else f"{area:,.1f} mm^2 (estimate)"
    return [
        (
            "area / power",
            f"{die}; peak {summary['peak_power_w']:,.1f} W, "
            f"average {summary['average_power_w']:,.1f} W{limit}",
        )
    ]


def _scenario_rows(summary: Mapping[str, Any]) -> list[Row]:
    """The what-ifs applied and the real sequence lengths, where given."""
    rows = []
    if summary.get("whatifs"):
        rows.append(("what-ifs", ", ".join(f"{k}={v}" for k, v in summary["whatifs"].items())))
    lengths = summary.get("seq_lengths")
    if lengths:
        padded = lengths["padded_to"]
        rows.append(
            (
                "sequences",
                f"{lengths['sequences']} of mean {lengths['mean']:.1f}, max {lengths['max']} "
                "tokens, "
                + (
                    f"padded to {padded} ({lengths['padding_share']:.1%} padding)"
                    if padded
                    else "packed (no padding)"
                ),
            )
        )
    return rows


def _footprint_rows(summary: Mapping[str, Any]) -> list[Row]:
    """A training step's memory footprint against the device's capacity."""
    footprint = summary.get("memory_footprint_bytes")
    if not footprint:
        return []
    parts = ", ".join(
        f"{name.replace('_', ' ')} {format_quantity(value, 'B')}"
        for name, value in footprint.items()
        if name != "total" and value
    )
    rows = [
        (
            "memory footprint",
            f"{format_quantity(footprint['total'], 'B')} of "
            f"{format_quantity(summary['memory_capacity_bytes'], 'B')} ({parts})",
        )
    ]
    if not summary.get("fits", True):
        rows.append(("WARNING", "[bold red]the step does not fit in device memory[/]"))
    return rows


def _cycle_rows(summary: Mapping[str, Any]) -> list[Row]:
    """The cycle engine's totals, where it ran."""
    cycles = summary.get("cycles")
    if not cycles:
        return []
    stall_share = cycles["stall_cycles"] / cycles["total_cycles"] if cycles["total_cycles"] else 0
    return [
        ("cycles", f"{cycles['total_cycles']:,.0f} ({stall_share:.1%} stalled)"),
        ("matrix utilization", f"{cycles['matrix_utilization']:.1%}"),
    ]


def _note_rows(summary: Mapping[str, Any]) -> list[Row]:
    """Ops no cost model covers, matrix ops that fell back to the vector engine, and fp32
    matmuls run in another dtype's passes."""
    rows = []
    if summary.get("unsupported_ops"):
        names = ", ".join(f"{k} x{v}" for k, v in summary["unsupported_ops"].items())
        rows.append(("unsupported", names))
    if summary.get("fp32_matmuls_as"):
        alias = summary["fp32_matmuls_as"]
        rows.append(
            ("note", f"fp32 matmuls ran as one {alias} pass each (the device's default precision)")
        )
    if summary.get("matrix_ops_on_vector_engine"):
        rows.append(
            (
                "note",
                f"{summary['matrix_ops_on_vector_engine']} matrix ops ran on the "
                f"vector engine (no {summary['precision']} matrix support)",
            )
        )
    return rows


def _data_parallel_rows(summary: Mapping[str, Any]) -> list[Row]:
    """A data-parallel training step's split and its all-reduce (`perfsim.parallel`)."""
    if "devices" not in summary:
        return []
    return [
        (
            "data parallel",
            f"{summary['devices']} devices x micro-batch {summary['micro_batch']} x "
            f"{summary['grad_accum']} accumulation = global batch {summary['global_batch']}",
        ),
        (
            "communication",
            f"{format_quantity(summary['communication_s'], 's')} all-reduce "
            f"({summary['collective_algorithm']}, {summary['n_buckets']} buckets of "
            f"{format_quantity(summary['gradient_bytes'], 'B')} gradients), "
            f"{format_quantity(summary['exposed_communication_s'], 's')} exposed",
        ),
    ]


def training_tables(
    runs: Sequence[Mapping[str, Any]],
    comparison: Sequence[Mapping[str, Any]],
    console: Console,
) -> None:
    """``perfsim train``: per run, one row per phase and the totals; then predicted vs
    published."""
    for run in runs:
        table = Table(title=f"{run['schedule']} on {run['hw']}", title_justify="left")
        # a run whose phases evaluate shows the evaluations' time (perfsim.parallel.evaluation)
        evaluates = any(phase["evaluations"] > 0 for phase in run["phases"])
        columns = ("phase", "seq", "batch", "devices", "steps", "step", "exposed comm")
        columns += ("evals",) * evaluates
        for column in (*columns, "time", "samples/s", "TFLOP/s/dev (3x fwd)", "energy"):
            table.add_column(
                column, justify="left" if column == "phase" else "right", no_wrap=column == "phase"
            )
        for phase in run["phases"]:
            evaluations = phase["evaluations"] * phase["evaluation_s"]
            table.add_row(
                phase["phase"],
                str(phase["seq"]),
                f"{phase['global_batch']:,}",
                str(phase["devices"]),
                f"{phase['steps']:,}",
                format_quantity(phase["step_time_s"], "s"),
                format_quantity(phase["exposed_communication_s"], "s"),
                *(format_quantity(evaluations, "s"),) * evaluates,
                format_quantity(phase["time_s"], "s"),
                f"{phase['throughput_samples_per_s']:,.1f}",
                f"{phase['model_flops_per_s_per_device'] / 1e12:.1f}",
                format_quantity(phase["energy_j"], "J"),
            )
        console.print(table)
        console.print(
            f"time to train {format_duration(run['total_time_s'])}, "
            f"energy {format_quantity(run['energy_j'], 'J')}"
        )
    if comparison:
        table = Table(title="predicted vs published", title_justify="left")
        for column in ("schedule", "phase", "metric", "predicted", "published", "error"):
            numeric = column in ("predicted", "published", "error")
            table.add_column(column, justify="right" if numeric else "left")
        for row in comparison:
            table.add_row(
                str(row["schedule"]),
                str(row["phase"]),
                str(row["metric"]),
                f"{row['predicted']:.4g}",
                f"{row['published']:.4g}",
                f"{row['error']:+.1%}",
            )
        console.print(table)


def category_table(by_category: Mapping[str, Mapping[str, float]]) -> Table:
    """Per-category latency, share, FLOPs, bytes, energy and op count."""
    table = Table(title="by category", title_justify="left")
    for column in ("category", "latency", "share", "FLOPs", "bytes", "energy", "ops"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for name, row in sorted(by_category.items(), key=lambda item: -item[1]["latency_s"]):
        table.add_row(
            name,
            format_quantity(row["latency_s"], "s"),
            f"{row['share']:.1%}",
            format_quantity(row["flops"], "FLOP"),
            format_quantity(row["bytes"], "B"),
            format_quantity(row["energy_j"], "J"),
            str(int(row["n_ops"])),
        )
    return table


def records_table(title: str, records: Sequence[Mapping[str, Any]], columns: list[str]) -> Table:
    """A plain table of records (for `perfsim list` and `perfsim trace`)."""
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        # the first column names things: never wrap or cut it, even in a narrow pipe
        widest = max((len(str(record.get(column, ""))) for record in records), default=0)
        table.add_column(column, no_wrap=index == 0, min_width=widest if index == 0 else None)
    for record in records:
        table.add_row(*(str(record.get(column, "")) for column in columns))
    return table
