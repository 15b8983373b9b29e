"""The cycle engine over many devices: vector ops and systolic GEMMs as numpy over devices.

`perfsim.engines.cycle.engine` costs a GEMM with its systolic fold model (or a tile
schedule) and every other op as vector slots against the roofline's traffic. Here the
vector ops of all devices of a batch run at once (`perfsim.engines.cycle.engine.vector_cost`
written over arrays, on the roofline's batched traffic, `perfsim.engines.roofline_batch`);
the systolic GEMMs run their fold model for all devices at once and are assembled as
arrays (`perfsim.sweep.cycle_gemm`); tile-engine GEMMs still run the scalar engine, device
by device. Prices and totals are summed op by op in `Totals.of`'s order, so rows equal
`perfsim.sweep.fast.point_metrics`'s to the last bit (tests/test_sweep_batch.py).
Only devices that sustain their boost clock are done here: one whose step exceeds its power
limit (the sustained-clock search re-costs every GEMM at trial clocks) is left to the
scalar pass (None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from perfsim.energy.prices import cached_energy_prices, price
from perfsim.engines import get_cost_model
from perfsim.engines.cycle.vector import slots_per_element, vector_elements
from perfsim.engines.power_batch import Priced, Prices, price_latencies, weighted_sum
from perfsim.engines.roofline_batch import (
    Devices,
    OpArrays,
    matrix_dtype,
    op_arrays,
    peak_flops,
)
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpNode
from perfsim.sweep.batch import Columns
from perfsim.sweep.cycle_gemm import systolic_columns, systolic_ready
from perfsim.sweep.fast import GroupedGraph


def _slots(op: OpNode) -> int:
    """Vector slots of an op (`perfsim.engines.cycle.engine.vector_cost`)."""
    if op.category.is_matrix:
        return op.macs  # one FMA slot per MAC
    return max(vector_elements(op) * slots_per_element(op), math.ceil(op.flops / 2))


@dataclass(frozen=True, slots=True)
class _PerOp:
    """Per-op, per-device arrays the cycle engine fills (shape: ops x devices; ``traffic``:
    levels x ops x devices): seconds, bytes and the cycle counters of the row."""

    latency: np.ndarray
    traffic: np.ndarray
    total_cycles: np.ndarray
    stall_cycles: np.ndarray
    matrix_cycles: np.ndarray
    matrix_busy: np.ndarray

    @classmethod
    def empty(cls, ops: int, traffic: np.ndarray) -> _PerOp:
        shape = (ops, traffic.shape[-1])
        zeros = [np.zeros(shape) for _ in range(5)]
        return cls(zeros[0], traffic.copy(), *zeros[1:])


def cycle_totals(grouped: GroupedGraph, hws: Sequence[HardwareSpec]) -> list[dict[str, Any] | None]:
    """`perfsim.sweep.fast.point_totals` of the cycle engine for devices of one structure
    on an already device-grouped graph (None: a device to cost with the scalar pass)."""
    ops = grouped.ops
    counts = np.array([[float(n)] for n in grouped.counts], dtype=np.float64)
    devices = Devices.of(hws)
    arrays = op_arrays(ops, devices)
    prices = Prices.of(hws, arrays)
    per_op = _PerOp.empty(len(ops), arrays.traffic)
    scalar = _batched_ops(ops, hws, devices, arrays, per_op)
    # the systolic GEMMs' actions are the roofline's with their simulated bytes
    result = price_latencies(
        replace(arrays, traffic=per_op.traffic), devices, prices, per_op.latency, None
    )
    _scalar_gemms(ops, scalar, hws, devices.names, per_op, result)
    seconds = weighted_sum(per_op.latency, counts)
    joules_sum = weighted_sum(result.joules, counts)
    fits = np.ones(len(hws), dtype=bool)
    if hws[0].tdp is not None:
        tdp = np.array([hw.tdp for hw in hws], dtype=np.float64)
        power = np.where(seconds > 0, joules_sum / np.where(seconds > 0, seconds, 1.0), 0.0)
        fits = power <= tdp
    categories = [op.category.value for op in ops]
    by_category = {}
    for category in dict.fromkeys(categories):
        rows = [k for k, found in enumerate(categories) if found == category]
        by_category[category] = weighted_sum(per_op.latency[rows], counts[rows])
    names = devices.names
    columns = Columns(
        latency_s=seconds,
        flops=sum(n * op.flops for n, op in zip(grouped.counts, ops, strict=True)),
        energy_j=joules_sum,
        energy_breakdown_j={k: weighted_sum(v, counts) for k, v in result.parts.items()},
        traffic_bytes={
            name: weighted_sum(per_op.traffic[i], counts) for i, name in enumerate(names)
        },
        by_category=by_category,
        duty=~fits,
        devices=devices,
        dtype=matrix_dtype(ops, arrays, grouped.meta.precision or "fp32"),
    )
    peak = peak_flops(devices, columns.dtype)
    rows_out = columns.rows(grouped.meta.batch or 1, 1, peak, grouped.n_ops)
    return _with_cycles(rows_out, per_op, counts, fits)


def _batched_ops(
    ops: Sequence[OpNode],
    hws: Sequence[HardwareSpec],
    devices: Devices,
    arrays: OpArrays,
    per_op: _PerOp,
) -> list[int]:
    """Fill ``per_op`` for every op costed over all devices at once (systolic GEMMs and
    vector ops); the indices of the GEMMs left to the scalar engine (tile engines, GEMMs
    on the vector units)."""
    clock = devices.clock
    bandwidth = np.stack([devices.level_bandwidth(i, None) for i in range(len(devices.names))])
    level_s = arrays.traffic / bandwidth[:, None, :]
    fill = np.array([hw.dram.latency for hw in hws], dtype=np.float64) * clock
    zero = np.zeros_like(clock)
    scalar = []
    for k, op in enumerate(ops):
        if hws[0].compute.matrix is not None and op.category.is_matrix and "m" in op.dims:
            if not systolic_ready(op, devices, arrays, k):
                scalar.append(k)
                continue
            gemm = systolic_columns(op, devices, arrays, k)
            per_op.latency[k], per_op.traffic[:, k, :] = gemm.latency_s, gemm.traffic
            per_op.total_cycles[k], per_op.stall_cycles[k] = gemm.total_cycles, gemm.stall_cycles
            per_op.matrix_cycles[k] = gemm.total_cycles
            per_op.matrix_busy[k] = gemm.overall_utilization
            continue
        slots = _slots(op)
        dtype = arrays.dtype[k]
        lanes = devices.vector_flops[dtype] / 2 if dtype in devices.vector_flops else zero
        compute = zero
        if slots:
            per_cycle = np.where(lanes > 0, lanes * devices.units, 1.0)
            compute = np.where(lanes > 0, np.ceil(slots / per_cycle), 0.0)
        memory = level_s[:, k, :].max(axis=0) * clock
        total = np.maximum(compute, memory) + fill
        busy = np.maximum(total / clock, level_s[:, k, :].max(axis=0))
        per_op.latency[k] = (
            devices.overhead + busy if devices.serial else np.maximum(devices.overhead, busy)
        )
        per_op.total_cycles[k], per_op.stall_cycles[k] = total, total - compute
    return scalar


def _scalar_gemms(
    ops: Sequence[OpNode],
    scalar: Sequence[int],
    hws: Sequence[HardwareSpec],
    names: Sequence[str],
    per_op: _PerOp,
    result: Priced,
) -> None:
    """Cost the GEMMs ``scalar`` with the cycle engine device by device, into ``per_op``
    and the priced ``result`` (its per-part and total joules)."""
    model = get_cost_model("cycle")
    for p, hw in enumerate(hws):
        energy = cached_energy_prices(hw)
        for k in scalar:
            cost = model.op_cost(ops[k], hw)
            per_op.latency[k, p] = cost.latency_s
            for index, name in enumerate(names):
                per_op.traffic[index, k, p] = cost.traffic_bytes[name]
            joules = 0.0
            for name, value in price(cost.actions, cost.latency_s, energy).items():
                result.parts[name][k, p] = value
                joules += value
            result.joules[k, p] = joules
            details = cost.details
            per_op.total_cycles[k, p] = details["total_cycles"]
            per_op.stall_cycles[k, p] = details.get("stall_cycles", 0.0)
            if "overall_utilization" in details:
                per_op.matrix_cycles[k, p] = details["total_cycles"]
                per_op.matrix_busy[k, p] = details["overall_utilization"]


def _with_cycles(
    rows: list[dict[str, Any]], per_op: _PerOp, counts: np.ndarray, fits: np.ndarray
) -> list[dict[str, Any] | None]:
    """The rows with the cycle engine's columns; None for devices over their power limit."""
    cycles_total = weighted_sum(per_op.total_cycles, counts).tolist()
    cycles_stall = weighted_sum(per_op.stall_cycles, counts).tolist()
    cycles_matrix = weighted_sum(per_op.matrix_cycles, counts).tolist()
    weighted_busy = counts * per_op.matrix_busy * per_op.matrix_cycles
    cycles_busy = np.cumsum(weighted_busy, axis=0)[-1].tolist()
    out: list[dict[str, Any] | None] = []
    for p, row in enumerate(rows):
        if not fits[p]:
            out.append(None)
            continue
        row["total_cycles"] = cycles_total[p]
        row["stall_cycles"] = cycles_stall[p]
        row["matrix_utilization"] = cycles_busy[p] / cycles_matrix[p] if cycles_matrix[p] else 0.0
        out.append(row)
    return out
