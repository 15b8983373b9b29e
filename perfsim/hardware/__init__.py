"""Hardware descriptions: YAML schema, loading with clear errors, derived figures."""

from perfsim.hardware.load import (
    available_hardware,
    hardware_source,
    load_hardware,
    resolve_hardware,
)
from perfsim.hardware.spec import (
    DTYPES,
    Buffers,
    ComputeSpec,
    EnergyTable,
    HardwareSpec,
    Interconnect,
    MatrixEngine,
    MemoryLevel,
    VectorEngine,
)

__all__ = [
    "DTYPES",
    "Buffers",
    "ComputeSpec",
    "EnergyTable",
    "HardwareSpec",
    "Interconnect",
    "MatrixEngine",
    "MemoryLevel",
    "VectorEngine",
    "available_hardware",
    "hardware_source",
    "load_hardware",
    "resolve_hardware",
]
