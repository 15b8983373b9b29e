"""A near-memory (processing-in-memory) unit for memory-bound ops.

Ops of the chosen categories run on compute placed beside the DRAM banks: they stream
their operands at the unit's *internal* bandwidth and pay its energy per byte, and never
pass through the on-chip levels. Modelled as costing those ops, with the unchanged engine,
on a derived `HardwareSpec`: no matrix engine, a vector engine of ``pim_flops``, the
farthest level at ``pim_bandwidth`` and ``pim_energy_per_byte``, the nearer levels kept
by name (so `Result` sums line up) but made free and then zeroed in the op's row.

Defaults, relative to the host's DRAM, from Samsung's HBM-PIM (FIMDRAM): Kwon et al., "A
20nm 6GB Function-In-Memory DRAM, Based on HBM2 with a 1.2TFLOPS Programmable Computing
Unit Using Bank-Level Parallelism", ISSCC 2021, and Lee et al., "Hardware Architecture and
Software Stack for PIM Based on Commercial DRAM Technology", ISCA 2021:

- bandwidth 4x the device's DRAM bandwidth: one 16-lane fp16 PIM unit per two banks, 128
  per cube, each reading 32 B per 300 MHz cycle = 1.23 TB/s, against the cube's 307 GB/s
  external HBM2 interface (1024 bits x 2.4 Gb/s);
- compute 1 FLOP per byte of that bandwidth: 128 units x 16 lanes x 2 (FMA) x 300 MHz =
  1.23 TFLOP/s over 1.23 TB/s;
- energy per byte 0.3x the device's DRAM energy per byte: no off-chip I/O and no trip
  through the controller; Samsung report over 70% less energy for the offloaded work
  (NB: a system-level figure, applied here per byte).

Which ops move: those whose category is in ``pim_categories`` (default: element-wise,
dropout, LayerNorm, the streams HBM-PIM's add/multiply/MAC instruction set can run; its
compute is weak, so ops heavy in transcendentals can get slower there, as the cycle engine's
per-element slot costs show) and that are not fused into
another op's kernel (a fused op runs where its kernel runs). NB: the host and the PIM unit
do not overlap (ops still run one after another), and no transfer cost is charged between
them: the data already lives in DRAM, where every unfused op starts and ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Final

from perfsim.energy.prices import energy_prices, with_energy
from perfsim.engines import OpCost
from perfsim.hardware.spec import HardwareSpec
from perfsim.whatif.knobs import WhatIfs

BANDWIDTH_RATIO: Final = 4.0  # HBM-PIM internal / external bandwidth (module docstring)
FLOPS_PER_BYTE: Final = 1.0  # HBM-PIM peak FLOP/s per byte/s of internal bandwidth
ENERGY_RATIO: Final = 0.3  # HBM-PIM energy per byte / off-chip DRAM energy per byte
_FREE: Final = 1e6  # nearer levels' bandwidth multiple: never the binding term


def pim_figures(hw: HardwareSpec, knobs: WhatIfs) -> tuple[float, float, float]:
    """``(bandwidth B/s, peak FLOP/s, J/B)`` of the unit, defaults filled in."""
    bandwidth = knobs.pim_bandwidth or BANDWIDTH_RATIO * hw.level_bandwidth(hw.dram)
    flops = knobs.pim_flops or FLOPS_PER_BYTE * bandwidth
    energy = knobs.pim_energy_per_byte
    if energy is None:
        energy = ENERGY_RATIO * energy_prices(hw).level_j_per_byte[hw.dram.name]
    return bandwidth, flops, energy


def pim_device(hw: HardwareSpec, knobs: WhatIfs) -> HardwareSpec:
    """The derived device the offloaded ops are costed on (``hw`` itself is untouched)."""
    bandwidth, flops, energy = pim_figures(hw, knobs)
    compute = hw.compute
    per_cycle = flops / (compute.units * compute.clock)
    # the unit's own logic streams at its bandwidth: no host framework kernel's efficiency
    vector = compute.vector.model_copy(
        update={
            "flops_per_cycle": dict.fromkeys(compute.vector.flops_per_cycle, per_cycle),
            "stream_efficiency": None,
        }
    )
    memory = tuple(
        level.model_copy(
            update={
                "bandwidth": bandwidth if level is hw.dram else bandwidth * _FREE,
                "per_unit": False,
                "energy_per_byte": energy if level is hw.dram else 0.0,
            }
        )
        for level in hw.memory
    )
    return hw.model_copy(
        update={
            "name": f"{hw.name}+pim",
            "compute": compute.model_copy(update={"matrix": None, "vector": vector}),
            "memory": memory,
        }
    )


def pim_finisher(pim_hw: HardwareSpec) -> Callable[[OpCost], OpCost]:
    """A row finisher: the op touched only DRAM, ran on the ``pim`` unit; energy re-priced."""
    prices = energy_prices(pim_hw)
    dram = pim_hw.dram.name

    def finish(cost: OpCost) -> OpCost:
        traffic = {
            name: (value if name == dram else 0.0) for name, value in cost.traffic_bytes.items()
        }
        level_s = {name: (value if name == dram else 0.0) for name, value in cost.level_s.items()}
        actions = {
            key: value
            for key, value in cost.actions.items()
            if not key.endswith(".bytes") or key == f"{dram}.bytes"
        }
        bound = f"memory:{dram}" if cost.bound.startswith("memory:") else cost.bound
        moved = replace(
            cost,
            unit="pim",
            traffic_bytes=traffic,
            level_s=level_s,
            memory_s=level_s[dram],
            actions=actions,
            bound=bound,
        )
        return with_energy(moved, prices)

    return finish
