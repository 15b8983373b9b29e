"""perfsim: trace BERT-family models into operator graphs and cost them on described hardware.

Five lines from config to answer::

    import perfsim
    scenario = perfsim.Scenario("bert-base", batch=8, seq=128)
    result = perfsim.simulate(scenario, "hwconfigs/npu.yaml")
    print(result.summary()["latency_s"], result.to_frame().head())

Every front end builds a `Scenario` and hands it to `perfsim.pipeline`.
"""

from __future__ import annotations

from typing import Any

from perfsim.api import fit_batch, hardware_catalog, model_catalog, trace_graph
from perfsim.cache import GraphStore
from perfsim.engines import OpCost, available
from perfsim.errors import (
    PerfsimError,
    SpecError,
    TraceError,
    UnsupportedPrecisionError,
    WorkloadError,
)
from perfsim.estimate import Result, estimate_graph
from perfsim.hardware import HardwareSpec, load_hardware, resolve_hardware
from perfsim.ir import Category, OpGraph, OpNode, TensorSpec
from perfsim.pipeline import estimate, run, simulate, simulate_parallel
from perfsim.precision import apply_precision
from perfsim.scenario import Parallelism, Scenario, SequenceLengths, TrainingOptions
from perfsim.workload import Workload, load_workload

__all__ = [
    "AreaBreakdown",
    "Category",
    "GraphStore",
    "HardwareSpec",
    "OpCost",
    "OpGraph",
    "OpNode",
    "Parallelism",
    "PerfsimError",
    "Result",
    "Scenario",
    "SequenceLengths",
    "SpecError",
    "TensorSpec",
    "TraceError",
    "TrainingOptions",
    "UnsupportedPrecisionError",
    "Workload",
    "WorkloadError",
    "apply_precision",
    "available",
    "compare",
    "die_area",
    "estimate",
    "estimate_graph",
    "estimate_whatif",
    "fit_batch",
    "hardware_catalog",
    "load_hardware",
    "load_workload",
    "model_catalog",
    "parse_whatifs",
    "resolve_hardware",
    "run",
    "run_sweep",
    "simulate",
    "simulate_parallel",
    "trace_graph",
    "trace_model",
    "write_study",
]

# imported on first use: tracing needs torch, sweeps dask, so a cached run loads neither
_LAZY = {
    "trace_model": "perfsim.trace",
    "compare": "perfsim.compare",
    "AreaBreakdown": "perfsim.area",
    "die_area": "perfsim.area",
    "estimate_whatif": "perfsim.whatif",
    "parse_whatifs": "perfsim.whatif",
    "run_sweep": "perfsim.sweep",
    "write_study": "perfsim.studies",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'perfsim' has no attribute {name!r}")
