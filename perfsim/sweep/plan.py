"""A sweep spec → its design points, each with a validated workload and hardware spec.

Everything a point needs is checked here, before anything runs or is written: unknown
axis paths, values the hardware schema rejects, unknown models, precisions a device lacks,
unknown engines. Each error is one line naming the spec file, the axis and the value.

A point's id is a digest of what determines its numbers (the model's config, batch,
sequence, mode, precision, engine, the whole hardware spec and the what-if knobs), so a
re-run of the same spec, or of an edited one, recognizes the points it already has.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfsim.engines import get_cost_model
from perfsim.errors import PerfsimError, SpecError
from perfsim.estimate import check_precision
from perfsim.hardware import available_hardware, resolve_hardware
from perfsim.hardware.spec import HardwareSpec
from perfsim.sweep.override import override_many, read_path, resolve_path
from perfsim.sweep.sampling import Axis, Range, grid, latin_hypercube, random_points, zipped
from perfsim.sweep.spec import WORKLOAD_AXES, RangeAxis, SweepSpec
from perfsim.units import parse_quantity
from perfsim.whatif import WhatIfs, parse_whatifs
from perfsim.workload import Workload, load_workload

RESULTS_VERSION = 1  # bump when the row a point produces changes meaning: re-runs recompute
WHATIF_PREFIX = "whatif."
_DIMENSIONS = ("bytes", "bandwidth", "frequency", "time", "energy", "power", "length")


@dataclass(frozen=True, slots=True)
class Point:
    """One design point, ready to cost."""

    index: int
    point_id: str
    inputs: Mapping[str, Any]  # the table's input columns (SI values for hardware axes)
    workload: Workload
    precision: str
    engine: str
    hw: HardwareSpec
    whatifs: WhatIfs = field(default_factory=WhatIfs)
    design: str = ""  # the axis values as the spec wrote them, for hover text and tables

    @property
    def fast(self) -> bool:
        """No what-if knob: the grouped fast path applies (`perfsim.sweep.fast`)."""
        return self.whatifs.is_empty

    @property
    def graph_key(self) -> tuple[str, int, int, str, str]:
        """Points with equal keys share one graph: typed and grouped, or fp32 for what-ifs."""
        model = self.workload.model
        return (
            model.config_hash,
            self.workload.batch,
            self.workload.seq,
            self.workload.mode,
            self.precision if self.fast else "fp32 for what-ifs",
        )


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


def _resolve_hw_name(name: str, source: str) -> str:
    """A built-in name as is; a relative file path relative to the spec when it exists there."""
    if name in available_hardware() or not source:
        return name
    beside = Path(source).parent / name
    return str(beside) if not Path(name).is_absolute() and beside.exists() else name


@dataclass(frozen=True, slots=True)
class _Device:
    """A base hardware spec with what every override of it reuses."""

    spec: HardwareSpec
    dumped: dict[str, Any]
    digest: str
    paths: dict[str, tuple[str | int, ...]]


def _device(spec: HardwareSpec) -> _Device:
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    return _Device(spec, spec.model_dump(), hashlib.sha256(text.encode()).hexdigest(), {})


def _point_id(
    workload: Workload,
    precision: str,
    engine: str,
    device: str,
    whatif: WhatIfs,
) -> str:
    identity = {
        "version": RESULTS_VERSION,
        "model": [workload.model.name, workload.model.config_hash],
        "batch": workload.batch,
        "seq": workload.seq,
        "mode": workload.mode,
        "precision": precision,
        "engine": engine,
        "hw": device,
        "whatif": dict(sorted(whatif.applied().items())),
    }
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def plan(spec: SweepSpec) -> list[Point]:
    """Every point of the sweep, validated; `SpecError` naming the axis and value otherwise."""
    where = spec.source or spec.name
    base = spec.base
    hardware: dict[str, _Device] = {}
    overridden: dict[str, tuple[HardwareSpec, str]] = {}
    workloads: dict[tuple[Any, ...], Workload] = {}
    engines: set[str] = set()
    points = []
    for index, values in enumerate(expand(spec)):
        fields: dict[str, Any] = {
            "model": base.model,
            "hw": base.hw,
            "batch": base.batch,
            "seq": base.seq,
            "precision": base.precision,
            "mode": base.mode,
            "engine": base.engine,
        }
        whatif = dict(base.whatif)
        hw_values: dict[str, Any] = {}
        for name, value in values.items():
            if name in WORKLOAD_AXES:
                fields[name] = value
            elif name.startswith(WHATIF_PREFIX):
                whatif[name.removeprefix(WHATIF_PREFIX)] = value
            else:
                hw_values[name] = value
        shown = ", ".join(f"{name}={value!r}" for name, value in values.items())
        try:
            hw_name = str(fields["hw"])
            if hw_name not in hardware:
                spec_hw = resolve_hardware(_resolve_hw_name(hw_name, spec.source))
                hardware[hw_name] = _device(spec_hw)
            device = hardware[hw_name]
            for name in hw_values:
                if name not in device.paths:
                    try:
                        device.paths[name] = resolve_path(device.spec, name)
                    except SpecError as error:
                        raise SpecError(f"axes.{error}") from None
            key = json.dumps([hw_name, hw_values], sort_keys=True, default=str)
            if key not in overridden:
                hw = device.spec
                if hw_values:
                    resolved = {name: device.paths[name] for name in hw_values}
                    hw = override_many(hw, hw_values, dumped=device.dumped, resolved=resolved)
                # the device's identity: its base file and the overridden values in SI
                changed = {name: read_path(hw, device.paths[name]) for name in sorted(hw_values)}
                overridden[key] = (hw, json.dumps([device.digest, changed], default=str))
            hw, hw_identity = overridden[key]
            scenario = tuple(fields[k] for k in ("model", "batch", "seq", "mode"))
            if scenario not in workloads:
                model, batch, seq, mode = scenario
                workloads[scenario] = load_workload(
                    str(model), batch=int(batch), seq=int(seq), mode=str(mode)
                )
            workload = workloads[scenario]
            precision = str(fields["precision"] or hw.native_precision)
            check_precision(hw, precision, hw_name)
            engine = str(fields["engine"])
            if engine not in engines:
                get_cost_model(engine)
                engines.add(engine)
            whatifs = parse_whatifs(whatif)
        except PerfsimError as error:
            raise SpecError(f"{where}: point {index} ({shown}): {error}") from None
        inputs: dict[str, Any] = {
            "model": workload.model.name,
            "hw": hw_name,
            "batch": workload.batch,
            "seq": workload.seq,
            "precision": precision,
            "mode": workload.mode,
            "engine": engine,
        }
        for name in spec.axes:
            if name in WORKLOAD_AXES:
                continue
            if name.startswith(WHATIF_PREFIX):
                inputs[name] = whatif[name.removeprefix(WHATIF_PREFIX)]
            else:
                inputs[name] = read_path(hw, device.paths[name])
        inputs["on_chip_bytes"] = hw.on_chip_bytes
        points.append(
            Point(
                index=index,
                point_id=_point_id(workload, precision, engine, hw_identity, whatifs),
                inputs=inputs,
                workload=workload,
                precision=precision,
                engine=engine,
                hw=hw,
                whatifs=whatifs,
                design=", ".join(f"{name}={_short(value)}" for name, value in values.items()),
            )
        )
    return points


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
