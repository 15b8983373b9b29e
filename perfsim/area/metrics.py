"""Design metrics of one costed point, for sweep rows: area, power, and throughput per
mm^2 and per watt (the columns a dashboard reads: ``area_mm2``, ``peak_power_w``,
``average_power_w``, ``perf_per_mm2``, ``perf_per_w``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from perfsim.area.batch import die_areas_mm2
from perfsim.area.model import die_area
from perfsim.engines.power import peak_power_w
from perfsim.engines.power_batch import peak_powers_w
from perfsim.hardware.spec import HardwareSpec
from perfsim.totals import ratio


def design_metrics(hw: HardwareSpec, row: Mapping[str, Any]) -> dict[str, Any]:
    """Area (mm^2), peak and average power (W) and efficiency of a point whose totals are
    ``row`` (``latency_s``, ``energy_j``, ``throughput_samples_per_s``).

    ``average_power_w = energy_j / latency_s``; ``perf_per_mm2`` is samples/s per mm^2 and
    ``perf_per_w`` samples/s per watt of average power (samples per joule). A file without
    an area estimate (``area.estimate: false``) gives ``area_mm2`` and ``perf_per_mm2`` None.
    """
    breakdown = die_area(hw)
    area = None if breakdown is None else breakdown.total_mm2
    return _design(area, peak_power_w(hw), row)


def design_metrics_batch(
    hws: Sequence[HardwareSpec], rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``[design_metrics(hw, row) for hw, row in zip(hws, rows)]``, with area and peak power
    vectorized over the devices (`perfsim.area.batch`, `perfsim.engines.power_batch`)."""
    areas, peaks = die_areas_mm2(hws), peak_powers_w(hws)
    return [_design(a, p, row) for a, p, row in zip(areas, peaks, rows, strict=True)]


def _design(area: float | None, peak_w: float, row: Mapping[str, Any]) -> dict[str, Any]:
    average = ratio(row["energy_j"], row["latency_s"])
    throughput = row["throughput_samples_per_s"]
    return {
        "area_mm2": area,
        "peak_power_w": peak_w,
        "average_power_w": average,
        "perf_per_mm2": None if area is None else ratio(throughput, area),
        "perf_per_w": ratio(throughput, average),
    }
