"""One additive record of totals over per-op costs, for runs, sweeps, data-parallel steps
and comparisons.

`Totals.of` sums per-op `OpCost` rows, each weighted by how often it runs (1 in a
`perfsim.estimate.Result`; the number of same-shaped ops in a sweep's grouped graph; the
micro-steps per step in data parallelism). Totals add (``a + b`` is the totals of both
sets of runs, tests/test_totals.py), and every ratio (share, throughput, achieved
FLOP/s) divides in one place, with one guard against an empty run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from perfsim.engines import OpCost
from perfsim.ir import Category


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, 0 for an empty denominator (a run with no time)."""
    return numerator / denominator if denominator else 0.0


_POSITION = {category: index for index, category in enumerate(Category)}
# (category, its latency column in a sweep row), in taxonomy order
_LATENCY_COLUMNS = tuple((c.value, f"latency_{c.value}_s") for c in Category)


def _taxonomy_order(item: tuple[Category, Any]) -> int:
    return _POSITION[item[0]]


def _add(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0.0) + value
    return out


@dataclass(frozen=True, slots=True)
class CategoryTotals:
    """One category's seconds, FLOPs, bytes read + written, joules and op count."""

    latency_s: float = 0.0
    flops: float = 0.0
    bytes: float = 0.0
    energy_j: float = 0.0
    n_ops: int = 0

    def __add__(self, other: CategoryTotals) -> CategoryTotals:
        return CategoryTotals(
            self.latency_s + other.latency_s,
            self.flops + other.flops,
            self.bytes + other.bytes,
            self.energy_j + other.energy_j,
            self.n_ops + other.n_ops,
        )

    def row(self, step_s: float) -> dict[str, float]:
        """The JSON contract's per-category object (``share`` of ``step_s``)."""
        return {
            "latency_s": self.latency_s,
            "share": ratio(self.latency_s, step_s),
            "flops": float(self.flops),
            "bytes": float(self.bytes),
            "energy_j": self.energy_j,
            "n_ops": float(self.n_ops),
        }


@dataclass(frozen=True, slots=True)
class CycleTotals:
    """Cycle-engine totals: all cycles, stalls, and matrix cycles weighted by utilization."""

    total_cycles: float = 0.0
    stall_cycles: float = 0.0
    matrix_cycles: float = 0.0
    matrix_busy_cycles: float = 0.0  # sum of utilization x cycles over matrix ops

    def __add__(self, other: CycleTotals) -> CycleTotals:
        return CycleTotals(
            self.total_cycles + other.total_cycles,
            self.stall_cycles + other.stall_cycles,
            self.matrix_cycles + other.matrix_cycles,
            self.matrix_busy_cycles + other.matrix_busy_cycles,
        )

    def row(self) -> dict[str, float]:
        return {
            "total_cycles": self.total_cycles,
            "stall_cycles": self.stall_cycles,
            "matrix_utilization": ratio(self.matrix_busy_cycles, self.matrix_cycles),
        }


@dataclass(frozen=True, slots=True)
class Totals:
    """Seconds, FLOPs, joules and bytes of a set of op runs; ``+`` composes them.

    ``energy_breakdown_j`` is keyed by component (compute, each memory level, static, ...);
    ``traffic_bytes`` by memory level; ``by_category`` holds the categories present.
    """

    latency_s: float = 0.0
    flops: int = 0
    energy_j: float = 0.0
    n_ops: int = 0
    traffic_bytes: Mapping[str, float] = field(default_factory=dict)
    energy_breakdown_j: Mapping[str, float] = field(default_factory=dict)
    by_category: Mapping[str, CategoryTotals] = field(default_factory=dict)
    cycles: CycleTotals | None = None

    @classmethod
    def of(
        cls,
        costs: Sequence[OpCost],
        counts: Sequence[float] | None = None,
        energies: Sequence[Mapping[str, float]] | None = None,
    ) -> Totals:
        """Totals of ``costs``, each run ``counts[i]`` times (default once; a fraction for
        a device's share of a sharded op) and priced at ``energies[i]`` joules per
        component (default: the cost's own breakdown)."""
        weights = counts if counts is not None else [1] * len(costs)
        parts = energies if energies is not None else [c.energy_breakdown_j for c in costs]
        latency = energy = 0.0
        flops = 0.0
        traffic: dict[str, float] = {}
        breakdown: dict[str, float] = {}
        # per category: seconds, FLOPs, bytes, joules, ops
        categories: dict[Category, list[float]] = {}
        cycles = [0.0, 0.0, 0.0, 0.0]
        has_cycles = False
        for n, cost, joules in zip(weights, costs, parts, strict=True):
            op_energy = 0.0
            for name, value in joules.items():
                op_energy += value
                breakdown[name] = breakdown.get(name, 0.0) + n * value
            seconds = n * cost.latency_s
            op_flops = n * cost.flops
            latency += seconds
            flops += op_flops
            energy += n * op_energy
            for name, value in cost.traffic_bytes.items():
                traffic[name] = traffic.get(name, 0.0) + n * value
            row = categories.get(cost.category)
            if row is None:
                row = categories[cost.category] = [0.0, 0, 0.0, 0.0, 0]
            row[0] += seconds
            row[1] += op_flops
            row[2] += n * (cost.bytes_read + cost.bytes_written)
            row[3] += n * op_energy
            row[4] += 1
            details = cost.details
            if details and "total_cycles" in details:
                has_cycles = True
                cycles[0] += n * details["total_cycles"]
                cycles[1] += n * details.get("stall_cycles", 0.0)
                if cost.category.is_matrix and "overall_utilization" in details:
                    cycles[2] += n * details["total_cycles"]
                    cycles[3] += n * details["overall_utilization"] * details["total_cycles"]
        return cls(
            latency_s=latency,
            flops=round(flops),
            energy_j=energy,
            n_ops=len(costs),
            traffic_bytes=traffic,
            energy_breakdown_j=breakdown,
            by_category={
                category.value: CategoryTotals(*row[:4], int(row[4]))
                for category, row in sorted(categories.items(), key=_taxonomy_order)
            },
            cycles=CycleTotals(*cycles) if has_cycles else None,
        )

    def __add__(self, other: Totals) -> Totals:
        merged = dict(self.by_category)
        for name, value in other.by_category.items():
            merged[name] = merged[name] + value if name in merged else value
        order = [c.value for c in Category if c.value in merged]
        cycles = self.cycles or other.cycles
        if self.cycles is not None and other.cycles is not None:
            cycles = self.cycles + other.cycles
        return Totals(
            latency_s=self.latency_s + other.latency_s,
            flops=self.flops + other.flops,
            energy_j=self.energy_j + other.energy_j,
            n_ops=self.n_ops + other.n_ops,
            traffic_bytes=_add(self.traffic_bytes, other.traffic_bytes),
            energy_breakdown_j=_add(self.energy_breakdown_j, other.energy_breakdown_j),
            by_category={name: merged[name] for name in order},
            cycles=cycles,
        )

    def category_rows(self, step_s: float | None = None) -> dict[str, dict[str, float]]:
        """``by_category`` as the JSON contract's objects, shares of ``step_s`` (default:
        this total's latency)."""
        step = self.latency_s if step_s is None else step_s
        return {name: value.row(step) for name, value in self.by_category.items()}

    def metrics(self, batch: int, peak_flops_per_s: float) -> dict[str, Any]:
        """One flat row (a sweep's columns): totals, rates, energy and traffic per part,
        latency per category (every category, 0 where absent), cycle totals if any."""
        row: dict[str, Any] = {
            "latency_s": self.latency_s,
            "throughput_samples_per_s": ratio(batch, self.latency_s),
            "flops": self.flops,
            "achieved_flops_per_s": ratio(self.flops, self.latency_s),
            "peak_flops_per_s": peak_flops_per_s,
            "energy_j": self.energy_j,
        }
        row.update({f"energy_{k}_j": v for k, v in self.energy_breakdown_j.items()})
        row.update({f"traffic_{k}_bytes": v for k, v in self.traffic_bytes.items()})
        by_category = self.by_category
        for name, column in _LATENCY_COLUMNS:
            found = by_category.get(name)
            row[column] = found.latency_s if found is not None else 0.0
        row["n_ops"] = self.n_ops
        if self.cycles is not None:
            row.update(self.cycles.row())
        return row
