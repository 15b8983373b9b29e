"""A sweep spec's axes → the axis values of each of its points (`expand`).

Range bounds may be unit strings (``"1 MiB"``): they are sampled as SI numbers
(`si_value`); list values are kept as the spec writes them.
"""

from __future__ import annotations

from typing import Any

from perfsim.errors import SpecError
from perfsim.sweep.sampling import Axis, Range, grid, latin_hypercube, random_points, zipped
from perfsim.sweep.spec import RangeAxis, SweepSpec
from perfsim.units import parse_quantity

_DIMENSIONS = ("bytes", "bandwidth", "frequency", "time", "energy", "power", "length")


def si_value(value: Any) -> Any:
    """A unit string as SI (any dimension the unit names); numbers and names unchanged."""
    if not isinstance(value, str):
        return value
    for dimension in _DIMENSIONS:
        try:
            return parse_quantity(value, dimension)
        except ValueError:
            continue
    return value


def _axes_for_sampling(spec: SweepSpec) -> dict[str, Axis]:
    where = spec.source or spec.name
    axes: dict[str, Axis] = {}
    for name, axis in spec.axes.items():
        if isinstance(axis, RangeAxis):
            low, high = si_value(axis.min), si_value(axis.max)
            if not isinstance(low, int | float) or not isinstance(high, int | float):
                raise SpecError(f"{where}: axes.{name}: min/max must be numbers or quantities")
            if not low < high or (axis.log and low <= 0):
                raise SpecError(
                    f"{where}: axes.{name}: expected 0 < min < max for a log range, "
                    f"min < max otherwise; got {axis.min!r}, {axis.max!r}"
                )
            axes[name] = Range(float(low), float(high), axis.log, axis.integer)
        else:
            axes[name] = axis
    return axes


def expand(spec: SweepSpec) -> list[dict[str, Any]]:
    """The spec's axis values per point (grid, zip, random or lhs), in a fixed order."""
    sampling = spec.sampling
    axes = _axes_for_sampling(spec)
    if sampling.method == "grid":
        return grid(axes, spec.zip)  # type: ignore[arg-type]  # lists only, checked by spec
    if sampling.method == "zip":
        return zipped(axes)  # type: ignore[arg-type]
    samples = sampling.samples or 1
    if sampling.method == "random":
        return random_points(axes, samples, sampling.seed)
    return latin_hypercube(axes, samples, sampling.seed)
