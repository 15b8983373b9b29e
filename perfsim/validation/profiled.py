"""The profiled forward passes of a validation and their per-bucket medians.

`perfsim.validation.measure` times the model without the profiler for its total; these
passes run under ``torch.profiler`` (host activity, device activity too on CUDA), each
wrapped in an annotation, so that `perfsim.validation.attribution.attribute` can split
each one into buckets. The median over passes is taken per bucket and per op.
"""

from __future__ import annotations

import logging
import os
import statistics
from collections.abc import Callable
from typing import Any

from perfsim.errors import WorkloadError
from perfsim.validation.attribution import Breakdown, OpEvent

log = logging.getLogger(__name__)

FORWARD_ANNOTATION = "perfsim.validation.forward"

# libkineto (torch.profiler's backend) prints two "USDT ... profiler_start/stop" lines to
# stderr for every profiled region at its default level; calibration profiles hundreds of
# regions. Level 6 is above its highest (5), so it prints nothing. A user's own setting wins.
KINETO_QUIET_LEVEL = "6"


def quiet_profile(activities: list[Any]) -> Any:
    """``torch.profiler.profile(activities)`` without libkineto's per-region stderr lines."""
    from torch.profiler import profile

    os.environ.setdefault("KINETO_LOG_LEVEL", KINETO_QUIET_LEVEL)
    return profile(activities=activities)


def profiled_forwards(
    module: Any, inputs: dict[str, Any], repeats: int, on_gpu: bool, sync: Callable[[], Any]
) -> list[OpEvent]:
    """Run ``repeats`` annotated forwards under the profiler (after one unannotated)."""
    from torch.profiler import ProfilerActivity, record_function

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    with quiet_profile(activities) as profiler:
        module(**inputs)  # the profiler's first call pays its set-up: not annotated
        sync()
        for _ in range(repeats):
            with record_function(FORWARD_ANNOTATION):
                module(**inputs)
                sync()
    forwards = [
        _to_event(event)
        for event in profiler.events()
        if event.name == FORWARD_ANNOTATION
        and event.cpu_parent is None
        and str(event.device_type).endswith("CPU")
    ]
    if len(forwards) != repeats:
        log.warning("profiler returned %d of %d annotated forwards", len(forwards), repeats)
    if not forwards:
        raise WorkloadError("torch.profiler recorded no forward pass")
    return forwards


def _to_event(event: Any) -> OpEvent:
    """A profiler ``FunctionEvent`` (microseconds) → `OpEvent` (seconds)."""
    return OpEvent(
        name=event.name,
        self_s=event.self_cpu_time_total * 1e-6,
        total_s=event.cpu_time_total * 1e-6,
        children=tuple(_to_event(child) for child in event.cpu_children),
        self_device_s=event.self_device_time_total * 1e-6,
        total_device_s=event.device_time_total * 1e-6,
    )


def median_buckets(breakdowns: list[Breakdown]) -> dict[str, float]:
    """The median over passes of each bucket's seconds (0 where a pass lacks it)."""
    keys = sorted({key for b in breakdowns for key in b.seconds})
    return {k: statistics.median(b.seconds.get(k, 0.0) for b in breakdowns) for k in keys}


def median_ops(breakdowns: list[Breakdown]) -> tuple[dict[str, float], dict[str, int]]:
    """The median over passes of each op's seconds and calls."""
    names = sorted({name for b in breakdowns for name in b.op_s})
    seconds = {n: statistics.median(b.op_s.get(n, 0.0) for b in breakdowns) for n in names}
    calls = {n: round(statistics.median(b.op_calls.get(n, 0) for b in breakdowns)) for n in names}
    return seconds, calls
