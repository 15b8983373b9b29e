"""Energy: action counts x per-action energies, plus static power x time (Accelergy's ERT pattern).

Engines only count actions (`OpCost.actions`); this module prices them, so every engine's
energies are comparable:

- ``mac.<dtype>``: MACs x the MAC energy of that dtype;
- ``vector.<dtype>``: vector FLOPs x the vector-op energy of that dtype;
- ``<level>.bytes``: bytes served x that level's energy per byte;
- static: static power x latency.

Around each MAC and vector FLOP the core also spends energy the arithmetic does not:
``operands`` (register-file reads and writes per op, as the engine's instruction or array
reuses them), ``issue`` (instruction fetch, decode and control per issue slot) and
``clock`` (the clock tree's share of that switching energy); the figures and their
sources are in `perfsim.energy.defaults`, each overridable in the hardware file. A file
whose ``energy.mac`` figures were measured whole (``energy.mac_whole_core``: GEMM power
less its memory energy, e.g. Antepara et al., SC'25) gets no bottom-up operands or issue
on its MACs; the clock rule's share of the measured figure is reported as ``clock``.

Dynamic energy follows the supply voltage: at a clock ``ratio`` of the boost clock (the
power limit's sustained clock, `perfsim.engines.power`) every on-chip action costs
``ratio**2`` as much (E ~ C V^2 with V proportional to f over the DVFS range; a file's
``energy.dvfs_exponent`` replaces the 2 with what its device was measured to do); DRAM and
static power do not scale.

Prices come from the hardware file where it gives them, else from the default table
(`perfsim.energy.defaults`) scaled to the device's node (`perfsim.energy.technology`).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from perfsim.energy.defaults import (
    CLOCK_TREE_SHARE,
    DRAM_ENERGY_PER_BYTE_J,
    DTYPE_BYTES,
    INSTRUCTION_45NM_J,
    ISSUE_SLOTS,
    MAC_ENERGY_45NM_J,
    REGISTER_FILE_BYTES,
    SYSTOLIC_OPERAND_ACCESSES_PER_MAC,
    VECTOR_OP_ENERGY_45NM_J,
    mma_operand_bytes_per_mac,
    sram_energy_per_byte_45nm,
)
from perfsim.energy.technology import energy_scale
from perfsim.engines import OpCost
from perfsim.engines.distinct import SectionKeys
from perfsim.hardware.spec import ComputeSpec, EnergyTable, HardwareSpec

DVFS_EXPONENT: Final = 2.0  # E ~ C V^2 with V ~ f over the DVFS range (perfsim.engines.power)


@dataclass(frozen=True, slots=True)
class EnergyPrices:
    """Joules per action for one device, every entry resolved.

    ``mac_j`` / ``vector_op_j`` are the arithmetic; ``*_operands_j`` and ``*_issue_j`` the
    delivery per MAC / vector FLOP; ``clock_share`` the clock tree's share of core power.
    """

    mac_j: Mapping[str, float]
    vector_op_j: Mapping[str, float]
    level_j_per_byte: Mapping[str, float]
    static_power_w: float
    mac_operands_j: Mapping[str, float] = field(default_factory=dict)
    vector_operands_j: Mapping[str, float] = field(default_factory=dict)
    mac_issue_j: Mapping[str, float] = field(default_factory=dict)
    vector_issue_j: Mapping[str, float] = field(default_factory=dict)
    clock_share: float = 0.0
    dvfs_exponent: float = DVFS_EXPONENT  # on-chip energy at r x boost: r ** this x boost's


def _scaled(table: Mapping[str, float], factor: float) -> dict[str, float]:
    return {key: value * factor for key, value in table.items()}


def energy_prices(hw: HardwareSpec, clock_ratio: float = 1.0) -> EnergyPrices:
    """The file's energies over the node-scaled defaults, at ``clock_ratio`` x boost."""
    scale = energy_scale(hw.technology_node)
    mac = {dtype: value * scale for dtype, value in MAC_ENERGY_45NM_J.items()}
    mac.update({str(dtype): value for dtype, value in hw.energy.mac.items()})
    vector = {dtype: value * scale for dtype, value in VECTOR_OP_ENERGY_45NM_J.items()}
    vector.update({str(dtype): value for dtype, value in hw.energy.vector_op.items()})
    levels = {}
    for index, level in enumerate(hw.memory):
        if level.energy_per_byte is not None:
            levels[level.name] = level.energy_per_byte
        elif index == len(hw.memory) - 1:
            levels[level.name] = DRAM_ENERGY_PER_BYTE_J
        else:
            levels[level.name] = sram_energy_per_byte_45nm(level.capacity) * scale
    exponent = DVFS_EXPONENT if hw.energy.dvfs_exponent is None else hw.energy.dvfs_exponent
    volt2 = clock_ratio**exponent  # E ~ C V^2, V ~ f unless measured (module docstring)
    dram = hw.memory[-1].name
    levels = {name: value * (1.0 if name == dram else volt2) for name, value in levels.items()}
    operands, issue = _delivery(hw, mac, scale)
    share = CLOCK_TREE_SHARE if hw.energy.clock_share is None else hw.energy.clock_share
    if hw.energy.mac_whole_core:
        _carve_whole_core(hw.energy.mac, mac, operands["mac"], issue["mac"], share)
    return EnergyPrices(
        mac_j=_scaled(mac, volt2),
        vector_op_j=_scaled(vector, volt2),
        level_j_per_byte=levels,
        static_power_w=hw.energy.static_power,
        mac_operands_j=_scaled(operands["mac"], volt2),
        vector_operands_j=_scaled(operands["vector"], volt2),
        mac_issue_j=_scaled(issue["mac"], volt2),
        vector_issue_j=_scaled(issue["vector"], volt2),
        clock_share=share,
        dvfs_exponent=exponent,
    )


def _carve_whole_core(
    measured: Mapping[Any, float],
    mac: dict[str, float],
    operands: dict[str, float],
    issue: dict[str, float],
    share: float,
) -> None:
    """Price each measured whole-core MAC as arithmetic alone, less the clock tree's share.

    `price` adds ``share / (1 - share)`` of the core's switching energy for the clock tree,
    so arithmetic of ``(1 - share)`` x the measured figure, with no operands or issue,
    sums back to exactly the measured figure per MAC (split as the clock rule splits it).
    """
    for dtype, joules in measured.items():
        key = str(dtype)
        mac[key] = joules * (1.0 - share)
        operands[key] = 0.0
        issue[key] = 0.0


def price_key(hw: HardwareSpec) -> tuple[Any, ...]:
    """Everything `perfsim.energy.prices.energy_prices` reads from ``hw``."""
    *near, far = hw.memory
    levels = [  # the capacity sets an on-chip level's default price
        (
            level.name,
            level.energy_per_byte,
            level.capacity if level.energy_per_byte is None else None,
        )
        for level in near
    ]
    levels.append((far.name, far.energy_per_byte, None))
    return (
        hw.kind,
        hw.technology_node,
        _ENERGY_KEY(hw.energy),
        _COMPUTE_KEY(hw.compute),
        tuple(levels),
    )


def _energy_key(energy: EnergyTable) -> tuple[Any, ...]:
    return (
        tuple(energy.mac.items()),
        tuple(energy.vector_op.items()),
        energy.static_power,
        tuple(energy.operands.items()),
        energy.register_file,
        energy.instruction,
        energy.clock_share,
        energy.mac_whole_core,
        energy.dvfs_exponent,
    )


def _compute_key(compute: ComputeSpec) -> tuple[Any, ...]:
    matrix = compute.matrix
    return (
        (matrix.type, tuple(matrix.macs_per_cycle.items())) if matrix is not None else None,
        tuple(compute.vector.flops_per_cycle.items()),
    )


_ENERGY_KEY = SectionKeys(_energy_key)
_COMPUTE_KEY = SectionKeys(_compute_key)

# energy_prices by price_key, for the last few thousand distinct keys (the devices of a
# sweep share most of them: only their matrix shape or an SRAM's size changes the prices)
_PRICES: dict[tuple[Any, ...], EnergyPrices] = {}
_PRICES_SIZE = 4096


# the same, by the spec object itself (specs are frozen): a sweep batch asks for each of
# its devices' prices twice (costing, then peak power), and `price_key` reads the whole
# spec; a weak reference to the spec is kept with its prices, so an id is never matched
# to a newer object and the cache never keeps a sweep's thousands of specs alive (left
# alive, each sweep's cyclic collection walks them all: about 10% of a roofline sweep)
_BY_SPEC: dict[int, tuple[weakref.ref[HardwareSpec], EnergyPrices]] = {}


# each mapping of the prices cached above, one object per content (devices that differ in
# a few prices share the rest: `perfsim.engines.distinct.Distinct.entry` reads each once)
_MAPPINGS: dict[tuple[Any, ...], Mapping[str, float]] = {}
_MAPPING_FIELDS = (
    "mac_j",
    "vector_op_j",
    "level_j_per_byte",
    "mac_operands_j",
    "vector_operands_j",
    "mac_issue_j",
    "vector_issue_j",
)


def _interned(prices: EnergyPrices) -> EnergyPrices:
    """``prices`` with each mapping the one object of its content (read-only, shared)."""
    if len(_MAPPINGS) >= _PRICES_SIZE:
        _MAPPINGS.clear()
    shared: dict[str, Any] = {}
    for name in _MAPPING_FIELDS:
        mapping = getattr(prices, name)
        shared[name] = _MAPPINGS.setdefault(tuple(mapping.items()), mapping)
    return replace(prices, **shared)


def cached_energy_prices(hw: HardwareSpec) -> EnergyPrices:
    """``energy_prices(hw)`` (boost clock), kept by `price_key` (shared: read-only)."""
    seen = _BY_SPEC.get(id(hw))
    if seen is not None and seen[0]() is hw:
        return seen[1]
    key = price_key(hw)
    found = _PRICES.get(key)
    if found is None:
        if len(_PRICES) >= _PRICES_SIZE:  # drop the oldest; Dask threads may share it
            with contextlib.suppress(RuntimeError, StopIteration):
                _PRICES.pop(next(iter(_PRICES)), None)
        found = _PRICES[key] = _interned(energy_prices(hw))
    if len(_BY_SPEC) >= _PRICES_SIZE:  # start over: a batch's two asks are close together
        _BY_SPEC.clear()
    _BY_SPEC[id(hw)] = (weakref.ref(hw), found)
    return found


def _delivery(
    hw: HardwareSpec, mac_j: Mapping[str, float], scale: float
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Operand-delivery and issue joules per MAC and per vector FLOP, by dtype.

    Operands: tensor cores at the ``mma`` instruction's register bytes per MAC, systolic
    arrays at 4 register accesses of 1x the MAC each, SIMD / vector FMA lanes at 3 reads
    and 1 write of the element. Issue: one instruction's energy per issue slot per cycle
    over the ops that slot feeds at full rate (`perfsim.energy.defaults`).
    """
    table = hw.energy
    rf = table.register_file
    if rf is None:
        rf = sram_energy_per_byte_45nm(REGISTER_FILE_BYTES.get(hw.kind, 8192)) * scale
    instruction = INSTRUCTION_45NM_J * scale if table.instruction is None else table.instruction
    operands: dict[str, dict[str, float]] = {"mac": {}, "vector": {}}
    issue: dict[str, dict[str, float]] = {"mac": {}, "vector": {}}
    matrix = hw.compute.matrix
    if matrix is not None:
        slots = ISSUE_SLOTS[matrix.type]
        for dtype, per_cycle in matrix.macs_per_cycle.items():
            if matrix.type == "tensor_core":
                operands["mac"][dtype] = mma_operand_bytes_per_mac(dtype) * rf
            elif matrix.type == "systolic":
                operands["mac"][dtype] = SYSTOLIC_OPERAND_ACCESSES_PER_MAC * mac_j.get(dtype, 0.0)
            else:
                operands["mac"][dtype] = 4.0 * DTYPE_BYTES[dtype] * rf
            issue["mac"][dtype] = instruction * slots / per_cycle
        operands["mac"].update({str(dtype): value for dtype, value in table.operands.items()})
    slots = ISSUE_SLOTS.get(hw.kind, 1)
    for dtype, per_cycle in hw.compute.vector.flops_per_cycle.items():
        operands["vector"][dtype] = 2.0 * DTYPE_BYTES[dtype] * rf
        issue["vector"][dtype] = instruction * slots / per_cycle
    return operands, issue


def price(actions: Mapping[str, float], latency_s: float, prices: EnergyPrices) -> dict[str, float]:
    """Joules per component: ``compute`` (arithmetic), ``operands``, ``issue``, ``clock``,
    one key per memory level, and ``static``."""
    core = {"compute": 0.0, "operands": 0.0, "issue": 0.0, "clock": 0.0}
    breakdown = {**core, **dict.fromkeys(prices.level_j_per_byte, 0.0), "static": 0.0}
    for action, count in actions.items():
        kind, _, detail = action.partition(".")
        if kind == "mac":
            breakdown["compute"] += count * prices.mac_j[detail]
            breakdown["operands"] += count * prices.mac_operands_j.get(detail, 0.0)
            breakdown["issue"] += count * prices.mac_issue_j.get(detail, 0.0)
        elif kind == "vector":
            breakdown["compute"] += count * prices.vector_op_j[detail]
            breakdown["operands"] += count * prices.vector_operands_j.get(detail, 0.0)
            breakdown["issue"] += count * prices.vector_issue_j.get(detail, 0.0)
        elif kind in prices.level_j_per_byte and detail == "bytes":
            breakdown[kind] += count * prices.level_j_per_byte[kind]
        else:
            raise KeyError(f"unpriced action {action!r}")
    switching = breakdown["compute"] + breakdown["operands"] + breakdown["issue"]
    breakdown["clock"] = switching * prices.clock_share / (1.0 - prices.clock_share)
    breakdown["static"] = prices.static_power_w * latency_s
    return breakdown


def with_energy(cost: OpCost, prices: EnergyPrices) -> OpCost:
    """The cost with ``energy_j`` and ``energy_breakdown_j`` filled in."""
    breakdown = price(cost.actions, cost.latency_s, prices)
    return replace(cost, energy_j=sum(breakdown.values()), energy_breakdown_j=breakdown)
