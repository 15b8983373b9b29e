"""Run a cost model over a typed graph: ``estimate_graph(graph, hw) -> Result``.

Ops run one after another (no inter-op overlap), so the step latency is the sum of op
latencies, as in an eager framework issuing one kernel at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfsim.engines import OpCost, get_cost_model
from perfsim.engines.framework import with_framework_refill
from perfsim.engines.power import sustained_costs
from perfsim.engines.residency import resident_ops
from perfsim.errors import UnsupportedPrecisionError
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpGraph, OpNode
from perfsim.totals import Totals, ratio

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, slots=True)
class Result:
    """The per-op costs of one workload on one device, and queries over them."""

    graph: OpGraph
    hw: HardwareSpec
    engine: str
    costs: tuple[OpCost, ...]

    def totals(self) -> Totals:
        """Seconds, FLOPs, joules and bytes of every op, once each."""
        return Totals.of(self.costs)

    @property
    def latency_s(self) -> float:
        return sum(cost.latency_s for cost in self.costs)

    @property
    def energy_j(self) -> float:
        return sum(cost.energy_j for cost in self.costs)

    @property
    def flops(self) -> int:
        return sum(cost.flops for cost in self.costs)

    def traffic_bytes(self) -> dict[str, float]:
        """Bytes served by each memory level, nearest first."""
        traffic = self.totals().traffic_bytes
        return {level.name: traffic.get(level.name, 0.0) for level in self.hw.memory}

    def energy_breakdown_j(self) -> dict[str, float]:
        """Joules per component (compute, each memory level, static)."""
        return dict(self.totals().energy_breakdown_j)

    def by_category(self) -> dict[str, dict[str, float]]:
        """Latency, share, FLOPs, bytes and energy per category (taxonomy order, present ones)."""
        return self.totals().category_rows()

    def by_module(self, depth: int = 3) -> dict[str, float]:
        """Latency per module path truncated to ``depth`` components (fvcore's query)."""
        totals: dict[str, float] = {}
        for op, cost in zip(self.graph.ops, self.costs, strict=True):
            key = ".".join(op.scope.split(".")[:depth]) or "<model>"
            totals[key] = totals.get(key, 0.0) + cost.latency_s
        return totals

    def unsupported(self) -> dict[str, int]:
        """aten ops the tracer or engine could not classify, with counts."""
        found: dict[str, int] = dict(self.graph.meta.unsupported)
        for op, cost in zip(self.graph.ops, self.costs, strict=True):
            if not cost.supported and op.target not in found:
                found[op.target] = found.get(op.target, 0) + 1
        return found

    def _fp32_matmul_summary(self) -> dict[str, Any]:
        """``fp32_matmuls_as``: the dtype an fp32 run's matrix ops multiplied in, where the
        device runs fp32 products as passes of another (a TPU's bf16 default, ``fp32_as``)."""
        matrix = self.hw.compute.matrix
        if self.graph.meta.precision != "fp32" or matrix is None or not matrix.fp32_as:
            return {}
        return {"fp32_matmuls_as": matrix.fp32_as}

    def summary(self) -> dict[str, Any]:
        """The ``--format json`` object of DESIGN.md's CLI contract."""
        meta = self.graph.meta
        totals = self.totals()
        latency = totals.latency_s
        instances = meta.instances
        return {
            "model": meta.model,
            "hw": self.hw.name,
            "batch": meta.batch,
            "seq": meta.seq,
            "precision": meta.precision,
            "mode": meta.mode,
            "engine": self.engine,
            "latency_s": latency,
            # what-if "instances": that many copies run concurrently, each on its share
            "throughput_samples_per_s": ratio((meta.batch or 1) * instances, latency),
            "flops": totals.flops,
            "achieved_flops_per_s": ratio(totals.flops * instances, latency),
            "peak_flops_per_s": self.peak_flops_per_s(),
            "params": meta.params,
            "memory_traffic_bytes": {
                level.name: totals.traffic_bytes.get(level.name, 0.0) for level in self.hw.memory
            },
            "energy_j": totals.energy_j,
            "energy_breakdown_j": dict(totals.energy_breakdown_j),
            "by_category": totals.category_rows(),
            "n_ops": totals.n_ops,
            "unsupported_ops": self.unsupported(),
            "matrix_ops_on_vector_engine": sum(
                1 for c in self.costs if c.category.is_matrix and c.unit == "vector"
            ),
            "whatifs": dict(meta.whatifs),
            **self._fp32_matmul_summary(),
            **({"seq_lengths": dict(meta.seq_lengths)} if meta.seq_lengths is not None else {}),
            **({"runtime": meta.runtime} if meta.runtime is not None else {}),
            **self._training_summary(),
            **self._memory_summary(),
            **({"cycles": totals.cycles.row()} if totals.cycles is not None else {}),
            **self._design_summary(latency, totals.energy_j),
        }

    def _design_summary(self, latency_s: float, energy_j: float) -> dict[str, Any]:
        """Die area (`perfsim.area`), peak power with every unit busy, the workload's average
        power (joules over seconds) and the file's power limit (None without one). Area is
        None where the file has no estimate (``area.estimate: false``)."""
        from perfsim.area import die_area
        from perfsim.engines.power import peak_power_w

        area = die_area(self.hw)
        return {
            "area_mm2": None if area is None else area.total_mm2,
            "area_breakdown_mm2": None if area is None else area.breakdown_mm2(),
            "peak_power_w": peak_power_w(self.hw),
            "average_power_w": ratio(energy_j, latency_s),
            "tdp_w": self.hw.tdp,
        }

    def peak_flops_per_s(self) -> float:
        """The device's peak for the dtype the matrix ops run in (the vector peak without
        a matrix unit for it)."""
        dtype = _matrix_dtype(self)
        return float(self.hw.matrix_peak_flops(dtype) or self.hw.vector_peak_flops(dtype))

    def _training_summary(self) -> dict[str, Any]:
        """What shaped a training step (head, optimizer, checkpointing, autocast, trainable
        params)."""
        meta = self.graph.meta
        if meta.mode != "training":
            return {}
        keys = ("head", "optimizer", "checkpointing", "trainable_params")
        summary = {key: getattr(meta, key) for key in keys}
        if meta.autocast:  # named only when set, so O2 steps read as before
            summary["autocast"] = True
        return summary

    def _memory_summary(self) -> dict[str, Any]:
        """Footprint (`perfsim.training.footprint`) against the farthest level's capacity."""
        from perfsim.training.footprint import memory_footprint

        footprint = memory_footprint(self.graph.meta, self.graph.meta.precision)
        if footprint is None:
            return {}
        capacity = self.hw.level_capacity(self.hw.memory[-1])
        return {
            "memory_footprint_bytes": footprint.to_dict(),
            "memory_capacity_bytes": capacity,
            "fits": footprint.total <= capacity,
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per op, fixed SI column names (``ops.csv``)."""
        import pandas as pd

        rows = []
        for op, cost in zip(self.graph.ops, self.costs, strict=True):
            row: dict[str, Any] = {
                **op.identity(),
                "unit": cost.unit,
                "dtype": cost.dtype,
                "macs": cost.macs,
                "flops": cost.flops,
                "bytes_read": cost.bytes_read,
                "bytes_written": cost.bytes_written,
                "compute_s": cost.compute_s,
                "memory_s": cost.memory_s,
                "overhead_s": cost.overhead_s,
                "latency_s": cost.latency_s,
                "bound": cost.bound,
                "energy_j": cost.energy_j,
                "supported": cost.supported,
            }
            for name, value in cost.traffic_bytes.items():
                row[f"{name}_bytes"] = value
            for name, value in cost.level_s.items():
                row[f"{name}_s"] = value
            for name, value in cost.energy_breakdown_j.items():
                row[f"energy_{name}_j"] = value
            row.update(cost.details)
            rows.append(row)
        return pd.DataFrame(rows)


def _matrix_dtype(result: Result) -> str:
    for cost in result.costs:
        if cost.category.is_matrix:
            return cost.dtype
    return result.graph.meta.precision or "fp32"


def check_precision(hw: HardwareSpec, precision: str, source: str | Path | None = None) -> None:
    """Raise `UnsupportedPrecisionError` naming the file and field if ``hw`` cannot run it."""
    supported = hw.supported_precisions()
    if precision not in supported:
        where = f"{source}: " if source else f"{hw.name}: "
        raise UnsupportedPrecisionError(
            f"{where}compute: no {precision} support (--precision); this device runs "
            f"{', '.join(supported)}"
        )


def shape_key(op: OpNode) -> tuple[Any, ...]:
    """What an op's cost depends on (everything but its name)."""
    return (
        op.category,
        op.target,
        tuple(op.dims.items()),
        op.inputs,
        op.outputs,
        op.macs,
        op.flops,
        op.bytes_read,
        op.bytes_written,
        op.resident,
    )


def estimate_graph(graph: OpGraph, hw: HardwareSpec, engine: str = "roofline") -> Result:
    """Cost an already-typed graph (see `perfsim.precision.apply_precision`)."""
    model = get_cost_model(engine)
    # cost models are pure functions of (op shape, hardware): the twelve layers of a BERT
    # repeat the same few shapes, so each distinct shape is costed once
    index: dict[tuple[Any, ...], int] = {}
    unique: list[OpNode] = []
    counts: list[int] = []
    ops = resident_ops(graph, hw)  # activations kept on chip (perfsim.engines.residency)
    # a CPU host's framework time at this workload's traffic per layer
    costed = with_framework_refill(hw, graph.ops)
    for op in ops:
        position = index.setdefault(shape_key(op), len(unique))
        if position == len(unique):
            unique.append(op)
            counts.append(0)
        counts[position] += 1
    # the clock the step sustains under the power limit (boost without a tdp)
    priced = sustained_costs(unique, counts, costed, model)
    costs = []
    for op in ops:
        cost = priced[index[shape_key(op)]]
        costs.append(cost if cost.op == op.name else replace(cost, op=op.name))
    return Result(graph=graph, hw=hw, engine=engine, costs=tuple(costs))
