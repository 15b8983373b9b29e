"""Design metrics of one costed point, for sweep rows: area, power, and throughput per
mm^2 and per watt (the columns a dashboard reads: ``area_mm2``, ``peak_power_w``,
``average_power_w``, ``perf_per_mm2``, ``perf_per_w``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

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


def design_columns(
    hws: Sequence[HardwareSpec],
    columns: Mapping[str, Sequence[float]],
    *,
    one_structure: bool = False,
) -> dict[str, list[Any]]:
    """`design_metrics` of devices ``hws`` whose totals are ``columns`` (``latency_s``,
    ``energy_j``, ``throughput_samples_per_s``: one value per device), as columns: area
    and peak power vectorized over the devices (`perfsim.area.batch`,
    `perfsim.engines.power_batch`), the ratios in numpy (the same IEEE divisions).
    ``one_structure``: the devices share a `perfsim.engines.roofline_batch.structure`."""
    areas = die_areas_mm2(hws, one_structure=one_structure)
    peaks = peak_powers_w(hws, one_structure=one_structure)
    latency = np.array(columns["latency_s"], dtype=np.float64)
    energy = np.array(columns["energy_j"], dtype=np.float64)
    throughput = np.array(columns["throughput_samples_per_s"], dtype=np.float64)
    average = _ratios(energy, latency)
    if None in areas:
        per_mm2 = [
            None if area is None else ratio(rate, area)
            for rate, area in zip(throughput.tolist(), areas, strict=True)
        ]
    else:
        per_mm2 = _ratios(throughput, np.array(areas, dtype=np.float64)).tolist()
    return {
        "area_mm2": areas,
        "peak_power_w": peaks,
        "average_power_w": average.tolist(),
        "perf_per_mm2": per_mm2,
        "perf_per_w": _ratios(throughput, average).tolist(),
    }


def _ratios(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """`perfsim.totals.ratio` element by element (0 where the denominator is 0)."""
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


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
