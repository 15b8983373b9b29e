"""The cycle engine's systolic GEMM over many devices: `systolic_cost` as arrays.

`perfsim.engines.cycle.engine.systolic_cost` costs one GEMM on one device: the roofline
(for its traffic, dtype and actions), the fold model (`perfsim.engines.cycle.systolic`),
then `_assemble` (every level bounds the op by its bandwidth) and an `OpCost`. A sweep
batch asks that for every device; here the fold model runs for all devices at once
(`gemm_cycles_many`), and the rest is numpy over devices with the scalar engine's IEEE
operations in its order, reusing the batched roofline's traffic
(`perfsim.engines.roofline_batch.op_arrays`) for the levels the fold model does not
simulate. Energy is priced by the caller with the batch's other ops
(`perfsim.engines.power_batch.price_latencies`: the same actions and order as `price`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from perfsim.engines.cycle.arrays import DRAM_PORTS, split_over_arrays, systolic_array
from perfsim.engines.cycle.systolic import gemm_cycles_many
from perfsim.engines.roofline_batch import Array, Devices, OpArrays
from perfsim.engines.traffic import resident_operands
from perfsim.ir import DTYPE_BITS, OpNode


@dataclass(frozen=True, slots=True)
class GemmColumns:
    """One systolic GEMM on every device of a batch, one entry per device (SI units)."""

    latency_s: Array
    traffic: Array  # (level, device) bytes, the batch's level order
    total_cycles: Array
    stall_cycles: Array
    overall_utilization: Array  # MACs / (total cycles x peak MACs per cycle)


def systolic_ready(op: OpNode, devices: Devices, arrays: OpArrays, index: int) -> bool:
    """Whether `systolic_columns` costs ``op`` (row ``index`` of ``arrays``) on these
    devices: it runs on every device's arrays (a positive MAC rate at its dtype; else the
    scalar engine falls back to the vector units) and the arrays get their buffers from
    the nearest level (`systolic_array`), which the batch's structure fixes; arrays that
    share a core (``arrays_per_core``) are costed by the scalar engine."""
    first = devices.hws[0].compute.matrix
    if first is None or first.type != "systolic" or "m" not in op.dims:
        return False
    if any(hw.compute.matrix and hw.compute.matrix.arrays_per_core for hw in devices.hws):
        return False  # arrays sharing a core: the scalar engine (perfsim.engines.cycle.cores)
    macs = devices.macs.get(arrays.dtype[index])
    return macs is not None and bool((macs > 0).all()) and len(devices.names) >= 2


def systolic_columns(op: OpNode, devices: Devices, arrays: OpArrays, index: int) -> GemmColumns:
    """`systolic_cost(op, hw)` on every device (`systolic_ready` holds): latency (s),
    traffic per level (bytes), cycles and utilization, bit for bit the scalar's."""
    dtype = arrays.dtype[index]
    word_bytes = DTYPE_BITS[dtype] / 8
    out_bytes = DTYPE_BITS[op.outputs[0].dtype] / 8 if op.outputs else word_bytes
    dims = op.dims
    k = dims["k"] + dims.get("v", 0)
    splits = [split_over_arrays(dims["b"], dims["n"], hw.compute.units) for hw in devices.hws]
    # devices differ in array size, buffers and bandwidth; the GEMM each array runs is
    # fixed by the split, which only the unit count changes
    ones = gemm_cycles_many(
        dims["m"],
        [columns for _, columns, _ in splits],
        k,
        [systolic_array(hw, word_bytes) for hw in devices.hws],
    )
    on_chip = resident_operands(op)
    sram, dram, total, stall = [], [], [], []
    for (sequential, columns, _), one in zip(splits, ones, strict=True):
        jobs = dims["b"] * math.ceil(dims["n"] / columns)  # sub-GEMMs run on all arrays
        sram.append(
            jobs
            * (
                (one.ifmap_sram_reads + one.filter_sram_reads) * word_bytes
                + one.ofmap_sram_writes * out_bytes
            )
        )
        dram.append(
            jobs
            * (
                (one.ifmap_dram_reads * (not on_chip[0]) + one.filter_dram_reads * (not on_chip[1]))
                * word_bytes
                + one.ofmap_dram_writes * (not on_chip[2]) * out_bytes
            )
        )
        total.append(sequential * one.total_cycles)
        stall.append(float(sequential * one.stall_cycles))
    traffic = arrays.traffic[:, index, :].copy()
    traffic[0] = sram
    traffic[-1] = dram
    total_cycles = np.array(total, dtype=np.float64)  # exact: cycle counts are below 2**53
    level_s = traffic / np.stack([devices.level_bandwidth(i, None) for i in range(len(traffic))])
    busy = np.maximum(total_cycles / devices.clock, level_s.max(axis=0))
    latency = devices.overhead + busy if devices.serial else np.maximum(devices.overhead, busy)
    # `_macs` of the scalar engine: the product of integers is exact in either order
    rate = total_cycles * devices.units * devices.macs[dtype]
    return GemmColumns(
        latency_s=latency,
        traffic=traffic,
        total_cycles=total_cycles,
        stall_cycles=np.array(stall, dtype=np.float64),
        overall_utilization=float(op.macs) / rate,
    )


__all__ = ["DRAM_PORTS", "GemmColumns", "systolic_columns", "systolic_ready"]
