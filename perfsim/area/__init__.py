"""Die area: a device's mm^2 per block from its hardware file (`perfsim.area.model`),
published per-component figures (`perfsim.area.components`), node scaling
(`perfsim.area.technology`), and the design metrics a sweep row carries
(`perfsim.area.metrics`)."""

from perfsim.area.metrics import design_metrics
from perfsim.area.model import (
    AreaBreakdown,
    area_breakdown,
    mac_area_m2,
    memory_interface_count,
    memory_interface_kind,
    sram_area_m2,
)

__all__ = [
    "AreaBreakdown",
    "area_breakdown",
    "design_metrics",
    "mac_area_m2",
    "memory_interface_count",
    "memory_interface_kind",
    "sram_area_m2",
]
