"""Sustained clocks under the power limit: the clock at which the part fits its TDP.

A post-pass over an engine's op costs (`sustained_costs`), engine-agnostic: the engine
costs each op at a clock, `perfsim.energy.prices` prices its actions at that clock, and this
module picks the clock.

Assumptions (each a stated model choice, not a fitted figure):

- One sustained clock per workload. The power controller averages over windows longer
  than an inference or training step (NVIDIA's boost and AMD's power management settle
  over milliseconds to seconds), so a step run back to back settles at the clock where
  its *average* power, static plus dynamic, equals ``tdp``: ``P(f) = P_static +
  E_dyn(f) / T(f) = tdp``.
- DVFS relation: dynamic power ``P = a C V^2 f`` (CMOS switching power) with the supply
  voltage proportional to the clock over the DVFS range, so each on-chip action costs
  ``(f / f_boost)^2`` of its boost-clock energy and dynamic power at a fixed activity goes
  as ``f^3`` (Mei, Wang, Chu, "A survey and measurement study of GPU DVFS on energy
  conservation", Digital Communications and Networks 2017: measured GPU core voltage rises
  with core frequency across the DVFS range). Static power is held at its file value
  (leakage falls with voltage: this errs toward more throttling).
- What slows: the compute clock and the on-chip memory levels clocked with it (their
  bandwidth is bytes per cycle x clock); DRAM bandwidth and energy stay at the memory
  clock, and host-side overhead is untouched, so memory-bound time does not move.
- If even the slowest clock considered (``MIN_CLOCK_RATIO``) cannot fit the limit (a
  step whose DRAM energy alone exceeds it), the device idles between bursts: every op's
  latency is stretched until the average fits (duty cycling).
- A slower clock never shortens an op: where an engine's model says otherwise at the
  lower clock (the cycle engine's tiling can, e.g. a 128^3 GEMM on the test device of
  tests/test_roofline.py: 536 us at boost, 498 us at 0.9x), the op keeps its boost time.
- ``tdp: None`` (and the ideal bound, `perfsim.hardware.ideal`) keeps the boost clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Final

from perfsim.energy.prices import EnergyPrices, cached_energy_prices, energy_prices, price
from perfsim.engines import CostModel, OpCost
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpNode

MIN_CLOCK_RATIO: Final = 0.1
BISECTION_STEPS: Final = 14  # at most this many re-costings to find the sustained clock
CLOCK_TOLERANCE: Final = 1e-3  # stop when the clock, or the power below tdp, is this close


def at_clock(hw: HardwareSpec, ratio: float) -> HardwareSpec:
    """``hw`` with its compute clock, and the on-chip levels' bandwidth, at ``ratio`` x."""
    if ratio == 1.0:
        return hw
    data = hw.model_dump()
    data["compute"]["clock"] *= ratio
    for level in data["memory"][:-1]:  # nearest first; the farthest is DRAM
        level["bandwidth"] *= ratio
        level["latency"] /= ratio
    return HardwareSpec.from_si(data)


def average_power_w(costs: Sequence[OpCost], counts: Sequence[int]) -> float:
    """Joules over seconds of the ops, each run ``counts[i]`` times."""
    seconds = sum(cost.latency_s * n for cost, n in zip(costs, counts, strict=True))
    joules = sum(cost.energy_j * n for cost, n in zip(costs, counts, strict=True))
    return joules / seconds if seconds > 0 else 0.0


Priced = tuple[list[OpCost], list[dict[str, float]]]  # costs, joules per component of each


def _power(priced: Priced, counts: Sequence[int]) -> float:
    costs, energies = priced
    seconds = sum(cost.latency_s * n for cost, n in zip(costs, counts, strict=True))
    joules = sum(sum(parts.values()) * n for parts, n in zip(energies, counts, strict=True))
    return joules / seconds if seconds > 0 else 0.0


def sustained_costs(
    ops: Sequence[OpNode], counts: Sequence[int], hw: HardwareSpec, model: CostModel
) -> list[OpCost]:
    """Each op's priced cost (``energy_j`` filled in) at the sustained clock
    (`sustained_prices`)."""
    costs, energies = sustained_prices(ops, counts, hw, model)
    return [
        replace(cost, energy_j=sum(parts.values()), energy_breakdown_j=parts)
        for cost, parts in zip(costs, energies, strict=True)
    ]


def sustained_prices(
    ops: Sequence[OpNode], counts: Sequence[int], hw: HardwareSpec, model: CostModel
) -> Priced:
    """Each op's cost and its joules per component at the sustained clock: the boost clock
    if the step fits ``hw.tdp`` there, else the fastest clock whose average power fits
    (the sweep's fast path takes the joules without copying each cost)."""

    boost = [model.op_cost(op, hw) for op in ops]

    def at(ratio: float) -> Priced:
        if ratio == 1.0:
            prices = energy_prices(hw)
            return boost, [price(cost.actions, cost.latency_s, prices) for cost in boost]
        clocked, prices = at_clock(hw, ratio), energy_prices(hw, ratio)
        costs = []
        for op, fast in zip(ops, boost, strict=True):
            cost = model.op_cost(op, clocked)
            if cost.latency_s < fast.latency_s:  # a slower clock never shortens an op
                cost = replace(cost, latency_s=fast.latency_s, kernel_s=fast.kernel_s)
            costs.append(cost)
        return costs, [price(cost.actions, cost.latency_s, prices) for cost in costs]

    tdp = hw.tdp
    priced = at(1.0)
    if tdp is None:
        return priced
    high_power = _power(priced, counts)
    if high_power <= tdp:
        return priced
    low, best = MIN_CLOCK_RATIO, at(MIN_CLOCK_RATIO)
    low_power = _power(best, counts)
    if low_power > tdp:
        return _duty_cycled(best, counts, hw)
    high, above, below = 1.0, high_power - tdp, low_power - tdp
    # power rises with the clock: find where it crosses tdp by regula falsi with the
    # Illinois modification (a few re-costings, not a bisection's fourteen), keeping the
    # fastest clock seen that fits; stop within CLOCK_TOLERANCE of the crossing
    side = 0
    for _ in range(BISECTION_STEPS):
        middle = high - above * (high - low) / (above - below)
        middle = min(max(middle, low + CLOCK_TOLERANCE / 4), high - CLOCK_TOLERANCE / 4)
        trial = at(middle)
        excess = _power(trial, counts) - tdp
        if excess <= 0:
            low, below, best = middle, excess, trial
            above = above / 2 if side == -1 else above  # high kept twice: pull it in
            side = -1
            if -excess <= tdp * CLOCK_TOLERANCE:
                break
        else:
            high, above = middle, excess
            below = below / 2 if side == 1 else below
            side = 1
        if high - low <= CLOCK_TOLERANCE:
            break
    return best


def _duty_cycled(priced: Priced, counts: Sequence[int], hw: HardwareSpec) -> Priced:
    """Stretch every op (idle between bursts) so the step's average power is ``hw.tdp``.

    With ``E_dyn`` the dynamic joules and ``T`` the seconds: ``P_s + E_dyn / (k T) = tdp``
    gives ``k = E_dyn / (T (tdp - P_s))``; static joules grow with the stretched time.
    """
    assert hw.tdp is not None
    costs, energies = priced
    static_w = hw.energy.static_power
    seconds = sum(c.latency_s * n for c, n in zip(costs, counts, strict=True))
    dynamic = sum(
        (sum(parts.values()) - parts.get("static", 0.0)) * n
        for parts, n in zip(energies, counts, strict=True)
    )
    stretch = dynamic / (seconds * (hw.tdp - static_w)) * (1 + 1e-9)
    prices = energy_prices(hw, MIN_CLOCK_RATIO)
    longer = [
        replace(
            cost,
            latency_s=cost.latency_s * stretch,
            kernel_s=None if cost.kernel_s is None else cost.kernel_s * stretch,
        )
        for cost in costs
    ]
    return longer, [price(cost.actions, cost.latency_s, prices) for cost in longer]


def peak_power_w(hw: HardwareSpec) -> float:
    """Watts with every unit busy at the boost clock: static power plus the energy model's
    dynamic power (`perfsim.energy.prices.price`, so operands, issue and clock tree are in)
    for one second of every matrix unit at its most costly dtype, every vector lane at its
    most costly dtype and every memory level streaming its datasheet bandwidth.

    Not capped: a part whose peak exceeds ``hw.tdp`` cannot sustain it, and the sustained
    clock above (`sustained_prices`) is what keeps a workload's average power under tdp;
    reports show both figures.
    """
    prices = cached_energy_prices(hw)  # a sweep's batch priced this very device already
    units, clock = hw.compute.units, hw.compute.clock

    def watts(actions: dict[str, float]) -> float:
        parts = price(actions, 1.0, prices)
        return sum(parts.values()) - parts["static"]

    matrix = hw.compute.matrix
    matrix_w = (
        max(
            (
                _core_watts(prices, "mac", d, n * units * clock, watts)
                for d, n in matrix.macs_per_cycle.items()
            ),
            default=0.0,
        )
        if matrix is not None
        else 0.0
    )
    vector_w = max(
        _core_watts(prices, "vector", d, n * units * clock, watts)
        for d, n in hw.compute.vector.flops_per_cycle.items()
    )
    memory = {
        f"{level.name}.bytes": level.bandwidth * (units if level.per_unit else 1)
        for level in hw.memory
    }
    return prices.static_power_w + matrix_w + vector_w + watts(memory)


# `peak_power_w`'s watts of one core action, by every number `price` reads for it: the
# designs of a sweep change memories, not the arithmetic's prices, so these repeat
_CORE_WATTS: dict[tuple[Any, ...], float] = {}
_CORE_WATTS_SIZE = 4096


def _core_watts(
    prices: EnergyPrices,
    kind: str,
    dtype: str,
    count: float,
    watts: Callable[[dict[str, float]], float],
) -> float:
    """``watts({f"{kind}.{dtype}": count})``, kept by the prices it reads."""
    mac = kind == "mac"
    key = (
        kind,
        dtype,
        count,
        (prices.mac_j if mac else prices.vector_op_j)[dtype],
        (prices.mac_operands_j if mac else prices.vector_operands_j).get(dtype, 0.0),
        (prices.mac_issue_j if mac else prices.vector_issue_j).get(dtype, 0.0),
        prices.clock_share,
        prices.static_power_w,
        tuple(prices.level_j_per_byte),  # the names only: a core action has no level part
    )
    found = _CORE_WATTS.get(key)
    if found is None:
        if len(_CORE_WATTS) >= _CORE_WATTS_SIZE:
            _CORE_WATTS.clear()
        found = _CORE_WATTS[key] = watts({f"{kind}.{dtype}": count})
    return found
