"""Pure hardware overrides: ``override(spec, "memory.sram.capacity", "8 MiB") -> new spec``.

A sweep axis names a hardware field by its dotted path in the YAML schema
(`perfsim.hardware.spec`), with these shortcuts:

- ``matrix.*``, ``vector.*``, ``clock``, ``units`` stand for ``compute.matrix.*``,
  ``compute.vector.*``, ``compute.clock`` and ``compute.units``;
- memory levels are addressed by name, ``memory.<name>.<field>``; ``memory.dram`` is the
  farthest level and ``memory.sram`` the nearest, unless a level has that very name.

Values are what the YAML takes: unit strings (``"16 MiB"``) or, for already-SI data,
bare numbers. The base spec is never touched: its SI dump is copied, edited and validated
again, so a rejected value is reported exactly as a bad hardware file would be.

NB: on a systolic matrix engine the MACs per cycle are ``rows x cols`` per array, so
changing ``matrix.rows`` or ``matrix.cols`` (without also overriding
``matrix.macs_per_cycle``) rescales every ``macs_per_cycle`` entry by the change in
``rows x cols``. Nothing else is coupled: a memory's bandwidth stays what the axis says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter, itemgetter
from typing import Any

from pydantic import BaseModel, ValidationError

from perfsim.errors import SpecError
from perfsim.hardware.spec import HardwareSpec

_SHORTCUTS = {
    "matrix": ("compute", "matrix"),
    "vector": ("compute", "vector"),
    "clock": ("compute", "clock"),
    "units": ("compute", "units"),
}
_MEMORY_ALIASES = {"dram": -1, "sram": 0}


def resolve_path(spec: HardwareSpec, path: str) -> tuple[str | int, ...]:
    """The dotted axis name as keys into ``spec.model_dump()`` (level names → indices).

    Raises:
        SpecError: an unknown field, naming the part that is wrong and what exists there.
    """
    parts = path.split(".")
    if not all(parts):
        raise SpecError(f"{path}: empty part in the dotted path")
    head = _SHORTCUTS.get(parts[0])
    keys: list[str | int] = [*head, *parts[1:]] if head else list(parts)
    data: Any = spec.model_dump()
    resolved: list[str | int] = []
    index = 0
    while index < len(keys):
        key = keys[index]
        if isinstance(data, tuple | list):  # memory levels: by name, or an alias
            names = [level["name"] for level in data]
            if key in names:
                key = names.index(str(key))
            elif key in _MEMORY_ALIASES:
                key = _MEMORY_ALIASES[str(key)] % len(data)
            else:
                raise SpecError(
                    f"{path}: no memory level {key!r}; levels are {', '.join(names)} "
                    "(or dram / sram for the farthest / nearest)"
                )
        elif isinstance(data, dict):
            if key not in data:
                where = ".".join(str(k) for k in resolved) or "<top level>"
                raise SpecError(
                    f"{path}: unknown hardware field {key!r} under {where}; "
                    f"expected one of {', '.join(sorted(map(str, data)))}"
                )
        else:
            where = ".".join(str(k) for k in resolved)
            raise SpecError(f"{path}: {where} is a value, not a section")
        resolved.append(key)
        data = data[key]
        index += 1
    if isinstance(data, dict | tuple | list) and data:
        raise SpecError(f"{path}: names a section, not a value; add a field name")
    return tuple(resolved)


def read_path(data: Any, keys: Sequence[str | int]) -> Any:
    """The value at resolved ``keys`` in a dumped spec, or in the spec itself."""
    for key in keys:
        data = getattr(data, str(key)) if isinstance(data, BaseModel) else data[key]
    return data


def path_reader(spec: BaseModel, keys: Sequence[str | int]) -> Callable[[Any], Any]:
    """`read_path` of ``keys`` for specs shaped as ``spec`` (overrides of it): which step
    is an attribute and which an item, found once (a sweep reads its axes back from
    every point's spec)."""
    steps: list[Callable[[Any], Any]] = []
    node: Any = spec
    for key in keys:
        if isinstance(node, BaseModel):
            steps.append(attrgetter(str(key)))
            node = getattr(node, str(key))
        else:
            steps.append(itemgetter(key))
            node = node[key]

    def read(data: Any) -> Any:
        for step in steps:
            data = step(data)
        return data

    return read


def _write_copy(data: dict[str, Any], keys: Sequence[str | int], value: Any) -> dict[str, Any]:
    """``data`` with ``keys`` set to ``value``: containers along the path copied, rest shared."""
    root: Any = dict(data)
    node = root
    for key in keys[:-1]:
        child = node[key]
        child = list(child) if isinstance(child, tuple | list) else dict(child)
        node[key] = child
        node = child
    node[keys[-1]] = value
    return dict(root)


def override_many(
    spec: HardwareSpec,
    values: Mapping[str, Any],
    *,
    dumped: dict[str, Any] | None = None,
    resolved: Mapping[str, tuple[str | int, ...]] | None = None,
) -> HardwareSpec:
    """A new, validated spec with every ``dotted path → value`` applied.

    ``dumped`` (``spec.model_dump()``) and ``resolved`` (`resolve_path` per path) may be
    passed in when many overrides share one base spec; they are only read.

    Raises:
        SpecError: an unknown path, or a value the hardware schema rejects (naming the
            path, the value and the schema's reason).
    """
    data = dumped if dumped is not None else spec.model_dump()
    if resolved is None:
        resolved = {path: resolve_path(spec, path) for path in values}
    for path, value in values.items():
        data = _write_copy(data, resolved[path], value)
    data = _rescale_systolic(spec, data, resolved)
    try:
        return HardwareSpec.from_si(data)
    except ValidationError as error:
        first = error.errors()[0]
        loc = tuple(part for part in first["loc"] if not str(part).startswith("function"))
        location = ".".join(str(part) for part in loc)
        # name the axis the schema rejected when its path is where the error is
        culprits = [path for path, keys in resolved.items() if tuple(keys) == loc[: len(keys)]]
        shown = ", ".join(f"{path}={values[path]!r}" for path in culprits or values)
        message = first["msg"].removeprefix("Value error, ")
        raise SpecError(
            f"{shown}: rejected by the hardware schema at {location}: {message}"
        ) from None


def override(spec: HardwareSpec, path: str, value: Any) -> HardwareSpec:
    """A new, validated spec with one field changed (see the module docstring for paths)."""
    return override_many(spec, {path: value})


def _rescale_systolic(
    spec: HardwareSpec, data: dict[str, Any], resolved: Mapping[str, tuple[str | int, ...]]
) -> dict[str, Any]:
    """Keep a systolic array's MACs per cycle equal to its new ``rows x cols`` share."""
    matrix = spec.compute.matrix
    if matrix is None or matrix.type != "systolic" or matrix.rows is None or matrix.cols is None:
        return data
    touched = {keys[2] for keys in resolved.values() if keys[:2] == ("compute", "matrix")}
    if not touched & {"rows", "cols"} or "macs_per_cycle" in touched:
        return data
    new = data["compute"]["matrix"]
    try:
        scale = (float(new["rows"]) * float(new["cols"])) / (matrix.rows * matrix.cols)
    except (TypeError, ValueError):
        return data  # a non-numeric size: the schema reports it
    macs = {dtype: value * scale for dtype, value in matrix.macs_per_cycle.items()}
    return _write_copy(data, ("compute", "matrix", "macs_per_cycle"), macs)
