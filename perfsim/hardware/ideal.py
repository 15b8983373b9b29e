"""The ideal bound: a device at its datasheet peaks, with every achieved-performance term off.

perfsim's default answer is what a part achieves (sustained clocks, library tile shapes,
achievable bandwidth, on-chip residency, host issue cost). Architects also want the bound:
`ideal_hardware` strips each achieved-performance field named in `ACHIEVED_FIELDS` (dotted
paths into the hardware file; each is optional and ``None`` means "at the datasheet peak"),
so the same engines give the bound. The ideal bound is never above the achieved estimate
(a property test in ``tests/test_ideal.py``).
"""

from __future__ import annotations

from typing import Any, Final

from perfsim.hardware.spec import HardwareSpec

# dotted paths of achieved-performance fields; "memory.*.x" applies to every level
ACHIEVED_FIELDS: Final[tuple[str, ...]] = (
    "compute.matrix.library_tiles",  # GEMMs as the vendor library tiles them
    "compute.matrix.library_achievable",  # ... at the rate its best GEMM holds
    "tdp",  # the clock sustained under the power limit
    "memory.*.achievable",  # STREAM-class fraction of each level's peak bandwidth
    "compute.vector.stream_efficiency",  # ... and what the framework's kernels of a kind reach
    # host issue cost per kernel and runtime: unset, the device never waits for the host
    "host_issue.eager",
    "host_issue.cuda_graph",
    "host_issue.engine",
    "host_issue.eager_view",
    "host_issue.graph_launch",
    # each kernel's startup on the device (launch, dispatch, completion): unset, none
    "kernel_startup",
    # page faults of freshly mapped large outputs (a CPU host's allocator): unset, none
    "fresh_pages",
    # framework time lost to each layer's bytes evicting the interpreter: unset, none
    "framework_refill",
)


def _strip(data: dict[str, Any], path: list[str]) -> None:
    head, *rest = path
    if head == "*" and isinstance(data, list | tuple):
        for item in data:
            _strip(item, rest)
        return
    if not isinstance(data, dict) or head not in data:
        return
    if rest:
        _strip(data[head], rest)
    else:
        data[head] = None


IDEAL_SUFFIX: Final = " (ideal)"


def ideal_hardware(hw: HardwareSpec) -> HardwareSpec:
    """``hw`` with every field of `ACHIEVED_FIELDS` unset (datasheet peaks only), named
    ``"<name> (ideal)"`` so that every summary, table and chart labels the bound as such."""
    data = hw.model_dump()
    for path in ACHIEVED_FIELDS:
        _strip(data, path.split("."))
    if not hw.name.endswith(IDEAL_SUFFIX):
        data["name"] = hw.name + IDEAL_SUFFIX
    return HardwareSpec.from_si(data)
