"""Many design points on one grouped graph at once: `batch_metrics`.

`perfsim.sweep.fast.point_metrics` costs one device: a Python loop over the distinct op
shapes, the power post-pass, then `perfsim.totals.Totals`. A sweep asks that for thousands
of devices that differ in a few numbers. Here the roofline runs as numpy over (devices x
distinct ops) (`perfsim.engines.roofline_batch`, `perfsim.engines.power_batch`), and the
totals are summed op by op in `Totals.of`'s order, so every row equals `point_metrics`'s
to the last bit (tests/test_sweep_batch.py). Devices are batched by their structure and
by their residency grouping (`GroupedGraph.on_device`); anything else (the cycle engine,
devices the batch engine does not vectorize, duty-cycled devices) takes `point_metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from perfsim.engines.power_batch import Priced, Prices, priced, sustained_ratios, weighted_sum
from perfsim.engines.roofline_batch import (
    Devices,
    OpArrays,
    matrix_dtype,
    op_arrays,
    peak_flops,
    structure,
)
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import Category
from perfsim.sweep.fast import GroupedGraph, device_row, point_metrics, point_totals

_CATEGORIES = tuple(category.value for category in Category)


def batch_metrics(
    grouped: GroupedGraph, hws: Sequence[HardwareSpec], engine: str
) -> list[dict[str, Any]]:
    """``[point_metrics(grouped, hw, engine) for hw in hws]``, computed together."""
    if engine != "roofline":
        return [point_metrics(grouped, hw, engine) for hw in hws]
    totals: list[dict[str, Any] | None] = [None] * len(hws)
    batches: dict[tuple[Any, ...], tuple[GroupedGraph, list[int]]] = {}
    for index, hw in enumerate(hws):
        shape = structure(hw)
        if shape is None:
            continue
        on_device = grouped.on_device(hw)
        key = (id(on_device), shape)
        batches.setdefault(key, (on_device, []))[1].append(index)
    for on_device, members in batches.values():
        rows = roofline_totals(on_device, [hws[i] for i in members])
        for index, row in zip(members, rows, strict=True):
            totals[index] = row
    return [
        device_row(row if row is not None else point_totals(grouped, hw, engine), hw)
        for row, hw in zip(totals, hws, strict=True)
    ]


def roofline_totals(
    grouped: GroupedGraph, hws: Sequence[HardwareSpec]
) -> list[dict[str, Any] | None]:
    """`point_totals` of the roofline for devices of one structure on an already
    device-grouped graph (None for a device the scalar pass must duty-cycle)."""
    ops = grouped.ops
    counts = np.array([[float(n)] for n in grouped.counts], dtype=np.float64)
    devices = Devices.of(hws)
    arrays = op_arrays(ops, devices)
    prices = Prices.of(hws, arrays)
    tdp = None if hws[0].tdp is None else np.array([hw.tdp for hw in hws], dtype=np.float64)
    ratio, duty, boost = sustained_ratios(counts, arrays, devices, prices, tdp)
    final = boost
    if (ratio != 1.0).any():
        final = priced(arrays, devices, prices, ratio, boost.latency)
    dtype = matrix_dtype(ops, arrays, grouped.meta.precision or "fp32")
    rows = _rows(grouped, counts, final, arrays, devices.names, peak_flops(devices, dtype))
    return [None if skip else row for row, skip in zip(rows, duty.tolist(), strict=True)]


def _rows(
    grouped: GroupedGraph,
    counts: np.ndarray,
    result: Priced,
    arrays: OpArrays,
    levels: Sequence[str],
    peak: np.ndarray,
) -> list[dict[str, Any]]:
    """`perfsim.totals.Totals.of` then ``metrics`` per device, in their order of sums."""
    latency = weighted_sum(result.latency, counts)
    positive = latency != 0
    safe = np.where(positive, latency, 1.0)
    flops = sum(n * op.flops for n, op in zip(grouped.counts, grouped.ops, strict=True))
    batch = grouped.meta.batch or 1
    columns: dict[str, Any] = {
        "latency_s": latency,
        "throughput_samples_per_s": np.where(positive, batch / safe, 0.0),
        "achieved_flops_per_s": np.where(positive, flops / safe, 0.0),
        "peak_flops_per_s": peak,
        "energy_j": weighted_sum(result.joules, counts),
    }
    for name, value in result.parts.items():
        columns[f"energy_{name}_j"] = weighted_sum(value, counts)
    for index, name in enumerate(levels):
        columns[f"traffic_{name}_bytes"] = weighted_sum(arrays.traffic[index], counts)
    categories = [op.category.value for op in grouped.ops]
    for category in _CATEGORIES:
        rows = [k for k, found in enumerate(categories) if found == category]
        columns[f"latency_{category}_s"] = (
            weighted_sum(result.latency[rows], counts[rows]) if rows else 0.0
        )
    size = len(latency)
    lists = {
        k: np.broadcast_to(np.asarray(v, dtype=np.float64), size).tolist()
        for k, v in columns.items()
    }
    order = ["latency_s", "throughput_samples_per_s", "flops", "achieved_flops_per_s"]
    order += [k for k in columns if k not in order]
    n_ops = grouped.n_ops
    out = []
    for index in range(size):
        row = {k: (flops if k == "flops" else lists[k][index]) for k in order}
        row["n_ops"] = n_ops
        out.append(row)
    return out
