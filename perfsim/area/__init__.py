"""Die area: a device's mm^2 per block from its hardware file (`perfsim.area.model`),
published per-component figures (`perfsim.area.components`), node scaling
(`perfsim.area.technology`), and the design metrics a sweep row carries
(`perfsim.area.metrics`)."""

from perfsim.area.metrics import design_metrics
from perfsim.area.model import (
    AreaBreakdown,
    area_breakdown,
    die_area,
    die_units,
    mac_area_m2,
    memory_interface_count,
    memory_interface_kind,
    register_file_area_m2,
    sram_area_m2,
    storage_area_m2,
)

__all__ = [
    "AreaBreakdown",
    "area_breakdown",
    "design_metrics",
    "die_area",
    "die_units",
    "mac_area_m2",
    "memory_interface_count",
    "memory_interface_kind",
    "register_file_area_m2",
    "sram_area_m2",
    "storage_area_m2",
]
