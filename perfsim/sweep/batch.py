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
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from perfsim.area.metrics import design_columns
from perfsim.engines.power_batch import Prices, priced_throttled, sustained_ratios, weighted_sum
from perfsim.engines.roofline_batch import (
    Devices,
    matrix_dtype,
    op_arrays,
    peak_flops,
    structure,
)
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import Category
from perfsim.sweep.block import grouped_rows
from perfsim.sweep.fast import GroupedGraph, framework_at, point_totals

_CATEGORIES = tuple(category.value for category in Category)


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of some devices of a batch as columns: ``columns[key][i]`` is the value of
    device ``members[i]`` (an index into the batch), keys in a row's order."""

    members: list[int]
    columns: dict[str, list[Any]]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per member, in ``members``' order."""
        return rows_of(self.columns)


def rows_of(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Columns of equal length as one dict per row (zip and dict run in C)."""
    keys = list(columns)
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def batch_metrics(
    grouped: GroupedGraph, hws: Sequence[HardwareSpec], engine: str
) -> list[dict[str, Any]]:
    """``[point_metrics(grouped, hw, engine) for hw in hws]``, computed together."""
    rows: list[dict[str, Any]] = [{} for _ in hws]
    for table in batch_tables(grouped, hws, engine):
        for member, row in zip(table.members, table.rows(), strict=True):
            rows[member] = row
    return rows


def batch_tables(grouped: GroupedGraph, hws: Sequence[HardwareSpec], engine: str) -> list[Table]:
    """`batch_metrics` as column tables, one per key sequence and device batch: no dict
    per row on the vectorized roofline (the journal and the table take columns)."""
    rows: dict[int, dict[str, Any]] = {}  # devices costed one by one (or a row at a time)
    batches: dict[tuple[Any, ...], dict[int, tuple[GroupedGraph, list[int]]]] = {}
    designs = hws  # the per-design columns read the files as given
    hws = [framework_at(grouped, hw) for hw in hws]  # costs: a host's framework refill
    for index, hw in enumerate(hws):
        shape = structure(hw) if engine in ("roofline", "cycle") else None
        if shape is None:
            rows[index] = point_totals(grouped, hw, engine)
            continue
        on_device = grouped.on_device(hw)
        groupings = batches.setdefault(shape, {})
        groupings.setdefault(id(on_device), (on_device, []))[1].append(index)
    tables: list[Table] = []
    for groupings in batches.values():
        if engine == "cycle":
            from perfsim.sweep.cycle_batch import cycle_totals  # it builds on this module

            for on_device, members in groupings.values():
                devices = [hws[i] for i in members]
                for index, row in zip(members, cycle_totals(on_device, devices), strict=True):
                    if row is None:
                        row = point_totals(grouped, hws[index], engine)
                    rows[index] = row
            continue
        parts = [(on_device, members) for on_device, members in groupings.values()]
        found = [(members, columns, duty) for members, columns, duty in _roofline_parts(parts, hws)]
        vectorized = []
        for members, columns, duty in found:
            kept = [k for k, skip in enumerate(duty) if not skip]
            if len(kept) < len(members):
                for k in set(range(len(members))).difference(kept):
                    rows[members[k]] = point_totals(grouped, hws[members[k]], engine)
                columns = {key: [values[k] for k in kept] for key, values in columns.items()}
            if kept:
                vectorized.append(Table([members[k] for k in kept], columns))
        # the per-design columns once per structure (residency groupings together)
        tables += [_with_design(table, designs, True) for table in _joined(vectorized)]
    order = sorted(rows)
    for positions, columns in grouped_rows([rows[i] for i in order]):
        tables.append(_with_design(Table([order[p] for p in positions], columns), designs, False))
    return tables


def _roofline_parts(
    parts: list[tuple[GroupedGraph, list[int]]], hws: Sequence[HardwareSpec]
) -> list[tuple[list[int], dict[str, list[Any]], list[bool]]]:
    """The roofline's columns of devices of one structure, in residency groupings
    (``parts``): all groupings at once (`perfsim.sweep.stacked`) where they stack, else
    one by one; each with its devices and which of them need duty cycling."""
    if len(parts) > 1:
        from perfsim.sweep.stacked import stacked_columns  # it builds on this module

        found = stacked_columns([(g, [hws[i] for i in members]) for g, members in parts])
        if found is not None:
            columns, peak = found
            first = parts[0][0]
            table = columns.table(first.meta.batch or 1, 1, peak, first.n_ops)
            members = [index for _, indices in parts for index in indices]
            return [(members, table, columns.duty.tolist())]
    return [(members, *roofline_table(g, [hws[i] for i in members])) for g, members in parts]


def _joined(tables: list[Table]) -> list[Table]:
    """``tables`` with the same keys (in the same order) as one table each."""
    groups: dict[tuple[str, ...], list[Table]] = {}
    for table in tables:
        groups.setdefault(tuple(table.columns), []).append(table)
    return [
        group[0]
        if len(group) == 1
        else Table(
            [member for table in group for member in table.members],
            {key: list(chain.from_iterable(t.columns[key] for t in group)) for key in keys},
        )
        for keys, group in groups.items()
    ]


def _with_design(table: Table, hws: Sequence[HardwareSpec], one_structure: bool) -> Table:
    """The table with its devices' per-design columns (`perfsim.sweep.fast.device_row`);
    ``one_structure``: its devices share a `structure`."""
    members = [hws[i] for i in table.members]
    designs = design_columns(members, table.columns, one_structure=one_structure)
    return Table(table.members, {**table.columns, **designs})


@dataclass(frozen=True, slots=True)
class Columns:
    """`perfsim.totals.Totals` of many devices as arrays (one entry per device), summed
    op by op in `Totals.of`'s order; ``duty`` marks devices left to the scalar pass."""

    latency_s: np.ndarray
    flops: int
    energy_j: np.ndarray
    energy_breakdown_j: dict[str, np.ndarray]
    traffic_bytes: dict[str, np.ndarray]
    by_category: dict[str, np.ndarray]  # latency per category present
    duty: np.ndarray
    devices: Devices
    dtype: str  # the first matrix op's dtype (the peak's)

    def __add__(self, other: Columns) -> Columns:
        """Both sets of runs (`Totals.__add__`), on the first one's devices."""

        def add(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            out = dict(a)
            for key, value in b.items():
                out[key] = out[key] + value if key in out else value
            return out

        return Columns(
            self.latency_s + other.latency_s,
            self.flops + other.flops,
            self.energy_j + other.energy_j,
            add(self.energy_breakdown_j, other.energy_breakdown_j),
            add(self.traffic_bytes, other.traffic_bytes),
            add(self.by_category, other.by_category),
            self.duty | other.duty,
            self.devices,
            self.dtype,
        )

    def table(
        self, samples: int, instances: int, peak: np.ndarray, n_ops: int
    ) -> dict[str, list[Any]]:
        """`Totals.metrics` per device as columns (``samples`` per step, throughput and
        achieved FLOP/s counting ``instances`` concurrent copies, as `result_metrics`)."""
        latency = self.latency_s
        positive = latency != 0
        safe = np.where(positive, latency, 1.0)
        columns: dict[str, Any] = {
            "latency_s": latency,
            "throughput_samples_per_s": np.where(positive, samples / safe, 0.0),
            "achieved_flops_per_s": np.where(positive, self.flops * instances / safe, 0.0),
            "peak_flops_per_s": peak,
            "energy_j": self.energy_j,
        }
        columns.update({f"energy_{k}_j": v for k, v in self.energy_breakdown_j.items()})
        columns.update({f"traffic_{k}_bytes": v for k, v in self.traffic_bytes.items()})
        for category in _CATEGORIES:
            columns[f"latency_{category}_s"] = self.by_category.get(category, 0.0)
        size = len(latency)
        lists = {
            k: np.broadcast_to(np.asarray(v, dtype=np.float64), size).tolist()
            for k, v in columns.items()
        }
        lists["flops"] = [self.flops] * size
        lists["n_ops"] = [n_ops] * size
        order = ["latency_s", "throughput_samples_per_s", "flops", "achieved_flops_per_s"]
        order += [k for k in lists if k not in order]
        return {key: lists[key] for key in order}

    def rows(
        self, samples: int, instances: int, peak: np.ndarray, n_ops: int
    ) -> list[dict[str, Any]]:
        """`table` as one dict per device."""
        return rows_of(self.table(samples, instances, peak, n_ops))


def roofline_columns(grouped: GroupedGraph, hws: Sequence[HardwareSpec]) -> Columns:
    """The roofline's totals of devices of one structure on an already device-grouped
    graph, each device at its sustained clock (`perfsim.engines.power_batch`)."""
    ops = grouped.ops
    counts = np.array([[float(n)] for n in grouped.counts], dtype=np.float64)
    devices = Devices.of(hws)
    arrays = op_arrays(ops, devices)
    prices = Prices.of(hws, arrays)
    tdp = None if hws[0].tdp is None else np.array([hw.tdp for hw in hws], dtype=np.float64)
    ratio, duty, boost = sustained_ratios(counts, arrays, devices, prices, tdp)
    result = priced_throttled(arrays, devices, prices, ratio, boost)
    categories = [op.category.value for op in ops]
    by_category = {}
    for category in dict.fromkeys(categories):
        rows = [k for k, found in enumerate(categories) if found == category]
        by_category[category] = weighted_sum(result.latency[rows], counts[rows])
    return Columns(
        latency_s=weighted_sum(result.latency, counts),
        flops=sum(n * op.flops for n, op in zip(grouped.counts, ops, strict=True)),
        energy_j=weighted_sum(result.joules, counts),
        energy_breakdown_j={k: weighted_sum(v, counts) for k, v in result.parts.items()},
        traffic_bytes={
            name: weighted_sum(arrays.traffic[index], counts)
            for index, name in enumerate(devices.names)
        },
        by_category=by_category,
        duty=duty,
        devices=devices,
        dtype=matrix_dtype(ops, arrays, grouped.meta.precision or "fp32"),
    )


def roofline_table(
    grouped: GroupedGraph, hws: Sequence[HardwareSpec]
) -> tuple[dict[str, list[Any]], list[bool]]:
    """`point_totals` of the roofline for devices of one structure on an already
    device-grouped graph, as columns, and which devices the scalar pass must duty-cycle
    (their entries are to be dropped)."""
    columns = roofline_columns(grouped, hws)
    peak = peak_flops(columns.devices, columns.dtype)
    table = columns.table(grouped.meta.batch or 1, 1, peak, grouped.n_ops)
    return table, columns.duty.tolist()
