"""The sustained-clock post-pass (`perfsim.engines.power`) over many devices at once.

The vectorized twin of `perfsim.engines.power.sustained_prices` and of the pricing it runs
(`perfsim.energy.prices.price`) for the roofline batch (`perfsim.engines.roofline_batch`):
the same regula falsi, step for step, on every device of a batch, each device with its own
bracket and its own stopping point, and the same prices in the same order of operations.
Devices the scalar pass would duty-cycle (DRAM energy alone above ``tdp``) are reported,
not handled: the caller costs them with the scalar engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from perfsim.energy.prices import EnergyPrices, cached_energy_prices
from perfsim.engines.distinct import Distinct
from perfsim.engines.power import (
    BISECTION_STEPS,
    CLOCK_TOLERANCE,
    MIN_CLOCK_RATIO,
    peak_power_w,
)
from perfsim.engines.roofline_batch import (
    Array,
    Devices,
    OpArrays,
    latencies,
    matrix_macs,
    vector_flops,
)
from perfsim.hardware.spec import HardwareSpec


@dataclass(frozen=True, slots=True)
class Prices:
    """Boost-clock joules per action of every device of a batch (`EnergyPrices` as
    arrays): (op, device) for the core actions, (level, device) per byte."""

    arithmetic: Array  # per MAC or vector FLOP of each op's action (0: none)
    operands: Array
    issue: Array
    count: Array  # (op, 1): MACs or vector FLOPs of each op's action
    level: Array  # J/byte
    static_w: Array
    share: Array  # clock tree share
    dvfs: Array  # on-chip energy at r x boost is r ** this x boost's

    @classmethod
    def of(cls, hws: Sequence[HardwareSpec], arrays: OpArrays) -> Prices:
        """Prices of ``hws`` for the actions of ``arrays`` (`energy_prices` once per
        distinct `perfsim.energy.prices.price_key`: the devices of a sweep repeat them)."""
        found = Distinct.of([cached_energy_prices(hw) for hw in hws])
        zero = np.zeros(len(hws))
        core: dict[tuple[str, str], tuple[Array, Array, Array]] = {}
        rows: list[tuple[Array, Array, Array]] = []
        for action, dtype in zip(arrays.action, arrays.dtype, strict=True):
            if action is None:
                rows.append((zero, zero, zero))
                continue
            key = (action[0], dtype)
            if key not in core:
                core[key] = _core_prices(found, action[0], dtype)
            rows.append(core[key])
        names = [level.name for level in hws[0].memory]
        return cls(
            arithmetic=np.array([row[0] for row in rows]),
            operands=np.array([row[1] for row in rows]),
            issue=np.array([row[2] for row in rows]),
            count=np.array([[a[1] if a else 0.0] for a in arrays.action], dtype=np.float64),
            level=np.array([found.entry("level_j_per_byte", name) for name in names]),
            static_w=found.column(lambda p: p.static_power_w),
            share=found.column(lambda p: p.clock_share),
            dvfs=found.column(lambda p: p.dvfs_exponent),
        )

    def take(self, index: npt.NDArray[np.intp]) -> Prices:
        """The prices of the devices at ``index`` only (`Devices.take`)."""
        return replace(
            self,
            arithmetic=self.arithmetic[:, index],
            operands=self.operands[:, index],
            issue=self.issue[:, index],
            count=self.count if self.count.shape[1] == 1 else self.count[:, index],
            level=self.level[:, index],
            static_w=self.static_w[index],
            share=self.share[index],
            dvfs=self.dvfs[index],
        )


def _core_prices(
    prices: Distinct[EnergyPrices], kind: str, dtype: str
) -> tuple[Array, Array, Array]:
    """Per device: joules per MAC (``kind`` "mac") or vector FLOP of ``dtype``, for the
    arithmetic, its operands and its issue (`EnergyPrices`; 0 where a table lacks it)."""
    mac = kind == "mac"
    return (
        prices.entry("mac_j" if mac else "vector_op_j", dtype),
        prices.entry("mac_operands_j" if mac else "vector_operands_j", dtype, 0.0),
        prices.entry("mac_issue_j" if mac else "vector_issue_j", dtype, 0.0),
    )


@dataclass(frozen=True, slots=True)
class Priced:
    """(op, device) latency and joules per component (`price`'s keys, in its order)."""

    latency: Array
    parts: dict[str, Array]
    joules: Array  # the sum of the parts, in their order


def priced(
    arrays: OpArrays,
    devices: Devices,
    prices: Prices,
    ratio: Array | None,
    boost: Array | None = None,
) -> Priced:
    """`sustained_prices`'s ``at(ratio)`` on every device (None: the boost clock; else no
    op gets faster than its ``boost`` latency)."""
    latency = latencies(arrays, devices, ratio)
    if ratio is not None and boost is not None:
        latency = np.where(latency < boost, boost, latency)
    return price_latencies(arrays, devices, prices, latency, ratio)


def price_latencies(
    arrays: OpArrays, devices: Devices, prices: Prices, latency: Array, ratio: Array | None
) -> Priced:
    """`perfsim.energy.prices.price` of each op's actions (MACs or vector FLOPs, and the
    roofline's bytes per level) with ``latency`` for static power, at ``ratio`` x boost."""
    arithmetic, operands, issue = prices.arithmetic, prices.operands, prices.issue
    level = prices.level
    if ratio is not None:
        volt2 = python_power(ratio, prices.dvfs)  # E ~ C V^2, V ~ f unless measured
        arithmetic, operands, issue = arithmetic * volt2, operands * volt2, issue * volt2
        factor = np.ones_like(level)
        factor[:-1] = volt2  # DRAM's energy stays at the memory clock's
        level = level * factor
    count = prices.count
    parts = {"compute": count * arithmetic, "operands": count * operands, "issue": count * issue}
    switching = parts["compute"] + parts["operands"] + parts["issue"]
    parts["clock"] = switching * prices.share / (1.0 - prices.share)
    for index, name in enumerate(devices.names):
        parts[name] = arrays.traffic[index] * level[index]
    parts["static"] = prices.static_w * latency
    joules = np.zeros_like(latency)
    for value in parts.values():
        joules = joules + value
    return Priced(latency, parts, joules)


def python_power(base: Array, exponent: Array) -> Array:
    """``base ** exponent`` element by element with Python's float power (C ``pow``), as
    the scalar path (`perfsim.energy.prices.energy_prices`) computes it: numpy's own
    vectorized power can differ in the last bit, and a throttled device's batched energy
    then differed from its `point_metrics` row."""
    bases, exponents = np.broadcast_arrays(base, exponent)
    powers = [b**e for b, e in zip(bases.ravel().tolist(), exponents.ravel().tolist(), strict=True)]
    return np.array(powers, dtype=float).reshape(bases.shape)


def weighted_sum(values: Array, counts: Array) -> Array:
    """``sum(value * n)`` over ops (axis 0), added op after op as Python's ``sum`` does."""
    return np.cumsum(values * counts, axis=0)[-1]


def _power(result: Priced, counts: Array) -> Array:
    """`perfsim.engines.power._power` per device: joules over seconds of the step."""
    seconds = weighted_sum(result.latency, counts)
    joules = weighted_sum(result.joules, counts)
    return np.where(seconds > 0, joules / np.where(seconds > 0, seconds, 1.0), 0.0)


def sustained_ratios(
    counts: Array,  # (op, 1), or (op, device) for devices whose ops differ
    arrays: OpArrays,
    devices: Devices,
    prices: Prices,
    tdp: Array | None,
) -> tuple[Array, Array, Priced]:
    """Each device's sustained clock ratio (1.0: boost), which devices need duty cycling
    (left to the scalar pass), and the boost-clock prices.

    The regula falsi with the Illinois modification of `perfsim.engines.power`, run on
    every throttled device at once (those alone: each device's steps are its own); each
    stops where the scalar one stops.
    """
    size = len(devices.hws)
    boost = priced(arrays, devices, prices, None)
    ratio = np.ones(size)
    duty = np.zeros(size, dtype=bool)
    if tdp is None:
        return ratio, duty, boost
    high_power = _power(boost, counts)
    throttled = np.flatnonzero(high_power > tdp)
    if not len(throttled):
        return ratio, duty, boost
    ratio[throttled], duty[throttled] = _regula_falsi(
        counts if counts.shape[1] == 1 else counts[:, throttled],
        arrays.take(throttled),
        devices.take(throttled),
        prices.take(throttled),
        tdp[throttled],
        high_power[throttled],
        boost.latency[:, throttled],
    )
    return ratio, duty, boost


def _regula_falsi(
    counts: Array,
    arrays: OpArrays,
    devices: Devices,
    prices: Prices,
    tdp: Array,
    high_power: Array,
    boost_latency: Array,
) -> tuple[Array, npt.NDArray[np.bool_]]:
    """`sustained_ratios` of devices whose boost clock exceeds ``tdp`` (``high_power``,
    W): their clock ratios and which need duty cycling."""
    size = len(devices.hws)
    low = np.full(size, MIN_CLOCK_RATIO)
    low_power = _power(priced(arrays, devices, prices, low, boost_latency), counts)
    duty = low_power > tdp
    active = ~duty
    best = np.where(active, MIN_CLOCK_RATIO, 1.0)
    high = np.ones(size)
    above, below = high_power - tdp, low_power - tdp
    side = np.zeros(size)
    for _ in range(BISECTION_STEPS):
        if not active.any():
            break
        middle = high - above * (high - low) / np.where(active, above - below, 1.0)
        middle = np.minimum(
            np.maximum(middle, low + CLOCK_TOLERANCE / 4), high - CLOCK_TOLERANCE / 4
        )
        trial_ratio = np.where(active, middle, 1.0)
        excess = _power(priced(arrays, devices, prices, trial_ratio, boost_latency), counts)
        excess = excess - tdp
        fits = active & (excess <= 0)
        over = active & ~fits
        low = np.where(fits, middle, low)
        below = np.where(fits, excess, below)
        best = np.where(fits, middle, best)
        above = np.where(fits & (side == -1), above / 2, above)
        high = np.where(over, middle, high)
        above = np.where(over, excess, above)
        below = np.where(over & (side == 1), below / 2, below)
        side = np.where(fits, -1.0, np.where(over, 1.0, side))
        close = fits & (-excess <= tdp * CLOCK_TOLERANCE)
        active &= ~close
        active &= ~(high - low <= CLOCK_TOLERANCE)
    return best, duty


def priced_throttled(
    arrays: OpArrays, devices: Devices, prices: Prices, ratio: Array, boost: Priced
) -> Priced:
    """``priced(arrays, devices, prices, ratio, boost.latency)``, priced again only on
    the devices whose ``ratio`` is not 1 (at 1 every factor is an exact 1.0: their
    entries are ``boost``'s, bit for bit)."""
    slower = np.flatnonzero(ratio != 1.0)
    if not len(slower):
        return boost
    found = priced(
        arrays.take(slower),
        devices.take(slower),
        prices.take(slower),
        ratio[slower],
        boost.latency[:, slower],
    )

    def merged(base: Array, part: Array) -> Array:
        out = base.copy()
        out[:, slower] = part
        return out

    return Priced(
        merged(boost.latency, found.latency),
        {name: merged(value, found.parts[name]) for name, value in boost.parts.items()},
        merged(boost.joules, found.joules),
    )


# names price() reads otherwise: its parts, and the action kinds before a "."
_PRICE_PARTS = frozenset({"compute", "operands", "issue", "clock", "static", "mac", "vector"})


def peak_powers_w(hws: Sequence[HardwareSpec], *, one_structure: bool = False) -> list[float]:
    """``[peak_power_w(hw) for hw in hws]``: devices of one memory and dtype layout at
    once, with `perfsim.energy.prices.price`'s operations in its order (bit for bit).

    ``one_structure``: the devices share a `perfsim.engines.roofline_batch.structure`
    (memory levels and dtypes: the layout here), so they are priced together at once.
    """
    if one_structure and hws and _plain_names(hws[0]):
        return _peaks(hws).tolist()  # type: ignore[no-any-return]
    out = [0.0] * len(hws)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, hw in enumerate(hws):
        if not _plain_names(hw):
            out[index] = peak_power_w(hw)  # names price() would read as something else
            continue
        matrix = hw.compute.matrix
        key = (
            tuple(matrix.macs_per_cycle) if matrix is not None else None,
            tuple(hw.compute.vector.flops_per_cycle),
            tuple((level.name, level.per_unit) for level in hw.memory),
        )
        groups.setdefault(key, []).append(index)
    for members in groups.values():
        found = _peaks([hws[i] for i in members]).tolist()
        for index, watts in zip(members, found, strict=True):
            out[index] = watts
    return out


def _plain_names(hw: HardwareSpec) -> bool:
    """Memory level names that `perfsim.energy.prices.price` reads as levels only."""
    names = [level.name for level in hw.memory]
    return not (
        len(set(names)) < len(names)
        or _PRICE_PARTS.intersection(names)
        or any("." in name for name in names)
    )


def _peaks(hws: Sequence[HardwareSpec]) -> Array:
    """`peak_power_w` of devices of one layout (W)."""
    prices = Distinct.of([cached_energy_prices(hw) for hw in hws])
    computed = Distinct.of([hw.compute for hw in hws]).column
    first = hws[0]
    units = computed(lambda c: c.units)
    clock = computed(lambda c: c.clock)
    static = prices.column(lambda p: p.static_power_w)
    share = prices.column(lambda p: p.clock_share)
    zeros = np.zeros(len(hws))
    levels = len(first.memory)

    def dynamic(compute: Array, operands: Array, issue: Array, level_parts: list[Array]) -> Array:
        # price(): clock tree on the switching joules, then sum(parts) - static, in order
        tree = (compute + operands + issue) * share / (1.0 - share)
        total = compute + operands + issue + tree
        for part in level_parts:
            total = total + part
        return total + static - static

    def core(kind: str, dtype: str, per_cycle: Array) -> Array:
        count = per_cycle * units * clock
        arithmetic, operands, issue = _core_prices(prices, kind, dtype)
        return dynamic(count * arithmetic, count * operands, count * issue, [zeros] * levels)

    def widest(found: list[Array]) -> Array:
        out = found[0]
        for value in found[1:]:
            out = np.maximum(out, value)
        return out

    matrix_w = zeros
    if first.compute.matrix is not None and first.compute.matrix.macs_per_cycle:
        matrix_w = widest(
            [core("mac", d, computed(matrix_macs(d))) for d in first.compute.matrix.macs_per_cycle]
        )
    vector_w = widest(
        [core("vector", d, computed(vector_flops(d))) for d in first.compute.vector.flops_per_cycle]
    )
    level_parts = []
    for index, level in enumerate(first.memory):
        streamed = np.array([hw.memory[index].bandwidth for hw in hws], dtype=np.float64)
        if level.per_unit:
            streamed = streamed * units
        level_parts.append(streamed * prices.entry("level_j_per_byte", level.name))
    memory_w = dynamic(zeros, zeros, zeros, level_parts)
    return static + matrix_w + vector_w + memory_w
