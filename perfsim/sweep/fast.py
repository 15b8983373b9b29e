"""Re-costing one typed graph on many devices: each distinct op shape once, totals by count.

`perfsim.estimate.estimate_graph` already costs each distinct shape once per call; a sweep
also hoists the grouping out of the loop (`group_graph`, once per workload) and skips
building the per-op `Result`, because a design point only needs the totals. The cost
model and the energy prices are the very functions `estimate_graph` calls (no second copy
of any formula; `perfsim.energy.with_energy` is `price` plus a copy of the cost record):
`point_metrics` equals ``estimate_graph(graph, hw, engine).summary()`` to rounding
(tests/test_sweep_fast.py checks 1e-9 relative on several devices and engines).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from perfsim.energy import energy_prices, price
from perfsim.engines import OpCost, get_cost_model
from perfsim.estimate import Result, shape_key
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import Category, OpGraph, OpNode


@dataclass(frozen=True, slots=True)
class GroupedGraph:
    """A typed graph as its distinct op shapes (first-seen order) and how often each occurs."""

    meta: Mapping[str, Any]
    ops: tuple[OpNode, ...]
    counts: tuple[int, ...]
    n_ops: int


def group_graph(graph: OpGraph) -> GroupedGraph:
    """Group an already-typed graph (see `perfsim.precision.apply_precision`) by shape."""
    index: dict[tuple[Any, ...], int] = {}
    ops: list[OpNode] = []
    counts: list[int] = []
    for op in graph.ops:
        key = shape_key(op)
        position = index.get(key)
        if position is None:
            index[key] = len(ops)
            ops.append(op)
            counts.append(1)
        else:
            counts[position] += 1
    return GroupedGraph(dict(graph.meta), tuple(ops), tuple(counts), len(graph.ops))


def point_metrics(grouped: GroupedGraph, hw: HardwareSpec, engine: str) -> dict[str, Any]:
    """The totals of `perfsim.estimate.Result.summary` for one device, as one flat row.

    Keys: ``latency_s``, ``throughput_samples_per_s``, ``flops``, ``achieved_flops_per_s``,
    ``peak_flops_per_s``, ``energy_j``, ``energy_<component>_j`` (compute, each memory
    level, static), ``traffic_<level>_bytes``, ``latency_<category>_s`` (every category,
    0 where absent), ``n_ops``, and with the cycle engine ``total_cycles``,
    ``stall_cycles``, ``matrix_utilization``.
    """
    model = get_cost_model(engine)
    prices = energy_prices(hw)
    costs: list[OpCost] = [model.op_cost(op, hw) for op in grouped.ops]
    # `with_energy` is price() plus a dataclass copy per op; the totals need only the price
    energies = [price(cost.actions, cost.latency_s, prices) for cost in costs]
    counts = grouped.counts
    latency = sum(count * cost.latency_s for count, cost in zip(counts, costs, strict=True))
    flops = sum(count * cost.flops for count, cost in zip(counts, costs, strict=True))
    matrix_dtype = next(
        (cost.dtype for cost in costs if cost.category.is_matrix),
        str(grouped.meta.get("precision", "fp32")),
    )
    batch = grouped.meta.get("batch") or 1
    row: dict[str, Any] = {
        "latency_s": latency,
        "throughput_samples_per_s": batch / latency if latency else 0.0,
        "flops": flops,
        "achieved_flops_per_s": flops / latency if latency else 0.0,
        "peak_flops_per_s": hw.matrix_peak_flops(matrix_dtype)
        or hw.vector_peak_flops(matrix_dtype),
        "energy_j": sum(
            count * sum(parts.values()) for count, parts in zip(counts, energies, strict=True)
        ),
    }
    for key in energies[0] if energies else ():
        row[f"energy_{key}_j"] = sum(
            count * parts[key] for count, parts in zip(counts, energies, strict=True)
        )
    for level in hw.memory:
        row[f"traffic_{level.name}_bytes"] = sum(
            count * cost.traffic_bytes[level.name]
            for count, cost in zip(counts, costs, strict=True)
        )
    by_category = dict.fromkeys((category.value for category in Category), 0.0)
    for count, cost in zip(counts, costs, strict=True):
        by_category[cost.category.value] += count * cost.latency_s
    row.update({f"latency_{name}_s": value for name, value in by_category.items()})
    row["n_ops"] = grouped.n_ops
    if any("total_cycles" in cost.details for cost in costs):
        row.update(_cycle_totals(counts, costs))
    return row


def _cycle_totals(counts: tuple[int, ...], costs: list[OpCost]) -> dict[str, float]:
    pairs = list(zip(counts, costs, strict=True))
    matrix = [
        (n, c) for n, c in pairs if c.category.is_matrix and "overall_utilization" in c.details
    ]
    matrix_cycles = sum(n * c.details["total_cycles"] for n, c in matrix)
    weighted = sum(
        n * c.details["overall_utilization"] * c.details["total_cycles"] for n, c in matrix
    )
    return {
        "total_cycles": sum(n * c.details.get("total_cycles", 0.0) for n, c in pairs),
        "stall_cycles": sum(n * c.details.get("stall_cycles", 0.0) for n, c in pairs),
        "matrix_utilization": weighted / matrix_cycles if matrix_cycles else 0.0,
    }


def result_metrics(result: Result) -> dict[str, Any]:
    """The same row as `point_metrics`, from a full `Result` (what-if points take this way)."""
    summary = result.summary()
    row: dict[str, Any] = {
        key: summary[key]
        for key in (
            "latency_s",
            "throughput_samples_per_s",
            "flops",
            "achieved_flops_per_s",
            "peak_flops_per_s",
            "energy_j",
        )
    }
    row.update({f"energy_{k}_j": v for k, v in summary["energy_breakdown_j"].items()})
    row.update({f"traffic_{k}_bytes": v for k, v in summary["memory_traffic_bytes"].items()})
    by_category = summary["by_category"]
    for category in Category:
        row[f"latency_{category.value}_s"] = by_category.get(category.value, {}).get(
            "latency_s", 0.0
        )
    row["n_ops"] = summary["n_ops"]
    row.update(summary.get("cycles", {}))
    return row
