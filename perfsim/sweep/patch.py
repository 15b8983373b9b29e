"""`perfsim.sweep.override.override_many`, validating only the sub-models an override touches.

A sweep builds one hardware spec per point, and validating a whole spec (every level,
engine and energy table) costs far more than the costing that follows. A point changes a
few leaves: here only the innermost sub-models holding them (a `MemoryLevel`, the
`MatrixEngine`) are validated again, from the very dict `override_many` would validate;
their ancestors are copied with the new children and their ``after`` model validators
(the cross-field checks, e.g. `HardwareSpec._check`) run again. The result equals
`override_many`'s (tests/test_sweep_batch.py); anything unexpected (a validation error,
an ancestor with another kind of model validator, a value that is itself a section)
falls back to `override_many`, so errors read exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from perfsim.hardware.spec import HardwareSpec
from perfsim.sweep.override import _rescale_systolic, _write_copy, override_many

Keys = tuple[str | int, ...]


def patched(
    spec: HardwareSpec,
    values: Mapping[str, Any],
    *,
    dumped: dict[str, Any],
    resolved: Mapping[str, Keys],
    memo: dict[Any, Any] | None = None,
) -> HardwareSpec:
    """``override_many(spec, values, dumped=dumped, resolved=resolved)``, faster.

    ``memo`` (one per base ``spec``) keeps validated sub-models by the values that set
    them: points that share, say, an array size share its `MatrixEngine`.
    """
    try:
        return _patched(spec, values, dumped, resolved, {} if memo is None else memo)
    except Exception:
        return override_many(spec, dict(values), dumped=dumped, resolved=resolved)


def _patched(
    spec: HardwareSpec,
    values: Mapping[str, Any],
    dumped: dict[str, Any],
    resolved: Mapping[str, Keys],
    memo: dict[Any, Any],
) -> HardwareSpec:
    owners: dict[Keys, list[str]] = {}
    for path in values:
        owners.setdefault(_owner(spec, resolved[path]), []).append(path)
    if () in owners:  # a top-level field: nothing smaller to validate
        raise TypeError("a top-level field")
    children: dict[Keys, Any] = {}
    data: dict[str, Any] | None = None
    for owner, paths in owners.items():
        key = (owner, tuple((path, values[path]) for path in sorted(paths)))
        child = memo.get(key)
        if child is None:
            if data is None:  # the dict override_many validates, systolic rescale and all
                data = dumped
                for path, value in values.items():
                    data = _write_copy(data, resolved[path], value)
                data = _rescale_systolic(spec, data, resolved)
            node = _read(spec, owner)
            child = type(node).model_validate(_read_dict(data, owner), context={"si": True})
            memo[key] = child
        children[owner] = child
    if any(a != b and b[: len(a)] == a for a in children for b in children):
        raise TypeError("nested owners")  # e.g. compute and compute.matrix: keep it simple
    return _rebuild(spec, (), children)  # type: ignore[no-any-return]


def _owner(spec: HardwareSpec, keys: Keys) -> Keys:
    """The keys of the innermost model that holds the leaf at ``keys``."""
    node: Any = spec
    owner: Keys = ()
    for depth, key in enumerate(keys[:-1]):
        node = getattr(node, str(key)) if isinstance(node, BaseModel) else node[key]
        if isinstance(node, BaseModel):
            owner = keys[: depth + 1]
    return owner


def _read(node: Any, keys: Keys) -> Any:
    for key in keys:
        node = getattr(node, str(key)) if isinstance(node, BaseModel) else node[key]
    return node


def _read_dict(data: Any, keys: Keys) -> Any:
    for key in keys:
        data = data[key]
    return data


def _rebuild(node: Any, at: Keys, children: Mapping[Keys, Any]) -> Any:
    """``node`` (at keys ``at``) with ``children`` put in; every model on the way is
    copied and its ``after`` model validators run again (other kinds: unsupported)."""
    if at in children:
        return children[at]
    below = {keys[len(at)] for keys in children if keys[: len(at)] == at}
    if isinstance(node, BaseModel):
        update = {
            str(key): _rebuild(getattr(node, str(key)), (*at, key), children) for key in below
        }
        copy = node.model_copy(update=update)
        for decorator in type(node).__pydantic_decorators__.model_validators.values():
            if decorator.info.mode != "after":
                raise TypeError("a model validator that is not an after validator")
            decorator.func(copy)  # raises ValueError as the full validation would
        return copy
    if isinstance(node, tuple):
        items = list(node)
        for key in below:
            items[key] = _rebuild(items[key], (*at, key), children)  # type: ignore[index]
        return tuple(items)
    raise TypeError(f"cannot patch a {type(node).__name__}")
