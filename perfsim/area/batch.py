"""`perfsim.area.model.die_area` of many devices at once: numpy over a sweep's designs.

A sweep costs thousands of designs that differ in a few numbers (array size, SRAM bytes,
DRAM bandwidth); ``die_area`` per design is a dozen small Python calls each. Here devices
of one `layout` (same blocks, node, memory kind and links) are priced together, block by
block, with the very operations of `perfsim.area.model` in the same order, so each total
equals ``die_area(hw).total_mm2`` to the last bit (tests/test_sweep_speed.py). Devices
whose blocks would collide by name (a memory level called ``matrix``) take the scalar path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from perfsim.area.components import (
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
from perfsim.area.model import (
    _interconnect_m2,
    _mac_areas_m2,
    die_area,
    die_units,
    memory_interface_kind,
)
from perfsim.area.technology import logic_area_scale, sram_bitcell_m2
from perfsim.hardware.spec import HardwareSpec

Array = np.ndarray
_FIXED_PARTS = ("matrix", "vector", "register_file", "extra_sram", "memory_interface")


def die_areas_mm2(
    hws: Sequence[HardwareSpec], *, one_structure: bool = False
) -> list[float | None]:
    """``[die_area(hw).total_mm2 or None for hw in hws]``, computed per `layout`.

    ``one_structure``: the devices share a `perfsim.engines.roofline_batch.structure`
    (its memory levels and dtypes), so they share a layout when the rest of its inputs
    (node, area inputs, links) are equal too: then no key is built per device.
    """
    if one_structure and hws and _same_beyond_structure(hws) and layout(hws[0]) is not None:
        return _total_mm2(hws).tolist()  # type: ignore[no-any-return]
    out: list[float | None] = [None] * len(hws)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, hw in enumerate(hws):
        key = layout(hw)
        if key is None:  # no estimate (None) or a layout left to the scalar path
            found = die_area(hw)
            out[index] = None if found is None else found.total_mm2
        else:
            groups.setdefault(key, []).append(index)
    for members in groups.values():
        totals = _total_mm2([hws[i] for i in members]).tolist()
        for index, total in zip(members, totals, strict=True):
            out[index] = total
    return out


def layout(hw: HardwareSpec) -> tuple[Any, ...] | None:
    """What devices priced together share: their blocks and everything priced per die
    rather than per number (node, memory kind, links); None for the scalar path."""
    inputs = hw.area
    if inputs is not None and not inputs.estimate:
        return None
    names = [level.name for level in hw.memory[:-1]]
    if len(set(names)) < len(names) or set(names) & {*_FIXED_PARTS, "interconnect", "uncore"}:
        return None  # block names that would overwrite each other in `area_breakdown`
    matrix = hw.compute.matrix
    link = hw.interconnect
    return (
        hw.technology_node,
        tuple(matrix.datapaths) if matrix is not None else None,
        tuple(hw.compute.vector.flops_per_cycle),
        tuple((level.name, level.per_unit) for level in hw.memory[:-1]),
        inputs is not None and inputs.register_file is not None,
        inputs is not None and inputs.extra_sram is not None,
        memory_interface_kind(hw),
        None if link is None else (link.topology, link.links, link.bandwidth),
    )


def _same_beyond_structure(hws: Sequence[HardwareSpec]) -> bool:
    """Whether ``hws`` agree on the inputs of `layout` that their structure leaves out
    (a sweep's devices share these sections: the identity test settles most)."""
    first = hws[0]
    node, area, link = first.technology_node, first.area, first.interconnect
    return all(
        hw.technology_node == node
        and (hw.area is area or hw.area == area)
        and (hw.interconnect is link or hw.interconnect == link)
        for hw in hws
    )


def _column(values: Sequence[float]) -> Array:
    return np.array(values, dtype=np.float64)


def _storage_m2(capacity: Array, node_m: float) -> Array:
    """`perfsim.area.model.storage_area_m2` over capacities (bytes) at one node, m^2."""
    macro = np.minimum(capacity, SRAM_MACRO_MAX_BYTES)
    efficiency = np.full_like(capacity, SRAM_ARRAY_EFFICIENCY[0][1])
    for size, value in SRAM_ARRAY_EFFICIENCY:  # the last threshold reached wins, as there
        efficiency = np.where(macro >= size, value, efficiency)
    reference_efficiency = SRAM_ARRAY_EFFICIENCY[-1][1]
    bitcell = sram_bitcell_m2(node_m) / sram_bitcell_m2(TPU_V1_NODE_M)
    sram = capacity * SRAM_28NM_M2_PER_BYTE * bitcell * reference_efficiency / efficiency
    scale = logic_area_scale(node_m) / logic_area_scale(REGISTER_FILE_NODE_M)
    flops = capacity * 8 * REGISTER_FILE_BIT_M2 * scale
    cheaper: Array = np.minimum(sram, flops)
    return cheaper


def _area_input(hw: HardwareSpec, name: str) -> float:
    """``hw.area.<name>``, bytes: set on every device of a layout that prices it."""
    value = getattr(hw.area, name)
    assert value is not None, name  # `layout` groups devices by which inputs are set
    return float(value)


def _widest(per_dtype: Iterable[Array]) -> Array:
    """The largest of the per-dtype areas (`max` over dtypes in the model)."""
    values = list(per_dtype)
    widest = values[0]
    for value in values[1:]:
        widest = np.maximum(widest, value)
    return widest


def _total_mm2(hws: Sequence[HardwareSpec]) -> Array:
    """Die area (mm^2) of devices of one `layout`, block by block as `area_breakdown`."""
    first = hws[0]
    node = first.technology_node
    mac = _mac_areas_m2(node)
    units = _column([die_units(hw) for hw in hws])
    parts: list[Array] = []
    matrix = first.compute.matrix
    if matrix is None:
        parts.append(np.zeros(len(hws)))
    else:
        macs = {
            d: _column([hw.compute.matrix.macs_per_cycle[d] for hw in hws]) * mac[d]  # type: ignore[union-attr]
            for d in matrix.datapaths
        }
        parts.append(_widest(macs.values()) * units)
    lanes = {
        d: _column([hw.compute.vector.flops_per_cycle[d] for hw in hws]) / 2 * mac[d]
        for d in first.compute.vector.flops_per_cycle
    }
    parts.append(_widest(lanes.values()) * units)
    for index, level in enumerate(first.memory[:-1]):
        storage = _storage_m2(_column([hw.memory[index].capacity for hw in hws]), node)
        parts.append(units * storage if level.per_unit else storage)
    inputs = first.area
    if inputs is not None and inputs.register_file is not None:
        files = _column([_area_input(hw, "register_file") for hw in hws])
        parts.append(units * _storage_m2(files, node))
    if inputs is not None and inputs.extra_sram is not None:
        extra = _column([_area_input(hw, "extra_sram") for hw in hws])
        parts.append(_storage_m2(extra, node))
    kind = memory_interface_kind(first)
    per_interface_bytes, phy, controller = MEMORY_INTERFACES[kind]
    if kind == "none":
        parts.append(np.zeros(len(hws)))
    else:
        scale = logic_area_scale(node) / logic_area_scale(REFERENCE_DENSITY_NODE_M)
        per_interface = phy + controller / TRANSISTORS_PER_M2_7NM * scale
        bandwidth = _column([hw.dram.bandwidth for hw in hws])
        count = np.maximum(1.0, np.ceil(bandwidth / per_interface_bytes * (1 - 1e-9)))
        parts.append(count * per_interface)
    parts.append(np.full(len(hws), _interconnect_m2(first)))  # per layout: one value
    blocks = parts[0]  # sum() in the model: left to right (0 + the first is the first)
    for part in parts[1:]:
        blocks = blocks + part
    uncore = blocks * UNCORE_FRACTION / (1 - UNCORE_FRACTION)
    return (blocks + uncore) / MM2
