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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfsim.engines import get_cost_model
from perfsim.errors import PerfsimError, SpecError
from perfsim.hardware import available_hardware, resolve_hardware
from perfsim.hardware.spec import ComputeSpec, HardwareSpec
from perfsim.pipeline import checked_precision
from perfsim.scenario import Scenario
from perfsim.sweep.axes import expand
from perfsim.sweep.identity import device_text, identity_text, point_id
from perfsim.sweep.override import path_reader, resolve_path
from perfsim.sweep.patch import patched
from perfsim.sweep.spec import WORKLOAD_AXES, SweepSpec
from perfsim.whatif import WhatIfs, parse_whatifs
from perfsim.workload import ModelSpec, resolve_model

WHATIF_PREFIX = "whatif."
UNTYPED = "untyped for what-ifs"


@dataclass(frozen=True, slots=True)
class Point:
    """One design point, ready to cost: a scenario (precision resolved) on a device."""

    index: int
    point_id: str
    inputs: Mapping[str, Any]  # the table's input columns (SI values for hardware axes)
    scenario: Scenario
    engine: str
    hw: HardwareSpec
    design: str = ""  # the axis values as the spec wrote them, for hover text and tables
    # computed once per distinct scenario by the planner (None: from the scenario)
    key: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def precision(self) -> str:
        return self.scenario.precision_on(self.hw)

    @property
    def whatifs(self) -> WhatIfs:
        return self.scenario.whatifs

    @property
    def fast(self) -> bool:
        """No what-if knob: the grouped fast path applies (`perfsim.sweep.fast`)."""
        return self.graph_key[-1] != UNTYPED if self.key is not None else self.whatifs.is_empty

    @property
    def graph_key(self) -> tuple[Any, ...]:
        """Points with equal keys share one graph: typed and grouped, or untyped for what-ifs
        (a training step is traced in its precision, so that is always part of the key)."""
        if self.key is not None:
            return self.key
        return graph_key(self.scenario, self.whatifs.is_empty)


def graph_key(scenario: Scenario, typed: bool) -> tuple[Any, ...]:
    """What a point's graph depends on: the model's config, batch, seq, mode, the traced
    precision (training), and the precision it is typed in (``typed``: the fast path)."""
    traced = scenario.traced_precision()  # the point's precision is already resolved
    model = scenario.model
    config = model.config_hash if isinstance(model, ModelSpec) else str(model)
    return (
        config,
        scenario.batch,
        scenario.seq,
        scenario.mode,
        traced,
        scenario.precision if typed else UNTYPED,
    )


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
    parts: dict[Any, Any] = field(default_factory=dict)  # validated sub-models (patched)
    # per set of axis names: their resolved paths, and each axis's reader (sorted by name)
    resolved: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    readers: dict[tuple[str, ...], tuple[tuple[str, Callable[[Any], Any]], ...]] = field(
        default_factory=dict
    )


def _device(spec: HardwareSpec) -> _Device:
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    return _Device(spec, spec.model_dump(), hashlib.sha256(text.encode()).hexdigest(), {})


_WORKLOAD = frozenset(WORKLOAD_AXES)


@dataclass(frozen=True, slots=True)
class _Values:
    """One point's axis values, split by what they change."""

    fields: dict[str, Any]  # workload axes over the base (model, hw, batch, ...)
    whatif: dict[str, Any]
    hw_values: dict[str, Any]  # dotted hardware paths


def _split(base: _Values, values: Mapping[str, Any]) -> _Values:
    """``values`` over the sweep's ``base`` (its workload fields and what-ifs)."""
    fields = dict(base.fields)
    whatif = dict(base.whatif)
    hw_values: dict[str, Any] = {}
    for name, value in values.items():
        if name in _WORKLOAD:
            fields[name] = value
        elif name.startswith(WHATIF_PREFIX):
            whatif[name.removeprefix(WHATIF_PREFIX)] = value
        else:
            hw_values[name] = value
    return _Values(fields, whatif, hw_values)


@dataclass(frozen=True, slots=True)
class _Names:
    """How one sequence of axis names splits (`_split`), read once per sweep: whether
    any sets workload fields or what-ifs, and where each spec axis's input column is
    read (``("whatif", knob)`` or ``("hw", axis)``)."""

    plain_hardware: bool  # every name a hardware path: the values are the overrides
    columns: tuple[tuple[str, str, str], ...]  # (axis, "whatif" | "hw", knob or axis)


def _names(spec: SweepSpec, names: tuple[str, ...]) -> _Names:
    plain = not any(n in _WORKLOAD or n.startswith(WHATIF_PREFIX) for n in names)
    columns = []
    for name in spec.axes:
        if name in WORKLOAD_AXES:
            continue
        if name.startswith(WHATIF_PREFIX):
            columns.append((name, "whatif", name.removeprefix(WHATIF_PREFIX)))
        else:
            columns.append((name, "hw", name))
    return _Names(plain, tuple(columns))


@dataclass(frozen=True, slots=True)
class _Override:
    """A base device with a point's hardware axis values applied."""

    hw: HardwareSpec
    identity: str  # the base file's digest and the SI values, as JSON
    values: dict[str, Any]  # each axis's SI value, read back from ``hw``


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A setting on devices of one precision support: the point's scenario and keys."""

    scenario: Scenario
    identity: tuple[str, str]  # `perfsim.sweep.identity.identity_text`
    graph_key: tuple[Any, ...]
    inputs: dict[str, Any]  # the table's workload input columns


@dataclass(frozen=True, slots=True)
class _Setting:
    """One distinct (workload fields, what-ifs) of a sweep: its checked base scenario."""

    base: Scenario
    model: ModelSpec
    engine: str
    by_support: dict[tuple[Any, ...], _Resolved]
    # each compute section seen (kept: its id stays its own) and its dtypes
    dtypes: dict[int, tuple[ComputeSpec, tuple[Any, ...]]] = field(default_factory=dict)

    def resolved(self, hw: HardwareSpec, hw_name: str) -> _Resolved:
        """The scenario at its precision on ``hw`` (checked: `checked_precision`), once
        per distinct precision support (all `checked_precision` reads of ``hw``)."""
        compute = hw.compute
        seen = self.dtypes.get(id(compute))
        if seen is None or seen[0] is not compute:  # points share compute sections
            matrix = compute.matrix
            seen = self.dtypes[id(compute)] = (
                compute,
                (
                    tuple(matrix.macs_per_cycle) if matrix is not None else (),
                    tuple(compute.vector.flops_per_cycle),
                ),
            )
        support = (hw_name, hw.name, hw.native_precision, seen[1])
        found = self.by_support.get(support)
        if found is None:
            scenario = self.base.but(precision=checked_precision(self.base, hw, hw_name))
            typed = scenario.whatifs.is_empty
            inputs = {
                "model": scenario.model_name,
                "hw": hw_name,
                "batch": scenario.batch,
                "seq": scenario.seq,
                "precision": scenario.precision,
                "mode": scenario.mode,
                "engine": self.engine,
            }
            found = self.by_support[support] = _Resolved(
                scenario,
                identity_text(scenario, self.model, self.engine),
                graph_key(scenario, typed),
                inputs,
            )
        return found


@dataclass
class _Planner:
    """What points of one sweep share: base devices, overridden devices, checked engines."""

    spec: SweepSpec
    hardware: dict[str, _Device] = field(default_factory=dict)
    overridden: dict[Any, _Override] = field(default_factory=dict)
    engines: set[str] = field(default_factory=set)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    settings: dict[Any, _Setting] = field(default_factory=dict)
    names: dict[tuple[str, ...], _Names] = field(default_factory=dict)
    # `json.dumps(..., default=str)` builds an encoder per call: one for the whole sweep
    to_json: Callable[[Any], str] = field(
        default_factory=lambda: json.JSONEncoder(default=str).encode
    )
    base: _Values = field(init=False)  # the spec's base fields and what-ifs, read once

    def __post_init__(self) -> None:
        base = self.spec.base
        fields = {name: getattr(base, name) for name in WORKLOAD_AXES}
        self.base = _Values(fields, dict(base.whatif), {})

    def model(self, name: str) -> ModelSpec:
        if name not in self.models:
            self.models[name] = resolve_model(name)
        return self.models[name]

    def device(self, hw_name: str) -> _Device:
        if hw_name not in self.hardware:
            spec_hw = resolve_hardware(_resolve_hw_name(hw_name, self.spec.source))
            self.hardware[hw_name] = _device(spec_hw)
        return self.hardware[hw_name]

    def hardware_at(self, hw_name: str, hw_values: Mapping[str, Any]) -> _Override:
        """The overridden device of a point and its identity (base file + SI overrides)."""
        device = self.device(hw_name)
        for name in hw_values:
            if name not in device.paths:
                try:
                    device.paths[name] = resolve_path(device.spec, name)
                except SpecError as error:
                    raise SpecError(f"axes.{error}") from None
        try:  # values are hashable scalars (numbers, unit strings) in every spec seen
            key: Any = (hw_name, tuple(hw_values.items()))
            found = self.overridden.get(key)
        except TypeError:
            key = json.dumps([hw_name, hw_values], sort_keys=True, default=str)
            found = self.overridden.get(key)
        if found is None:
            names = tuple(hw_values)
            resolved = device.resolved.get(names)
            if resolved is None:
                resolved = device.resolved[names] = {name: device.paths[name] for name in names}
                device.readers[names] = tuple(
                    (name, path_reader(device.spec, device.paths[name])) for name in sorted(names)
                )
            hw = device.spec
            if hw_values:
                hw = patched(
                    hw, hw_values, dumped=device.dumped, resolved=resolved, memo=device.parts
                )
            changed = {name: read(hw) for name, read in device.readers[names]}
            identity = device_text(device.digest, changed, self.to_json)
            found = self.overridden[key] = _Override(hw, identity, changed)
        return found

    def engine(self, name: str) -> str:
        if name not in self.engines:
            get_cost_model(name)
            self.engines.add(name)
        return name

    def setting(self, fields: Mapping[str, Any], whatif: Mapping[str, Any]) -> _Setting:
        """The scenario of a point before its precision is resolved, checked once per
        distinct workload fields and what-ifs."""
        try:
            key: Any = (tuple(fields.items()), tuple(whatif.items()))
            found = self.settings.get(key)
        except TypeError:
            key = json.dumps([fields, whatif], sort_keys=True, default=str)
            found = self.settings.get(key)
        if found is None:
            model = self.model(str(fields["model"]))
            base = Scenario(
                model,
                batch=int(fields["batch"]),
                seq=int(fields["seq"]),
                mode=str(fields["mode"]),
                precision=fields["precision"],
                whatifs=parse_whatifs(whatif),
            )
            base.workload()  # batch, seq and mode checked before anything runs
            engine = self.engine(str(fields["engine"]))
            found = self.settings[key] = _Setting(base, model, engine, {})
        return found

    def point(self, index: int, values: Mapping[str, Any]) -> Point:
        key = tuple(values)
        names = self.names.get(key)
        if names is None:
            names = self.names[key] = _names(self.spec, key)
        if names.plain_hardware:  # only hardware axes: the base's fields and what-ifs
            split = _Values(self.base.fields, self.base.whatif, dict(values))
        else:
            split = _split(self.base, values)
        fields = split.fields
        hw_name = str(fields["hw"])
        device = self.hardware_at(hw_name, split.hw_values)
        hw = device.hw
        setting = self.setting(fields, split.whatif)
        resolved = setting.resolved(hw, hw_name)
        inputs = dict(resolved.inputs)
        for name, source, knob in names.columns:
            inputs[name] = split.whatif[knob] if source == "whatif" else device.values[name]
        inputs["on_chip_bytes"] = hw.on_chip_bytes
        return Point(
            index=index,
            point_id=point_id(resolved.identity, device.identity),
            inputs=inputs,
            scenario=resolved.scenario,
            engine=setting.engine,
            hw=hw,
            design=", ".join([f"{name}={_short(value)}" for name, value in values.items()]),
            key=resolved.graph_key,
        )


def plan(spec: SweepSpec) -> list[Point]:
    """Every point of the sweep, validated; `SpecError` naming the axis and value otherwise."""
    where = spec.source or spec.name
    planner = _Planner(spec)
    points = []
    for index, values in enumerate(expand(spec)):
        try:
            points.append(planner.point(index, values))
        except PerfsimError as error:
            shown = ", ".join(f"{name}={value!r}" for name, value in values.items())
            raise SpecError(f"{where}: point {index} ({shown}): {error}") from None
    return points


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
