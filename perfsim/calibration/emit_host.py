"""The lines of a calibrated CPU file for the allocator's fresh pages and the measured
element costs of vector ops (`perfsim.calibration.fresh_pages`, ``element_cost``)."""

from __future__ import annotations

from perfsim.calibration.kernels import ROW
from perfsim.calibration.record import Calibration
from perfsim.calibration.yaml_lines import MEASURED, yaml_line
from perfsim.units import format_quantity


def exact_bytes(value: int) -> str:
    """The largest binary unit that divides ``value``: ``48 KiB``, ``24731708 KiB``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value % size == 0:
            return f"{value // size} {unit}"
    return f"{value} B"


def fresh_pages_lines(cal: Calibration) -> list[str]:
    """The ``fresh_pages`` block where a size paid for its fresh pages."""
    fresh = cal.fresh_pages
    if fresh is None or fresh.threshold is None or fresh.bandwidth is None:
        return []
    return [
        "fresh_pages:",
        yaml_line(2, "threshold", f'"{exact_bytes(fresh.threshold)}"', MEASURED + fresh.how),
        yaml_line(
            2,
            "bandwidth",
            f'"{fresh.bandwidth / 1e9:.6g} GB/s"',
            MEASURED + "output bytes over the extra seconds of the new tensor's fill, above",
        ),
    ]


def framework_refill_lines(cal: Calibration) -> list[str]:
    """The ``framework_refill`` block: (bytes a layer streams, extra seconds per op) points,
    where more than the first was measured."""
    refill = cal.framework_refill
    if refill is None or len(refill.points) < 2:
        return []
    points = ", ".join(
        f'["{size / 1e6:.6g} MB", "{seconds * 1e6:.4g} us"]' for size, seconds in refill.points
    )
    return ["framework_refill:", yaml_line(2, "points", f"[{points}]", MEASURED + refill.how)]


def element_cost_lines(cal: Calibration, fp32_flops: float | None) -> list[str]:
    """The ``element_cost`` block: each measured kind's elements/s against the fp32 vector
    rate written above (an element of an out-of-place add at that rate is 1)."""
    result = cal.element_costs
    if result is None or fp32_flops is None or cal.device != "cpu":
        return []
    lines = [
        yaml_line(
            4,
            "element_cost",
            "",
            f"# per element, in elements of an add at the fp32 rate above "
            f"({format_quantity(fp32_flops, 'FLOP/s')}) = that rate / the kind's elements/s",
        )
    ]
    for kind, rate in zip(result.kinds, result.elements_per_s, strict=True):
        how = (
            f"torch fp32 {kind} into a preallocated output, {result.threads} units, slope "
            f"between {result.elements[0]} and {result.elements[1]} elements"
            f"{f' (rows of {ROW})' if kind in ('softmax', 'layer_norm') else ''}: "
            f"{format_quantity(rate, 'elem/s')}"
        )
        lines.append(yaml_line(6, kind, f"{fp32_flops / rate:.6g}", MEASURED + how))
    return lines
