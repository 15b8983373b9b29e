"""``perfsim validate``: run the real model on this host and compare with perfsim's estimate.

The model is built with random weights (``AutoModel.from_config``, no hub), run in eval
mode under ``torch.inference_mode`` at fp32, timed without the profiler (median of the
repeats), then profiled; the profiled aten ops are mapped onto perfsim's categories with
the tracer's own rules (`perfsim.validation.attribution`), each microsecond counted
once. ``import perfsim.validation`` does not import torch; measuring does.

    from perfsim.validation import load_cases, validate_cases, summary_frame
    results = validate_cases(load_cases("workloads/validation-cases.yaml"), "hwconfigs/host.yaml")
    print(summary_frame(results))
"""

from perfsim.validation.attribution import (
    OVERHEAD,
    Breakdown,
    OpEvent,
    OpKind,
    aten_kind,
    attribute,
)
from perfsim.validation.cases import load_cases
from perfsim.validation.measure import Measurement, MeasureOptions, check_options, measure_model
from perfsim.validation.report import render_validation_outputs, validation_figure
from perfsim.validation.validate import (
    SUMMARY_COLUMNS,
    CaseResult,
    category_frame,
    compare,
    host_hardware,
    measure_quietly,
    median_abs_error,
    results_json,
    summary_frame,
    validate_case,
    validate_cases,
)

__all__ = [
    "OVERHEAD",
    "SUMMARY_COLUMNS",
    "Breakdown",
    "CaseResult",
    "MeasureOptions",
    "Measurement",
    "OpEvent",
    "OpKind",
    "aten_kind",
    "attribute",
    "category_frame",
    "check_options",
    "compare",
    "host_hardware",
    "load_cases",
    "measure_model",
    "measure_quietly",
    "median_abs_error",
    "render_validation_outputs",
    "results_json",
    "summary_frame",
    "validate_case",
    "validate_cases",
    "validation_figure",
]
