"""Human units for report columns: which unit a column is read in, and its tick labels.

SI floats stay in the tables; a chart divides by the factor chosen here and says the unit
in its title ("latency (ms)", "on-chip memory (MiB)"). The unit is picked from the values
(their median), so a 2 µs run reads in µs and a 20 ms sweep in ms. Bytes are read in
binary units (KiB, MiB, GiB: capacities are sized in powers of two), bandwidths and rates
in decimal ones (GB/s, TFLOP/s).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

# kind -> (factor, unit) pairs, biggest first
_SCALES: Final[dict[str, tuple[tuple[float, str], ...]]] = {
    "time": ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")),
    "energy": ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ")),
    "power": ((1e3, "kW"), (1.0, "W"), (1e-3, "mW")),
    "bytes": ((2.0**40, "TiB"), (2.0**30, "GiB"), (2.0**20, "MiB"), (2.0**10, "KiB"), (1.0, "B")),
    "traffic": ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1.0, "B")),
    "bandwidth": ((1e12, "TB/s"), (1e9, "GB/s"), (1e6, "MB/s")),
    "frequency": ((1e9, "GHz"), (1e6, "MHz")),
    "flops": ((1e15, "PFLOP"), (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP"), (1.0, "FLOP")),
    "flop_rate": ((1e15, "PFLOP/s"), (1e12, "TFLOP/s"), (1e9, "GFLOP/s")),
    "area": ((1.0, "mm²"),),
    "rate": ((1.0, "samples/s"),),
    "per_watt": ((1.0, "samples/s/W"),),
    "per_area": ((1.0, "samples/s/mm²"),),
    "fraction": ((0.01, "%"),),
    "count": ((1.0, ""),),
}

# friendly names for the columns a sweep writes; anything else keeps its own name
_NAMES: Final = {
    "latency_s": "latency",
    "latency_ms": "latency",
    "energy_j": "energy per batch",
    "energy_per_inference_j": "energy / inference",
    "on_chip_bytes": "on-chip memory",
    "area_mm2": "area",
    "peak_power_w": "peak power",
    "average_power_w": "average power",
    "avg_power_w": "average power",
    "perf_per_w": "perf/W",
    "perf_per_mm2": "perf/mm²",
    "throughput_samples_per_s": "throughput",
    "achieved_flops_per_s": "achieved",
    "flops_utilization": "FLOP utilization",
    "matrix_utilization": "matrix utilization",
    "dram_bytes": "DRAM traffic",
}


def kind_of(column: str) -> str:
    """The kind of quantity a column holds, by its SI-suffixed name."""
    name = column.lower()
    last = name.rsplit(".", 1)[-1]
    if name == "area_mm2" or name.endswith("_mm2"):
        return "per_area" if name.startswith("perf_per") else "area"
    if name.startswith("perf_per_w"):
        return "per_watt"
    if name.endswith("flops_per_s"):
        return "flop_rate"
    if name.endswith("_per_s"):
        return "rate"
    if name.endswith("utilization") or name == "share":
        return "fraction"
    if name.endswith("_ms"):
        return "time_ms"
    if name.endswith("_s"):
        return "time"
    if name.endswith("_j"):
        return "energy"
    if name.endswith("_w"):
        return "power"
    if last in ("capacity", "size") or name.endswith("on_chip_bytes") or "capacity" in name:
        return "bytes"
    if name.endswith("_bytes"):
        return "traffic"
    if "bandwidth" in last:
        return "bandwidth"
    if last in ("clock", "frequency") or name.endswith("_hz"):
        return "frequency"
    if name == "flops":
        return "flops"
    return "count"


def column_name(column: str) -> str:
    """A readable name for a column ("energy / inference", "sram capacity")."""
    if column in _NAMES:
        return _NAMES[column]
    parts = column.split(".")
    if len(parts) >= 3 and parts[0] == "memory":
        return f"{parts[1]} {parts[-1]}"
    if len(parts) >= 2:
        return " ".join(parts[-2:])
    return column.replace("_", " ")


@dataclass(frozen=True)
class Unit:
    """How a column is read: divide by ``factor``, then print ``unit`` after the number."""

    column: str
    factor: float
    unit: str

    @property
    def title(self) -> str:
        """Axis or colour-bar title: the name and the unit in brackets."""
        name = column_name(self.column)
        return f"{name} ({self.unit})" if self.unit else name

    def scale(self, values: Iterable[float]) -> np.ndarray:
        """The values in this unit."""
        return np.asarray(list(values), dtype=float) / self.factor

    def text(self, value: float) -> str:
        """One value with its unit, 3-4 significant digits ("16 MiB", "1.2 TB/s")."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        scaled = value / self.factor
        number = f"{scaled:,.0f}" if abs(scaled) >= 1e4 else f"{scaled:.4g}"
        return f"{number} {self.unit}" if self.unit else number


def unit_for(column: str, values: Sequence[float] | np.ndarray | None = None) -> Unit:
    """The unit a column reads best in, from the median of its (finite, non-zero) values."""
    kind = kind_of(column)
    if kind == "time_ms":
        return Unit(column, 1.0, "ms")
    scales = _SCALES[kind]
    if values is None or len(scales) == 1:
        return Unit(column, *scales[0])
    array = np.abs(np.asarray(values, dtype=float))
    array = array[np.isfinite(array) & (array > 0)]
    if not array.size:
        return Unit(column, *scales[0])
    typical = float(np.median(array))
    for factor, unit in scales:
        if typical >= factor * 0.999:
            return Unit(column, factor, unit)
    return Unit(column, *scales[-1])


def text_of(column: str, value: float) -> str:
    """``value`` of ``column`` in the unit that value alone reads best in."""
    return unit_for(column, [value]).text(value)


def ticks(unit: Unit, values: Iterable[float], most: int = 10) -> dict[str, object]:
    """Plotly tick settings (``tickvals``/``ticktext``) labelling each distinct value, in
    ``unit``'s display scale, when there are at most ``most`` of them; else an empty dict
    (plotly's own ticks on the scaled values, the unit in the title)."""
    distinct = sorted({float(v) for v in values if v is not None and np.isfinite(v)})
    if not distinct or len(distinct) > most:
        return {}
    return {
        "tickvals": [v / unit.factor for v in distinct],
        "ticktext": [unit.text(v) for v in distinct],
    }


def spread(values: Iterable[float]) -> float:
    """max / min of the positive values (1.0 when there are none): above ~20, a log axis."""
    array = np.asarray(list(values), dtype=float)
    array = array[np.isfinite(array) & (array > 0)]
    if not array.size:
        return 1.0
    return float(array.max() / array.min())
