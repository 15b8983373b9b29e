"""The ``memory`` section of a calibrated hardware file: each level's capacity and the
bandwidth its STREAM-like copies reached, with its source (`perfsim.calibration.emit`
assembles the file)."""

from __future__ import annotations

from perfsim.calibration.emit_energy import dram_energy_lines
from perfsim.calibration.emit_host import exact_bytes
from perfsim.calibration.record import (
    BandwidthResult,
    Calibration,
    MemoryInfo,
    level_bandwidths,
    measured_aggregate_bandwidth,
)
from perfsim.calibration.yaml_lines import MEASURED, rate_text, yaml_line
from perfsim.units import format_quantity


def stream_text(result: BandwidthResult) -> str:
    low, high = (format_quantity(size, "B", binary=True) for size in result.working_set_bytes)
    return (
        f"copy {rate_text(result.copy_bytes_per_s, 'B/s')} / triad "
        f"{rate_text(result.triad_bytes_per_s, 'B/s')} (torch copy_ / add(alpha); bytes read + "
        f"written), slope between working sets {low} and {high}"
    )


def _bandwidth_source(cal: Calibration, level: MemoryInfo, written: float, note: str) -> str:
    everyone = cal.bandwidth_result(level.name)
    single = cal.bandwidth_result(level.name, threads=1)
    parts = []
    if everyone is not None:
        parts.append(f"{cal.units} units: best of {stream_text(everyone)}")
        if single is not None:
            parts.append(f"1 thread {rate_text(single.best_bytes_per_s, 'B/s')}")
    elif single is not None:
        parts.append(f"1 thread: best of {stream_text(single)}")
        if level.per_unit:
            parts.append(f"private level, x {cal.units} units aggregate")
    if note:
        measured = measured_aggregate_bandwidth(cal, level)
        parts.append(
            f"{note}: {rate_text(written, 'B/s')} aggregate (measured {rate_text(measured, 'B/s')})"
        )
    if level.per_unit:
        parts.append(f"per unit = aggregate / {cal.units}")
    return MEASURED + "; ".join(parts)


def memory_lines(cal: Calibration) -> list[str]:
    lines = ["memory:"]
    for level, (aggregate, note) in zip(cal.memory, level_bandwidths(cal), strict=True):
        capacity = level.capacity_bytes * (1 if level.per_unit else level.instances)
        share = (
            "per unit"
            if level.per_unit
            else f"{level.instances} shared instance(s) of {exact_bytes(level.capacity_bytes)}"
        )
        per_instance = aggregate / cal.units if level.per_unit else aggregate
        lines += [
            f"  - name: {level.name}",
            yaml_line(
                4,
                "capacity",
                f'"{exact_bytes(capacity)}"',
                f"{MEASURED}read {level.source}; {share}",
            ),
            yaml_line(
                4,
                "bandwidth",
                f'"{per_instance / 1e9:.6g} GB/s"',
                _bandwidth_source(cal, level, aggregate, note),
            ),
        ]
        if level.per_unit:
            lines.append(
                yaml_line(
                    4, "per_unit", "true", f"{MEASURED}one instance per core ({level.source})"
                )
            )
        if level is cal.memory[-1]:
            lines += dram_energy_lines(cal)
    return lines
