"""Die area of a device from its hardware file: ``area_breakdown(hw) -> AreaBreakdown``.

Blocks (each a pure function of the spec; figures and sources in `perfsim.area.components`,
node scaling in `perfsim.area.technology`):

- ``matrix``: every matrix unit's MACs. A unit that runs several precisions shares one
  datapath, so its area is the largest ``macs_per_cycle[dtype] x area(dtype)`` over its
  dtypes (e.g. A100's fp16 tensor-core datapath, not fp16 + int8 + int4 side by side).
  Area per MAC: TPU v1's int8 processing element as built (28 nm) x the gate-level ratio
  of the dtype's MAC to the int8 one (Horowitz 2014), scaled to the node as logic.
- ``vector``: ``flops_per_cycle / 2`` FMA lanes per unit (one FMA is 2 FLOPs), each the
  area of a MAC of that dtype; the largest over dtypes (shared ALUs).
- one entry per on-chip memory level (every level but the farthest), ``extra_sram`` and
  ``register_file`` (per unit): bytes x TPU v1's Unified Buffer density (28 nm, 512
  KiB-class macros), scaled by the node's SRAM bitcell area and by the array efficiency
  of the level's macro size (small buffers pay for their periphery: banking overhead),
  or, where smaller, a register file of flip-flops (Aladdin's register per bit, scaled
  as logic): a few hundred bytes are not worth an SRAM macro.
- per-unit blocks (matrix, vector, per-unit levels, register files) are costed for
  ``area.die_units`` where the die holds more units than the part enables.
- ``memory_interface``: ``ceil(bandwidth / one interface's bandwidth)`` interfaces of the
  off-chip memory's kind (HBM stacks, GDDR6 x32 devices, DDR channels, PCIe lanes), each
  a PHY (not node-scaled: analog and bump-limited) and a controller (logic).
- ``interconnect``: device-to-device links, each a PHY + controller in proportion to its
  bandwidth against an NVLink3 link.
- ``uncore``: control, clocking, test and white space: `UNCORE_FRACTION` of the die.

A file with ``area.estimate: false`` (no known process node) has no area: `die_area`
returns None.

NB: what a hardware file does not describe has no area: texture, raster and media units,
caches the file leaves out (unless ``area.extra_sram`` names them), PCIe on parts whose
host link is not an interconnect entry. Estimates for GPUs run low for that reason.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from perfsim.area.components import (
    INT8_PE_28NM_M2,
    LINK_BYTES_PER_S,
    LINK_CONTROLLER_TRANSISTORS,
    LINK_PHY_M2,
    MAC_GATE_AREA_45NM_UM2,
    MEMORY_INTERFACES,
    MM2,
    REFERENCE_DENSITY_NODE_M,
    REGISTER_FILE_BIT_M2,
    REGISTER_FILE_NODE_M,
    SRAM_28NM_M2_PER_BYTE,
    SRAM_ARRAY_EFFICIENCY,
    SRAM_MACRO_MAX_BYTES,
    TPU_V1_NODE_M,
    TRANSISTORS_PER_M2_7NM,
    UNCORE_FRACTION,
)
from perfsim.area.technology import logic_area_scale, sram_bitcell_m2
from perfsim.hardware.spec import HardwareSpec


@dataclass(frozen=True, slots=True)
class AreaBreakdown:
    """Die area per block, m^2 (``parts``), and in mm^2 for reports."""

    parts: Mapping[str, float]

    @property
    def total_m2(self) -> float:
        return sum(self.parts.values())

    @property
    def total_mm2(self) -> float:
        return self.total_m2 / MM2

    def breakdown_mm2(self) -> dict[str, float]:
        """mm^2 per block (the ``area_breakdown_mm2`` of a summary)."""
        return {name: value / MM2 for name, value in self.parts.items()}


def mac_area_m2(dtype: str, node_m: float) -> float:
    """Area of one MAC unit (systolic PE / tensor-core lane) of ``dtype`` at ``node_m``, m^2."""
    return _mac_areas_m2(node_m)[dtype]


@functools.lru_cache(maxsize=256)  # one node per device file: computed once, read per design
def _mac_areas_m2(node_m: float) -> Mapping[str, float]:
    """`mac_area_m2` of every dtype at ``node_m`` (one node scaling for all; read-only)."""
    node = logic_area_scale(node_m) / logic_area_scale(TPU_V1_NODE_M)
    int8 = MAC_GATE_AREA_45NM_UM2["int8"]
    areas = {d: INT8_PE_28NM_M2 * node * a / int8 for d, a in MAC_GATE_AREA_45NM_UM2.items()}
    return MappingProxyType(areas)  # shared by every caller of the cache


def sram_area_m2(capacity_bytes: float, node_m: float) -> float:
    """Area of one SRAM array of ``capacity_bytes`` at ``node_m``, m^2."""
    macro = min(capacity_bytes, SRAM_MACRO_MAX_BYTES)
    efficiency = SRAM_ARRAY_EFFICIENCY[0][1]
    for size, value in SRAM_ARRAY_EFFICIENCY:
        if macro >= size:
            efficiency = value
    reference_efficiency = SRAM_ARRAY_EFFICIENCY[-1][1]  # TPU v1's buffer: 512 KiB macros
    bitcell = sram_bitcell_m2(node_m) / sram_bitcell_m2(TPU_V1_NODE_M)
    return capacity_bytes * SRAM_28NM_M2_PER_BYTE * bitcell * reference_efficiency / efficiency


def register_file_area_m2(capacity_bytes: float, node_m: float) -> float:
    """Area of a flip-flop register file of ``capacity_bytes`` at ``node_m``, m^2."""
    scale = logic_area_scale(node_m) / logic_area_scale(REGISTER_FILE_NODE_M)
    return capacity_bytes * 8 * REGISTER_FILE_BIT_M2 * scale


def storage_area_m2(capacity_bytes: float, node_m: float) -> float:
    """Area of on-chip storage of ``capacity_bytes``: the cheaper of an SRAM macro and a
    flip-flop register file (flip-flops below 8 KiB, 16 KiB at 4 nm; 65 nm, 520 B: 0.049
    mm^2 of flip-flops), m^2."""
    return min(sram_area_m2(capacity_bytes, node_m), register_file_area_m2(capacity_bytes, node_m))


def controller_area_m2(transistors: float, node_m: float) -> float:
    """Area of ``transistors`` of standard-cell logic at ``node_m``, m^2."""
    scale = logic_area_scale(node_m) / logic_area_scale(REFERENCE_DENSITY_NODE_M)
    return transistors / TRANSISTORS_PER_M2_7NM * scale


def memory_interface_kind(hw: HardwareSpec) -> str:
    """The off-chip memory's interface kind: the file's ``area.memory_interface``, else
    guessed from the farthest level's name (hbm* -> hbm2, gddr* -> gddr6, host / pcie* ->
    pcie, anything else -> ddr4)."""
    if hw.area is not None and hw.area.memory_interface is not None:
        return hw.area.memory_interface
    name = hw.dram.name
    if name.startswith("hbm"):
        return "hbm2"
    if name.startswith("gddr"):
        return "gddr6"
    if name.startswith(("host", "pcie")):
        return "pcie"
    return "ddr4"


def die_units(hw: HardwareSpec) -> int:
    """Compute units on the die: ``area.die_units`` where given, never fewer than the
    enabled ``compute.units`` (a sweep that raises the units past the die grows it)."""
    if hw.area is not None and hw.area.die_units is not None:
        return max(hw.area.die_units, hw.compute.units)
    return hw.compute.units


def _matrix_m2(hw: HardwareSpec) -> float:
    matrix = hw.compute.matrix
    if matrix is None:
        return 0.0
    area = _mac_areas_m2(hw.technology_node)
    widest = max(n * area[dtype] for dtype, n in matrix.datapaths.items())
    return widest * die_units(hw)


def _vector_m2(hw: HardwareSpec) -> float:
    area = _mac_areas_m2(hw.technology_node)
    lanes = hw.compute.vector.flops_per_cycle
    widest = max(n / 2 * area[dtype] for dtype, n in lanes.items())
    return widest * die_units(hw)


def memory_interface_count(hw: HardwareSpec) -> int:
    """Off-chip interfaces (HBM stacks, GDDR6 x32 devices, DDR channels, PCIe lanes) the
    farthest level's bandwidth needs: ``ceil(bandwidth / one interface's top-bin rate)``,
    at least one (e.g. TPU v1: 34 GB/s / 17.06 GB/s per DDR3-2133 channel -> 2).

    NB: parts that clock their memory below the top bin get one interface too few (V100's
    900 GB/s over 4 HBM2 stacks counts 3)."""
    kind = memory_interface_kind(hw)
    if kind == "none":
        return 0
    per_interface = MEMORY_INTERFACES[kind][0]
    # 1e-9 relative slack: a bandwidth of exactly n interfaces is n, not n + 1
    return max(1, math.ceil(hw.dram.bandwidth / per_interface * (1 - 1e-9)))


def _memory_interface_m2(hw: HardwareSpec) -> float:
    _, phy, controller = MEMORY_INTERFACES[memory_interface_kind(hw)]
    per_interface = phy + controller_area_m2(controller, hw.technology_node)
    return memory_interface_count(hw) * per_interface


def _interconnect_m2(hw: HardwareSpec) -> float:
    link = hw.interconnect
    if link is None or link.topology == "none":
        return 0.0
    share = link.bandwidth / LINK_BYTES_PER_S
    per_link = LINK_PHY_M2 + controller_area_m2(LINK_CONTROLLER_TRANSISTORS, hw.technology_node)
    return link.links * share * per_link


def area_breakdown(hw: HardwareSpec) -> AreaBreakdown:
    """Die area of ``hw`` per block (module docstring), the uncore included, whether or
    not the file asks for an estimate (reports use `die_area`)."""
    node = hw.technology_node
    units = die_units(hw)
    parts: dict[str, float] = {"matrix": _matrix_m2(hw), "vector": _vector_m2(hw)}
    for level in hw.memory[:-1]:
        copies = units if level.per_unit else 1
        parts[level.name] = copies * storage_area_m2(level.capacity, node)
    inputs = hw.area
    if inputs is not None and inputs.register_file is not None:
        parts["register_file"] = units * storage_area_m2(inputs.register_file, node)
    if inputs is not None and inputs.extra_sram is not None:
        parts["extra_sram"] = storage_area_m2(inputs.extra_sram, node)
    parts["memory_interface"] = _memory_interface_m2(hw)
    parts["interconnect"] = _interconnect_m2(hw)
    blocks = sum(parts.values())
    parts["uncore"] = blocks * UNCORE_FRACTION / (1 - UNCORE_FRACTION)
    return AreaBreakdown(parts)


def die_area(hw: HardwareSpec) -> AreaBreakdown | None:
    """`area_breakdown` of ``hw``, or None where its file sets ``area.estimate: false`` (no
    process node to price it at, e.g. a calibrated host)."""
    if hw.area is not None and not hw.area.estimate:
        return None
    return area_breakdown(hw)
