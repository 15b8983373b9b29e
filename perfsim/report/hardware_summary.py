"""A hardware description as rows a person reads: name, kind, clock, peaks per precision,
memory levels, TDP, and area and peak power where the run's summary has them."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from perfsim.hardware.spec import HardwareSpec
from perfsim.report.display import text_of
from perfsim.report.html_page import table


def hardware_rows(hw: HardwareSpec, summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, value) rows of the device: SI figures formatted once, here."""
    rows = [
        ("name", hw.name),
        ("kind", hw.kind),
        ("technology node", f"{hw.technology_node * 1e9:.3g} nm"),
        ("compute units", str(hw.compute.units)),
        ("clock", text_of("clock", hw.compute.clock)),
    ]
    if hw.compute.matrix is not None:
        matrix = hw.compute.matrix
        size = f" {matrix.rows}x{matrix.cols}" if matrix.rows and matrix.cols else ""
        rows.append(
            (
                "matrix unit",
                f"{matrix.type}{size}" + (f", {matrix.dataflow}" if matrix.dataflow else ""),
            )
        )
    if hw.tdp is not None:
        rows.append(("TDP", text_of("tdp_w", hw.tdp)))
    for key, name in (("area_mm2", "area"), ("peak_power_w", "peak power")):
        if summary.get(key) is not None:
            rows.append((name, text_of(key, float(summary[key]))))
    return rows


def peak_rows(hw: HardwareSpec) -> list[tuple[str, str, str]]:
    """(precision, matrix peak, vector peak) per precision the device runs."""
    rows = []
    for precision in hw.supported_precisions():
        matrix, vector = hw.matrix_peak_flops(precision), hw.vector_peak_flops(precision)
        rows.append(
            (
                precision,
                text_of("peak_flops_per_s", matrix) if matrix else "-",
                text_of("peak_flops_per_s", vector) if vector else "-",
            )
        )
    return rows


def memory_rows(hw: HardwareSpec) -> list[tuple[str, str, str, str]]:
    """(level, capacity, peak bandwidth, achievable bandwidth) per memory level, nearest
    first, aggregate over compute units."""
    rows = []
    for level in hw.memory:
        units = hw.compute.units if level.per_unit else 1
        rows.append(
            (
                level.name,
                text_of("capacity", hw.level_capacity(level)),
                text_of("bandwidth", level.bandwidth * units),
                text_of("bandwidth", hw.level_bandwidth(level)),
            )
        )
    return rows


def hardware_html(hw: HardwareSpec, summary: Mapping[str, Any]) -> str:
    """Three small tables side by side: the device, its peaks, its memory levels."""
    device = table(
        ["device", ""],
        [(html.escape(k), html.escape(v)) for k, v in hardware_rows(hw, summary)],
        "hardware",
    )
    peaks = table(["precision", "matrix peak", "vector peak"], peak_rows(hw), "peaks")
    memory = table(
        ["memory level", "capacity", "peak bandwidth", "achievable"], memory_rows(hw), "memory"
    )
    description = f"<p class='note'>{html.escape(hw.description)}</p>" if hw.description else ""
    return (
        f"{description}<div style='display:flex;gap:32px;flex-wrap:wrap;align-items:flex-start'>"
        f"{device}{peaks}{memory}</div>"
    )
