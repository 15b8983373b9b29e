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
    owners = memo.get(("owners", *values))
    if owners is None:  # the same few paths at every point of a sweep
        found: dict[Keys, list[str]] = {}
        for path in values:
            found.setdefault(_owner(spec, resolved[path]), []).append(path)
        if () in found:  # a top-level field: nothing smaller to validate
            raise TypeError("a top-level field")
        owners = memo["owners", *values] = [(o, sorted(paths)) for o, paths in found.items()]
    children: dict[Keys, Any] = {}
    data: dict[str, Any] | None = None
    for owner, paths in owners:
        key = (owner, *[values[path] for path in paths])
        child = memo.get(key)
        if child is None:
            node = _read(spec, owner)
            leaves = [resolved[path][len(owner) :] for path in paths]
            if owner != _MATRIX and all(len(leaf) == 1 for leaf in leaves):
                # fields of this model itself: its dict with them set, nothing else moves
                sub = dict(_read_dict(dumped, owner))
                for path, leaf in zip(paths, leaves, strict=True):
                    sub[str(leaf[0])] = values[path]
            else:
                if data is None:  # the dict override_many validates, systolic rescale and all
                    data = dumped
                    for path, value in values.items():
                        data = _write_copy(data, resolved[path], value)
                    data = _rescale_systolic(spec, data, resolved)
                sub = _read_dict(data, owner)
            child = type(node).model_validate(sub, context={"si": True})
            memo[key] = child
        children[owner] = child
    tree = memo.get(("tree", tuple(children)))
    if tree is None:
        if any(a != b and b[: len(a)] == a for a in children for b in children):
            raise TypeError("nested owners")  # e.g. compute and compute.matrix: keep it simple
        tree = memo["tree", tuple(children)] = _tree(children)
    return _rebuild(spec, (), children, tree, memo)  # type: ignore[no-any-return]


_MATRIX: Keys = ("compute", "matrix")  # where override_many rescales a systolic array


def _tree(children: Mapping[Keys, Any]) -> dict[Keys, tuple[str | int, ...]]:
    """For each prefix of the children's keys, the keys one level below it."""
    tree: dict[Keys, list[str | int]] = {}
    for keys in children:
        for depth in range(len(keys)):
            below = tree.setdefault(keys[:depth], [])
            if keys[depth] not in below:
                below.append(keys[depth])
    return {prefix: tuple(below) for prefix, below in tree.items()}


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


def _rebuild(
    node: Any,
    at: Keys,
    children: Mapping[Keys, Any],
    tree: Mapping[Keys, tuple[str | int, ...]],
    memo: dict[Any, Any],
) -> Any:
    """``node`` (at keys ``at``) with ``children`` put in; every model on the way is
    copied and its ``after`` model validators run again (other kinds: unsupported). A
    model below the top with the very same new parts is built once (``memo``: e.g. the
    compute section of every point that shares an array size)."""
    if at in children:
        return children[at]
    below = tree[at]
    if isinstance(node, BaseModel):
        update = {
            str(key): _rebuild(getattr(node, str(key)), (*at, key), children, tree, memo)
            for key in below
        }
        # the memo keeps the copy, and so its parts: their ids stay theirs
        key = ("copy", at, *map(id, update.values())) if at else None
        copy = memo.get(key) if key else None
        if copy is None:
            copy = node.model_copy(update=update)
            for decorator in type(node).__pydantic_decorators__.model_validators.values():
                if decorator.info.mode != "after":
                    raise TypeError("a model validator that is not an after validator")
                decorator.func(copy)  # raises ValueError as the full validation would
            if key:
                memo[key] = copy
        return copy
    if isinstance(node, tuple):
        items = list(node)
        for index in below:
            items[index] = _rebuild(items[index], (*at, index), children, tree, memo)  # type: ignore[index]
        return tuple(items)
    raise TypeError(f"cannot patch a {type(node).__name__}")
