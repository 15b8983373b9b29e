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
    "estimate",
    "estimate_graph",
    "hardware_catalog",
    "load_hardware",
    "load_workload",
    "model_catalog",
    "resolve_hardware",
    "run_estimate",
    "trace_graph",
    "trace_model",
]


def __getattr__(name: str) -> Any:
    # trace_model needs torch; import it only when asked, so cached runs never load torch
    if name == "trace_model":
        from perfsim.trace import trace_model

        return trace_model
    raise AttributeError(f"module 'perfsim' has no attribute {name!r}")
