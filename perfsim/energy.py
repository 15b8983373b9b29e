"""Energy: action counts x per-action energies, plus static power x time (Accelergy's ERT pattern).

Engines only count actions (`OpCost.actions`); this module prices them, so every engine's
energies are comparable:

- ``mac.<dtype>``: MACs x the MAC energy of that dtype;
- ``vector.<dtype>``: vector FLOPs x the vector-op energy of that dtype;
- ``<level>.bytes``: bytes served x that level's energy per byte;
- static: static power x latency.

Prices come from the hardware file where it gives them, else from the default table
(`perfsim.energy_defaults`) scaled to the device's node (`perfsim.technology`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from perfsim.energy_defaults import (
    DRAM_ENERGY_PER_BYTE_J,
    MAC_ENERGY_45NM_J,
    VECTOR_OP_ENERGY_45NM_J,
    sram_energy_per_byte_45nm,
)
from perfsim.engines import OpCost
from perfsim.hardware.spec import HardwareSpec
from perfsim.technology import energy_scale


@dataclass(frozen=True, slots=True)
class EnergyPrices:
    """Joules per action for one device, every entry resolved."""

    mac_j: Mapping[str, float]
    vector_op_j: Mapping[str, float]
    level_j_per_byte: Mapping[str, float]
    static_power_w: float


def energy_prices(hw: HardwareSpec) -> EnergyPrices:
    """The file's energies over the node-scaled defaults."""
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
    return EnergyPrices(mac, vector, levels, hw.energy.static_power)


def price(actions: Mapping[str, float], latency_s: float, prices: EnergyPrices) -> dict[str, float]:
    """Joules per component: ``compute``, one key per memory level, and ``static``."""
    breakdown = {"compute": 0.0, **dict.fromkeys(prices.level_j_per_byte, 0.0), "static": 0.0}
    for action, count in actions.items():
        kind, _, detail = action.partition(".")
        if kind == "mac":
            breakdown["compute"] += count * prices.mac_j[detail]
        elif kind == "vector":
            breakdown["compute"] += count * prices.vector_op_j[detail]
        elif kind in prices.level_j_per_byte and detail == "bytes":
            breakdown[kind] += count * prices.level_j_per_byte[kind]
        else:
            raise KeyError(f"unpriced action {action!r}")
    breakdown["static"] = prices.static_power_w * latency_s
    return breakdown


def with_energy(cost: OpCost, prices: EnergyPrices) -> OpCost:
    """The cost with ``energy_j`` and ``energy_breakdown_j`` filled in."""
    breakdown = price(cost.actions, cost.latency_s, prices)
    return replace(cost, energy_j=sum(breakdown.values()), energy_breakdown_j=breakdown)
