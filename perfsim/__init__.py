"""perfsim: trace BERT-family models into operator graphs and cost them on described hardware.

Five lines from config to answer::

    import perfsim
    hw = perfsim.load_hardware("hwconfigs/npu.yaml")
    workload = perfsim.load_workload("bert-base", batch=8, seq=128)
    result = perfsim.estimate(workload, hw)
    print(result.summary()["latency_s"], result.to_frame().head())
"""

from __future__ import annotations

from typing import Any

from perfsim.api import hardware_catalog, model_catalog, run_estimate, trace_graph
from perfsim.engines import OpCost, available
from perfsim.errors import (
    PerfsimError,
    SpecError,
    TraceError,
    UnsupportedPrecisionError,
    WorkloadError,
)
from perfsim.estimate import Result, estimate, estimate_graph
from perfsim.hardware import HardwareSpec, load_hardware, resolve_hardware
from perfsim.ir import Category, OpGraph, OpNode, TensorSpec
from perfsim.precision import apply_precision
from perfsim.workload import Workload, load_workload

__all__ = [
    "Category",
    "HardwareSpec",
    "OpCost",
    "OpGraph",
    "OpNode",
    "PerfsimError",
    "Result",
    "SpecError",
    "TensorSpec",
    "TraceError",
    "UnsupportedPrecisionError",
    "Workload",
    "WorkloadError",
    "apply_precision",
    "available",
    "compare",
    "estimate",
    "estimate_graph",
    "estimate_whatif",
    "hardware_catalog",
    "load_hardware",
    "load_workload",
    "model_catalog",
    "parse_whatifs",
    "resolve_hardware",
    "run_data_parallel",
    "run_estimate",
    "run_sweep",
    "trace_graph",
    "trace_model",
    "write_study",
]

# imported on first use: tracing needs torch, sweeps dask, so a cached run loads neither
_LAZY = {
    "trace_model": "perfsim.trace",
    "compare": "perfsim.compare",
    "estimate_whatif": "perfsim.whatif",
    "parse_whatifs": "perfsim.whatif",
    "run_data_parallel": "perfsim.api",
    "run_sweep": "perfsim.sweep",
    "write_study": "perfsim.studies",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'perfsim' has no attribute {name!r}")
