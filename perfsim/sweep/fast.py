"""Re-costing one typed graph on many devices: each distinct op shape once, totals by count.

`perfsim.estimate.estimate_graph` already costs each distinct shape once per call; a sweep
also hoists the grouping out of the loop (`group_graph`, once per workload) and skips
building the per-op `Result`, because a design point only needs the totals. The cost
model and the energy prices are the very functions `estimate_graph` calls (no second copy
of any formula; both run `perfsim.engines.power.sustained_prices`, the power-limit post-pass):
`point_metrics` equals ``estimate_graph(graph, hw, engine).summary()`` to rounding
(tests/test_sweep_fast.py checks 1e-9 relative on several devices and engines). It is the
reference for the batched path (`perfsim.sweep.batch`: many devices at once) and
`result_metrics` for the what-if path (`perfsim.sweep.placed`); every row of every path
passes through `device_row` once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from perfsim.area import design_metrics
from perfsim.engines import get_cost_model
from perfsim.engines.framework import layer_stream_bytes, refilled_at
from perfsim.engines.power import sustained_prices
from perfsim.engines.residency import cached_lifetimes, holder_level
from perfsim.estimate import Result, shape_key
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import GraphMeta, OpGraph, OpNode
from perfsim.totals import Totals, ratio


@dataclass(frozen=True, slots=True)
class GroupedGraph:
    """A typed graph as its distinct op shapes (first-seen order) and how often each occurs.

    ``source`` keeps the graph's ops for on-chip residency, which depends on the device:
    `on_device` regroups them once per distinct set of resident tensors (``by_kept``).
    """

    meta: GraphMeta
    ops: tuple[OpNode, ...]
    counts: tuple[int, ...]
    n_ops: int
    source: tuple[OpNode, ...] = ()
    # `perfsim.engines.framework.layer_stream_bytes` of ``source``: a host's framework refill
    layer_bytes: float = 0.0
    by_kept: dict[int, GroupedGraph] = field(default_factory=dict, compare=False)

    def on_device(self, hw: HardwareSpec) -> GroupedGraph:
        """The grouping of the ops as annotated for ``hw``'s residency
        (`perfsim.engines.residency.resident_ops`), itself if nothing stays on chip."""
        level = holder_level(hw)
        if level is None or not self.source:
            return self
        lifetimes = cached_lifetimes(self.source)
        capacity = hw.level_capacity(hw.memory[level])
        count = lifetimes.kept(capacity)
        if count == 0:
            return self
        found = self.by_kept.get(count)
        if found is None:
            ops = lifetimes.resident_ops(capacity)
            found = self.by_kept[count] = _group(self.meta, ops)
        return found


def group_graph(graph: OpGraph) -> GroupedGraph:
    """Group an already-typed graph (see `perfsim.precision.apply_precision`) by shape."""
    grouped = _group(graph.meta, graph.ops)
    return replace(grouped, source=graph.ops, layer_bytes=layer_stream_bytes(graph.ops))


def _group(meta: GraphMeta, all_ops: tuple[OpNode, ...]) -> GroupedGraph:
    index: dict[tuple[Any, ...], int] = {}
    ops: list[OpNode] = []
    counts: list[int] = []
    for op in all_ops:
        key = shape_key(op)
        position = index.get(key)
        if position is None:
            index[key] = len(ops)
            ops.append(op)
            counts.append(1)
        else:
            counts[position] += 1
    return GroupedGraph(meta, tuple(ops), tuple(counts), len(all_ops))


def device_row(metrics: dict[str, Any], hw: HardwareSpec) -> dict[str, Any]:
    """A point's row: its metrics plus the columns that depend only on the device.

    The one place per row where per-design columns (area, power, ... of ``hw``) are
    merged; every path (`point_metrics`, `result_metrics`, and
    `perfsim.sweep.batch.batch_tables` through `perfsim.area.metrics.design_columns`, its
    batched twin) ends here, once per point, so per-hw work belongs here and never in the
    per-op cost loops.
    """
    return {**metrics, **design_metrics(hw, metrics)}  # area, power, perf per mm^2 and per W


def point_metrics(grouped: GroupedGraph, hw: HardwareSpec, engine: str) -> dict[str, Any]:
    """The totals of `perfsim.estimate.Result.summary` for one device, as one flat row
    (`perfsim.totals.Totals.metrics`: latency, throughput, FLOPs, rates, energy and traffic
    per part, latency per category, ``n_ops``, cycle totals with the cycle engine)."""
    return device_row(point_totals(grouped, hw, engine), hw)


def point_totals(grouped: GroupedGraph, hw: HardwareSpec, engine: str) -> dict[str, Any]:
    """`point_metrics` without the per-design columns (`device_row`)."""
    model = get_cost_model(engine)
    hw = framework_at(grouped, hw)  # a host's framework time at this workload's traffic
    grouped = grouped.on_device(hw)  # activations kept on chip, as estimate_graph does
    # the very post-pass estimate_graph runs: costs priced at the sustained clock
    costs, energies = sustained_prices(grouped.ops, grouped.counts, hw, model)
    totals = replace(Totals.of(costs, grouped.counts, energies), n_ops=grouped.n_ops)
    matrix_dtype = next(
        (cost.dtype for cost in costs if cost.category.is_matrix),
        grouped.meta.precision or "fp32",
    )
    peak = hw.matrix_peak_flops(matrix_dtype) or hw.vector_peak_flops(matrix_dtype)
    return totals.metrics(grouped.meta.batch or 1, peak)


def framework_at(grouped: GroupedGraph, hw: HardwareSpec) -> HardwareSpec:
    """``hw`` with its framework refill at the graph's traffic per layer, as `estimate_graph`
    costs it (`perfsim.engines.framework`); ``hw`` itself without a refill."""
    return refilled_at(hw, grouped.layer_bytes)


def result_metrics(result: Result) -> dict[str, Any]:
    """The same row as `point_metrics`, from a full `Result` (what-if points take this way).

    Throughput and achieved FLOP/s count every concurrent instance (what-if ``instances``).
    """
    meta = result.graph.meta
    instances = meta.instances
    totals = result.totals()
    row = totals.metrics((meta.batch or 1) * instances, result.peak_flops_per_s())
    row["achieved_flops_per_s"] = ratio(totals.flops * instances, totals.latency_s)
    return device_row(row, result.hw)
