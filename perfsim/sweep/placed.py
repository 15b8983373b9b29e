"""What-if points on the grouped fast path: transform the graph once per what-if setting.

`perfsim.pipeline.cost_scenario_graph` runs a what-if point as: transform and fuse the
graph (`perfsim.whatif.estimate_whatif`: prune, sparsity, low rank, quantize, fusion;
none of it depends on the device), then cost each op on its placement (its own launch,
or inside another op's kernel) with residency decided on the whole graph, then the
runtime's timeline. Points of a sweep share a few what-if settings and differ in the
device, so here the transformed graph is built once per setting (`prepare`) and each
device costs each placement's distinct op shapes once (`placed_metrics`), with the very
post-pass `estimate_graph` runs per placement. Rows equal `result_metrics` of the full
path (tests/test_sweep_batch.py); totals are summed per placement rather than in op
order, so they agree to rounding (1e-15 relative), not bit for bit.

Not taken here (the full path runs them): near-memory units (``pim``), a runtime whose
host/device timeline applies, and an annotation corner case (see `_groupings`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from perfsim.engines import get_cost_model
from perfsim.engines.framework import layer_stream_bytes, refilled_at
from perfsim.engines.power import sustained_prices
from perfsim.engines.residency import cached_lifetimes, holder_level
from perfsim.engines.roofline import compute_dtype
from perfsim.engines.roofline_batch import Devices, peak_flops, structure
from perfsim.estimate import shape_key
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpGraph, OpNode
from perfsim.sweep.batch import Columns, roofline_columns
from perfsim.sweep.fast import GroupedGraph, _group, device_row
from perfsim.totals import Totals, ratio
from perfsim.whatif import WhatIfs, fuse, transform_graph
from perfsim.whatif.instances import device_share
from perfsim.whatif.lengths import kernel_part_names
from perfsim.whatif.placement import library_kernels, without_overhead
from perfsim.whatif.quantize import quantized_precision

# placements: 0 = launched on its own, 1 = inside an earlier op's kernel (no launch cost)
_PLACEMENTS = 2


@dataclass(frozen=True, slots=True)
class WhatIfGraph:
    """A what-if setting's fused graph, ready for many devices.

    ``choice[i]`` is op ``i``'s placement; ``by_kept`` keeps, per count of activations
    held on chip, each placement's grouping of its (annotated) ops and the first matrix
    op (whose cost's dtype sets the peak, as `perfsim.estimate.Result.peak_flops_per_s`).
    """

    graph: OpGraph
    choice: tuple[int, ...]
    instances: int
    # `perfsim.engines.framework.layer_stream_bytes` of ``graph``: a host's framework refill
    layer_bytes: float = 0.0
    # the fusion passes applied (their library kernels: `perfsim.whatif.placement.library_kernels`)
    fusion: tuple[str, ...] = ()
    by_kept: dict[int | None, Any] = field(default_factory=dict, compare=False)

    def share(self, hw: HardwareSpec) -> HardwareSpec:
        """The device one instance of this setting runs on, as `estimate_whatif` derives it."""
        share = library_kernels(device_share(hw, self.instances), self.fusion)
        return refilled_at(share, self.layer_bytes)


def prepare(graph: OpGraph, whatifs: WhatIfs, precision: str) -> WhatIfGraph | None:
    """`perfsim.whatif.estimate_whatif`'s device-independent steps on an untyped graph at
    the point's ``precision`` (before ``quant``); None where this path does not apply."""
    if whatifs.pim:
        return None
    chosen = quantized_precision(whatifs.quant, precision)
    parts = kernel_part_names(graph, whatifs.sequence_kernels)
    typed = transform_graph(graph, whatifs, chosen)
    fused, inner = fuse(typed, whatifs.fusion, whatifs.attention_kernel)
    inner = inner | {index for index, op in enumerate(fused.ops) if op.name in parts}
    meta = fused.meta.but(whatifs=whatifs.applied(), instances=whatifs.instances)
    choice = tuple(1 if index in inner else 0 for index in range(len(fused.ops)))
    layer_bytes = layer_stream_bytes(fused.ops)
    return WhatIfGraph(
        OpGraph(fused.ops, meta), choice, whatifs.instances, layer_bytes, whatifs.fusion
    )


def _groupings(
    prepared: WhatIfGraph, share: HardwareSpec
) -> tuple[list[GroupedGraph | None], OpNode | None, int] | None:
    """Per placement, the grouping of its ops as annotated for ``share``'s residency
    (`perfsim.whatif.placement.estimate_placed`), the first matrix op and its placement.
    None in the corner case where `estimate_graph` would annotate a placement again."""
    ops = prepared.graph.ops
    level = holder_level(share)
    count: int | None = None
    if level is not None:
        lifetimes = cached_lifetimes(ops)
        capacity = share.level_capacity(share.memory[level])
        count = lifetimes.kept(capacity)
    found = prepared.by_kept.get(count)
    if found is None:
        annotated = ops if count is None else lifetimes.resident_ops(capacity)
        groups: list[GroupedGraph | None] = []
        for slot in range(_PLACEMENTS):
            picked = [
                op for op, chosen in zip(annotated, prepared.choice, strict=True) if chosen == slot
            ]
            if picked and level is not None and not any(op.resident for op in picked):
                return None  # estimate_graph would find residency on this part alone
            groups.append(_group(prepared.graph.meta, tuple(picked)) if picked else None)
        first = next(
            (
                (op, slot)
                for op, slot in zip(annotated, prepared.choice, strict=True)
                if op.category.is_matrix
            ),
            (None, 0),
        )
        found = prepared.by_kept[count] = (groups, *first)
    return found  # type: ignore[no-any-return]


def placed_metrics(
    prepared: WhatIfGraph, hw: HardwareSpec, engine: str, runtime: str | None
) -> dict[str, Any] | None:
    """`perfsim.sweep.fast.result_metrics` of the full what-if path on ``hw``, or None
    where this path does not apply (then the caller takes the full path)."""
    if runtime is not None and hw.host_issue_s(runtime) is not None and not hw.op_overhead_serial:
        return None  # the host/device timeline (perfsim.timeline) reshapes each op
    share = prepared.share(hw)
    found = _groupings(prepared, share)
    if found is None:
        return None
    groups, first, first_slot = found
    model = get_cost_model(engine)
    devices = (share, without_overhead(share))
    totals: Totals | None = None
    dtype = prepared.graph.meta.precision or "fp32"
    for slot, grouped in enumerate(groups):
        if grouped is None:
            continue
        costs, energies = sustained_prices(grouped.ops, grouped.counts, devices[slot], model)
        part = Totals.of(costs, grouped.counts, energies)
        totals = part if totals is None else totals + part
        if first is not None and slot == first_slot:
            key = shape_key(first)
            dtype = next(
                c.dtype for op, c in zip(grouped.ops, costs, strict=True) if shape_key(op) == key
            )
    totals = replace(totals or Totals(), n_ops=len(prepared.graph.ops))
    meta = prepared.graph.meta
    instances = meta.instances
    peak = float(share.matrix_peak_flops(dtype) or share.vector_peak_flops(dtype))
    row = totals.metrics((meta.batch or 1) * instances, peak)
    row["achieved_flops_per_s"] = ratio(totals.flops * instances, totals.latency_s)
    return device_row(row, share)


def placed_batch(
    prepared: WhatIfGraph, hws: Sequence[HardwareSpec], engine: str, runtime: str | None
) -> list[dict[str, Any] | None]:
    """`placed_metrics` of every device, the roofline vectorized over devices that share
    a structure and a residency grouping (`perfsim.sweep.batch`)."""
    rows: list[dict[str, Any] | None] = [None] * len(hws)
    batches: dict[tuple[Any, ...], tuple[Any, list[int], list[list[HardwareSpec]]]] = {}
    for index, hw in enumerate(hws):
        if engine != "roofline" or (runtime is not None and hw.host_issue_s(runtime) is not None):
            continue
        share = prepared.share(hw)
        found = _groupings(prepared, share)
        devices = (share, without_overhead(share))
        shapes = tuple(structure(device) for device in devices)
        if found is None or None in shapes:
            continue
        key = (id(found[0]), shapes)
        batch = batches.setdefault(key, (found, [], [[] for _ in devices]))
        batch[1].append(index)
        for slot, device in enumerate(devices):
            batch[2][slot].append(device)
    meta = prepared.graph.meta
    for (groups, first, _), members, devices in batches.values():
        total: Columns | None = None
        for slot, grouped in enumerate(groups):
            if grouped is not None:
                part = roofline_columns(grouped, devices[slot])
                total = part if total is None else total + part
        if total is None:
            continue
        dtype = compute_dtype(first) if first is not None else meta.precision or "fp32"
        peak = peak_flops(Devices.of(devices[0]), dtype)
        samples = (meta.batch or 1) * meta.instances
        found_rows = total.rows(samples, meta.instances, peak, len(prepared.graph.ops))
        for index, row, skip, share in zip(
            members, found_rows, total.duty.tolist(), devices[0], strict=True
        ):
            rows[index] = None if skip else device_row(row, share)
    return [
        row if row is not None else placed_metrics(prepared, hw, engine, runtime)
        for row, hw in zip(rows, hws, strict=True)
    ]
