"""Energy: action counts x per-action energies, plus static power x time (Accelergy's ERT pattern).

Engines only count actions (`OpCost.actions`); this module prices them from the
hardware file's energy table, so every engine's energies are comparable:

- ``mac.<dtype>``: MACs x ``energy.mac[dtype]``;
- ``vector.<dtype>``: vector FLOPs x ``energy.vector_op[dtype]``;
- ``<level>.bytes``: bytes served x that level's ``energy_per_byte``;
- static: ``energy.static_power`` x latency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from perfsim.engines import OpCost
from perfsim.hardware.spec import HardwareSpec


def price(actions: Mapping[str, float], latency_s: float, hw: HardwareSpec) -> dict[str, float]:
    """Joules per component: ``compute``, one key per memory level, and ``static``."""
    level_energy = {level.name: level.energy_per_byte for level in hw.memory}
    breakdown = {"compute": 0.0, **dict.fromkeys(level_energy, 0.0), "static": 0.0}
    for action, count in actions.items():
        kind, _, detail = action.partition(".")
        if kind == "mac":
            breakdown["compute"] += count * hw.energy.mac[detail]  # type: ignore[index]
        elif kind == "vector":
            breakdown["compute"] += count * hw.energy.vector_op[detail]  # type: ignore[index]
        elif kind in level_energy and detail == "bytes":
            breakdown[kind] += count * level_energy[kind]
        else:
            raise KeyError(f"unpriced action {action!r}")
    breakdown["static"] = hw.energy.static_power * latency_s
    return breakdown


def with_energy(cost: OpCost, hw: HardwareSpec) -> OpCost:
    """The cost with ``energy_j`` and ``energy_breakdown_j`` filled in."""
    breakdown = price(cost.actions, cost.latency_s, hw)
    return replace(cost, energy_j=sum(breakdown.values()), energy_breakdown_j=breakdown)
