"""The roofline over many devices at once: numpy over (devices x distinct ops).

A vectorized twin of `perfsim.engines.roofline` and `perfsim.engines.traffic` for the
sweep's batched path (`perfsim.sweep.batch.batch_metrics`). The scalar engine stays the
reference: every expression here is the scalar one, in the same order of IEEE operations,
applied to arrays, so the numbers are the scalar engine's to the last bit (the property
tests in tests/test_sweep_batch.py compare them). Only what varies between devices of one
sweep is an array (clock, units, MACs and FLOPs per cycle, capacities, bandwidths,
achievable fractions, overhead); the rest (level names, which dtypes run where, where
activations are held) is the batch's *structure*, equal for every device in it
(`structure`). Devices whose files use the GPU library plans, efficiency tables, weight
packing, fresh-page costs, a kernel startup, a special-function pipe or measured element
costs are not vectorized (`structure` returns None): they take the scalar engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from perfsim.engines.distinct import Distinct, SectionKeys
from perfsim.engines.residency import holder_level
from perfsim.engines.roofline import _vector_dtype, compute_dtype
from perfsim.engines.traffic import _operand_bytes, matrix_operand
from perfsim.hardware.spec import ComputeSpec, HardwareSpec
from perfsim.ir import OpNode

Array = npt.NDArray[np.float64]


def structure(hw: HardwareSpec) -> tuple[Any, ...] | None:
    """What must be equal across a batch of devices (None: not vectorized, see above)."""
    if hw.fresh_pages is not None or hw.kernel_startup_s:
        return None
    compute = _COMPUTE_STRUCTURE(hw.compute)
    if compute is None:
        return None
    return (
        tuple([(level.name, level.per_unit) for level in hw.memory]),
        *compute,
        hw.op_overhead_serial,
        hw.tdp is None,
    )


def _compute_structure(compute: ComputeSpec) -> tuple[Any, ...] | None:
    """The compute section's part of `structure`: its matrix and vector dtypes (None
    where a table or measured cost keeps it on the scalar engine)."""
    matrix = compute.matrix
    vector = compute.vector
    if (
        vector.element_cost is not None
        or vector.stream_efficiency is not None
        or vector.special_per_cycle is not None
        or vector.convert_per_cycle is not None
    ):
        return None
    if matrix is not None and (
        matrix.efficiency is not None
        or matrix.efficiency_grid is not None
        or matrix.weight_packing_bandwidth is not None
        or matrix.library_tiles is not None
    ):
        return None
    return (
        tuple(matrix.macs_per_cycle) if matrix is not None else None,
        tuple(compute.vector.flops_per_cycle),
    )


_COMPUTE_STRUCTURE = SectionKeys(_compute_structure)


def matrix_macs(dtype: str) -> Callable[[ComputeSpec], float]:
    """A reader of a compute section's matrix MACs per cycle per unit of ``dtype``."""
    return lambda compute: compute.matrix.macs_per_cycle[dtype]  # type: ignore[union-attr,index]


def vector_flops(dtype: str) -> Callable[[ComputeSpec], float]:
    """A reader of a compute section's vector FLOPs per cycle per unit of ``dtype``."""
    return lambda compute: float(compute.vector.flops_per_cycle[dtype])  # type: ignore[index]


def _column(values: Sequence[float]) -> Array:
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Devices:
    """Devices of one `structure`, one array entry per device (SI units)."""

    hws: tuple[HardwareSpec, ...]
    units: Array
    clock: Array  # Hz
    macs: dict[str, Array]  # MACs per cycle per unit, by dtype
    vector_flops: dict[str, Array]  # FLOPs per cycle per unit, by dtype
    capacity: tuple[Array, ...]  # bytes, one instance, per level nearest first
    bandwidth: tuple[Array, ...]  # bytes/s, one instance, per level
    achievable: tuple[Array, ...]  # fraction of bandwidth (1 where the file gives none)
    multiplier: tuple[Array, ...]  # units for a per-unit level, else 1
    overhead: Array  # op_overhead, s
    holder: int | None  # the level that keeps activations (`holder_level`)
    serial: bool  # op_overhead_serial

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.hws[0].memory)

    @classmethod
    def of(cls, hws: Sequence[HardwareSpec]) -> Devices:
        """Arrays of ``hws``, all of one `structure` (checked by the caller); the compute
        section's numbers read once per distinct section (`Distinct`)."""
        first = hws[0]
        computed = Distinct.of([hw.compute for hw in hws]).column
        units = computed(lambda compute: compute.units)
        levels = [[hw.memory[i] for hw in hws] for i in range(len(first.memory))]
        matrix = first.compute.matrix
        return cls(
            hws=tuple(hws),
            units=units,
            clock=computed(lambda compute: compute.clock),
            macs={
                dtype: computed(matrix_macs(dtype))
                for dtype in (matrix.macs_per_cycle if matrix is not None else ())
            },
            vector_flops={
                dtype: computed(vector_flops(dtype))
                for dtype in first.compute.vector.flops_per_cycle
            },
            capacity=tuple(_column([m.capacity for m in level]) for level in levels),
            bandwidth=tuple(_column([m.bandwidth for m in level]) for level in levels),
            achievable=tuple(
                _column([1.0 if m.achievable is None else m.achievable for m in level])
                for level in levels
            ),
            # per_unit is part of the structure: the same on every device
            multiplier=tuple(
                units if level.per_unit else np.ones(len(hws)) for level in first.memory
            ),
            overhead=_column([hw.op_overhead for hw in hws]),
            holder=holder_level(first),
            serial=first.op_overhead_serial,
        )

    def take(self, index: npt.NDArray[np.intp]) -> Devices:
        """The devices at ``index`` only (a pass over some of a batch's devices)."""
        return replace(
            self,
            hws=tuple(self.hws[i] for i in index.tolist()),
            units=self.units[index],
            clock=self.clock[index],
            macs={dtype: value[index] for dtype, value in self.macs.items()},
            vector_flops={dtype: value[index] for dtype, value in self.vector_flops.items()},
            capacity=tuple(value[index] for value in self.capacity),
            bandwidth=tuple(value[index] for value in self.bandwidth),
            achievable=tuple(value[index] for value in self.achievable),
            multiplier=tuple(value[index] for value in self.multiplier),
            overhead=self.overhead[index],
        )

    def matrix_peak(self, dtype: str, clock: Array) -> Array:
        """`HardwareSpec.matrix_peak_flops` at ``clock`` (the dtype is on the matrix unit)."""
        return 2.0 * self.macs[dtype] * self.units * clock

    def vector_peak(self, dtype: str, clock: Array) -> Array:
        """`HardwareSpec.vector_peak_flops` at ``clock`` (0 for a dtype the unit lacks)."""
        if dtype not in self.vector_flops:
            return np.zeros_like(clock)
        return self.vector_flops[dtype] * self.units * clock

    def level_bandwidth(self, index: int, ratio: Array | None) -> Array:
        """`HardwareSpec.level_bandwidth` of level ``index``; on-chip levels at ``ratio`` x
        (`perfsim.engines.power.at_clock`; None: the boost clock)."""
        bandwidth = self.bandwidth[index]
        if ratio is not None and index < len(self.bandwidth) - 1:
            bandwidth = bandwidth * ratio
        return bandwidth * self.achievable[index] * self.multiplier[index]


@dataclass(frozen=True, slots=True)
class OpArrays:
    """The clock-independent part of each distinct op's roofline cost on every device;
    arrays are (op, device), or (level, op, device) for traffic. Devices whose ops
    differ (`perfsim.sweep.stacked`: a row is an op of each device's own graph) have
    ``flops`` and ``peak_index`` per (op, device) too."""

    traffic: Array  # bytes each level serves
    flops: Array  # (op, 1): FLOPs
    peak_index: npt.NDArray[np.intp]  # per op: its row of `peaks` (0: no compute)
    dtype: tuple[str, ...]  # the dtype each op computes in (its cost's ``dtype``)
    action: tuple[tuple[str, float] | None, ...]  # ("mac" | "vector", count) per op
    units: tuple[tuple[bool, str], ...]  # the distinct (on matrix, dtype) of `peaks`

    def take(self, index: npt.NDArray[np.intp]) -> OpArrays:
        """The entries of the devices at ``index`` only (`Devices.take`)."""
        return replace(
            self,
            traffic=self.traffic[:, :, index],
            flops=self.flops if self.flops.shape[1] == 1 else self.flops[:, index],
            peak_index=self.peak_index if self.peak_index.ndim == 1 else self.peak_index[:, index],
        )

    def peaks(self, devices: Devices, clock: Array) -> Array:
        """(op, device) peak FLOP/s at ``clock``, 1 for ops that compute nothing."""
        rows = [np.ones_like(clock)]
        for matrix, dtype in self.units:
            rows.append(
                devices.matrix_peak(dtype, clock) if matrix else devices.vector_peak(dtype, clock)
            )
        stacked = np.stack(rows)
        if self.peak_index.ndim == 2:  # per (op, device)
            per_device: Array = np.take_along_axis(stacked, self.peak_index, axis=0)
            return per_device
        per_op: Array = stacked[self.peak_index]
        return per_op


def _capacity_bytes(op: OpNode, capacity: Array) -> tuple[Array, Array, Array]:
    """`perfsim.engines.traffic.capacity_matrix_bytes` and `_matrix_passes` over devices:
    bytes served, and the passes over A and B, when the front level holds ``capacity``."""
    a, b_op, c, element = _operand_bytes(op)
    # NB: numpy's sqrt, floor and ceil round as math's do: the same bits as the scalar
    fits = (a + b_op + c <= capacity) | (min(a, b_op) <= capacity / 2)
    side = np.maximum(1.0, np.floor(np.sqrt(capacity / max(element, 0.5))))
    dims = op.dims
    passes_a = np.ceil(dims["n"] / side)
    passes_b = np.ceil(dims["m"] / side)
    tiled = dims["b"] * (a * passes_a + b_op * passes_b + c)
    compulsory = float(op.bytes_total)
    served = np.where(fits, compulsory, np.maximum(compulsory, tiled))
    return served, np.where(fits, 1.0, passes_a), np.where(fits, 1.0, passes_b)


def _level_traffic(op: OpNode, devices: Devices) -> tuple[Array, ...]:
    """`perfsim.engines.traffic.level_traffic` over devices, level by level."""
    count = len(devices.hws)
    compulsory = float(op.bytes_total)
    matrix = op.category.is_matrix and "m" in op.dims
    holder = devices.holder if True in op.resident else None
    traffic: list[Array] = []
    for index in range(len(devices.capacity)):
        if index == 0:
            traffic.append(np.full(count, compulsory))
            continue
        front = devices.capacity[index - 1]
        passes: tuple[Array, Array] | None = None
        if matrix:
            served, *found = _capacity_bytes(op, front)
            passes = (found[0], found[1])
        else:
            served = np.full(count, compulsory)
        if holder is not None and index > holder:
            served = np.maximum(0.0, served - _on_chip(op, passes))
        traffic.append(served)
    return tuple(traffic)


def _on_chip(op: OpNode, passes: tuple[Array, Array] | None) -> Array | float:
    """`perfsim.engines.traffic.on_chip_bytes` over devices, given the passes over A and
    B (None: not a GEMM)."""
    tensors = (*op.inputs, *op.outputs)
    if passes is None:
        return float(sum(t.nbytes for t, kept in zip(tensors, op.resident, strict=True) if kept))
    saved: Array | float = 0.0
    for position, (tensor, kept) in enumerate(zip(tensors, op.resident, strict=True)):
        if not kept:
            continue
        operand = matrix_operand(op, tensor) if position < len(op.inputs) else None
        factor: Array | int = passes[0] if operand == "a" else passes[1] if operand == "b" else 1
        saved = saved + tensor.nbytes * factor
    return saved


def op_arrays(ops: Sequence[OpNode], devices: Devices) -> OpArrays:
    """What each op's cost is before the clock enters: traffic, unit, dtype, actions.

    Raises `perfsim.errors.UnsupportedPrecisionError` where the scalar engine does (with
    the scalar engine's own message).
    """
    dtypes, actions = [], []
    units: list[tuple[bool, str]] = []
    index = []
    for op in ops:
        dtype = compute_dtype(op)
        matrix = op.category.is_matrix and dtype in devices.macs
        if not matrix and (op.category.is_matrix or op.flops):
            _vector_dtype(devices.hws[0], dtype)  # raises the engine's error if it lacks it
        dtypes.append(dtype)
        if matrix:
            actions.append(("mac", float(op.macs)))
        elif op.flops:
            actions.append(("vector", float(op.flops)))
        else:
            actions.append(None)
        if op.flops == 0:  # 0 / peak = 0.0: any positive peak gives the scalar's 0.0
            index.append(0)
            continue
        if (matrix, dtype) not in units:
            units.append((matrix, dtype))
        index.append(1 + units.index((matrix, dtype)))
    traffic = np.array([_level_traffic(op, devices) for op in ops], dtype=np.float64)
    return OpArrays(
        traffic=traffic.transpose(1, 0, 2).copy(),
        flops=np.array([[float(op.flops)] for op in ops], dtype=np.float64),
        peak_index=np.array(index, dtype=np.intp),
        dtype=tuple(dtypes),
        action=tuple(actions),
        units=tuple(units),
    )


def latencies(arrays: OpArrays, devices: Devices, ratio: Array | None) -> Array:
    """(op, device) latency, seconds, at ``ratio`` x the boost clock (None: boost):
    `perfsim.engines.roofline` ``_finish`` with ``hw.op_latency``."""
    clock = devices.clock if ratio is None else devices.clock * ratio
    compute = arrays.flops / arrays.peaks(devices, clock)
    bandwidth = np.stack([devices.level_bandwidth(i, ratio) for i in range(len(devices.capacity))])
    memory = (arrays.traffic / bandwidth[:, None, :]).max(axis=0)
    busy = np.maximum(compute, memory)
    if devices.serial:
        return devices.overhead + busy
    return np.maximum(devices.overhead, busy)


def matrix_dtype(ops: Sequence[OpNode], arrays: OpArrays, fallback: str) -> str:
    """The dtype of the first matrix op's cost (`perfsim.sweep.fast.point_metrics`)."""
    for op, dtype in zip(ops, arrays.dtype, strict=True):
        if op.category.is_matrix:
            return dtype
    return fallback


def peak_flops(devices: Devices, dtype: str) -> Array:
    """``hw.matrix_peak_flops(dtype) or hw.vector_peak_flops(dtype)`` per device."""
    if dtype in devices.macs:
        return devices.matrix_peak(dtype, devices.clock)
    return devices.vector_peak(dtype, devices.clock)


__all__ = ["Devices", "OpArrays", "latencies", "op_arrays", "peak_flops", "structure"]
