"""Residency groupings of one batch costed together: the batched roofline over all of them.

Devices of one sweep keep different activations on chip (`GroupedGraph.on_device`: the
same graph in a few groupings, each with its own distinct op shapes). Costing each
grouping as its own batch pays numpy's per-call overhead once per grouping; here they lie
side by side. Each device's column holds its own grouping's ops, in their order, and
empty rows below them (no FLOPs, no bytes, count 0), so every per-op array is
(row, device) and each device's totals add its own ops in `Totals.of`'s order, the empty
rows adding exact zeros (a finite cost times a zero count). Every number is the one
`perfsim.sweep.batch.roofline_columns` gives the grouping alone (tests/test_sweep_batch.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perfsim.engines.power_batch import Prices, priced_throttled, sustained_ratios, weighted_sum
from perfsim.engines.roofline_batch import (
    Array,
    Devices,
    OpArrays,
    matrix_dtype,
    op_arrays,
    peak_flops,
)
from perfsim.hardware.spec import HardwareSpec
from perfsim.sweep.batch import Columns
from perfsim.sweep.fast import GroupedGraph

Part = tuple[GroupedGraph, Sequence[HardwareSpec]]  # a grouping and its devices


def stacked_columns(parts: Sequence[Part]) -> tuple[Columns, Array] | None:
    """`roofline_columns` of each part (devices of one structure), as one `Columns` over
    all their devices in order, and each device's peak FLOP/s; None where the parts do
    not stack (different FLOP totals, or a cost that is not finite)."""
    totals = {sum(n * op.flops for n, op in zip(g.counts, g.ops, strict=True)) for g, _ in parts}
    if len(totals) != 1:
        return None
    hws = [hw for _, group in parts for hw in group]
    devices = Devices.of(hws)
    stack = _Stack(max(len(g.ops) for g, _ in parts), len(devices.capacity), len(hws))
    peaks, dtypes = [], []
    start = 0
    for grouped, group in parts:
        index = np.arange(start, start + len(group))
        part = devices.take(index)
        arrays = op_arrays(grouped.ops, part)
        stack.put(grouped, arrays, Prices.of(group, arrays), index)
        dtypes.append(matrix_dtype(grouped.ops, arrays, grouped.meta.precision or "fp32"))
        peaks.append(peak_flops(part, dtypes[-1]))
        start += len(group)
    arrays, prices, counts = stack.arrays(), stack.prices(), stack.counts
    tdp = None if hws[0].tdp is None else np.array([hw.tdp for hw in hws], dtype=np.float64)
    ratio, duty, boost = sustained_ratios(counts, arrays, devices, prices, tdp)
    result = priced_throttled(arrays, devices, prices, ratio, boost)
    if not (np.isfinite(result.latency).all() and np.isfinite(result.joules).all()):
        return None  # a zero count times an infinite cost is not an exact zero
    columns = Columns(
        latency_s=weighted_sum(result.latency, counts),
        flops=totals.pop(),
        energy_j=weighted_sum(result.joules, counts),
        energy_breakdown_j={k: weighted_sum(v, counts) for k, v in result.parts.items()},
        traffic_bytes={
            name: weighted_sum(arrays.traffic[i], counts) for i, name in enumerate(devices.names)
        },
        by_category={
            category: weighted_sum(result.latency, np.where(rows, counts, 0.0))
            for category, rows in stack.categories.items()
        },
        duty=duty,
        devices=devices,
        dtype=dtypes[0],  # NB: each part's own peak is the second value
    )
    return columns, np.concatenate(peaks)


class _Stack:
    """The (row, device) arrays of the parts, filled part by part (`put`)."""

    def __init__(self, rows: int, levels: int, size: int) -> None:
        self.traffic = np.zeros((levels, rows, size))
        self.flops = np.zeros((rows, size))
        self.peak_index = np.zeros((rows, size), dtype=np.intp)
        self.units: list[tuple[bool, str]] = []
        self.counts = np.zeros((rows, size))
        self.core: dict[str, Array] = {
            name: np.zeros((rows, size)) for name in ("arithmetic", "operands", "issue", "count")
        }
        self.level = np.zeros((levels, size))
        self.device: dict[str, Array] = {
            name: np.zeros(size) for name in ("static_w", "share", "dvfs")
        }
        self.categories: dict[str, np.ndarray] = {}

    def put(
        self, grouped: GroupedGraph, arrays: OpArrays, prices: Prices, index: np.ndarray
    ) -> None:
        """One grouping's arrays at the devices ``index`` (consecutive)."""
        ops = len(grouped.ops)
        columns = slice(int(index[0]), int(index[-1]) + 1)
        self.traffic[:, :ops, columns] = arrays.traffic
        self.flops[:ops, columns] = arrays.flops
        remap = [0]
        for unit in arrays.units:
            if unit not in self.units:
                self.units.append(unit)
            remap.append(1 + self.units.index(unit))
        self.peak_index[:ops, columns] = np.array(remap, dtype=np.intp)[arrays.peak_index][:, None]
        self.counts[:ops, columns] = np.array(grouped.counts, dtype=np.float64)[:, None]
        for name, values in self.core.items():
            values[:ops, columns] = getattr(prices, name)
        self.level[:, columns] = prices.level
        for name, values in self.device.items():
            values[columns] = getattr(prices, name)
        for row, op in enumerate(grouped.ops):
            category = op.category.value
            if category not in self.categories:
                self.categories[category] = np.zeros(self.counts.shape, dtype=bool)
            self.categories[category][row, columns] = True

    def arrays(self) -> OpArrays:
        return OpArrays(self.traffic, self.flops, self.peak_index, (), (), tuple(self.units))

    def prices(self) -> Prices:
        return Prices(level=self.level, **self.core, **self.device)
