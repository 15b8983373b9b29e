"""`perfsim.sweep.override.override_many`, validating only the values an override sets.

A sweep builds one hardware spec per point, and validating a whole spec (every level,
engine and energy table) costs far more than the costing that follows. A point changes a
few leaves. Here each new value is validated alone, by its field's own schema (the very
annotation, unit parser and bounds the model applies to it, `_field_check`), and put into
a copy of the already-validated model that holds it; the models above it are copied with
their new children, and every copied model's ``after`` validators (the cross-field
checks, e.g. `HardwareSpec._check`) run again, as full validation would run them. A
matrix engine whose systolic size changes (its MACs rescale, `_rescale_systolic`) or a
leaf inside a plain container is validated from the very dict `override_many` would
validate. Copies get the ``model_fields_set`` full validation gives them: the keys of
their dumped dict.

The result equals `override_many`'s, fields set included (tests/test_sweep_batch.py);
anything unexpected (a validation error, a model with another kind of validator, a value
that is itself a section) falls back to `override_many`, so errors read exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter

from perfsim.hardware.spec import HardwareSpec
from perfsim.sweep.override import _rescale_systolic, _write_copy, override_many

Keys = tuple[str | int, ...]
Check = Callable[[Any], Any]


def patched(
    spec: HardwareSpec,
    values: Mapping[str, Any],
    *,
    dumped: dict[str, Any],
    resolved: Mapping[str, Keys],
    memo: dict[Any, Any] | None = None,
) -> HardwareSpec:
    """``override_many(spec, values, dumped=dumped, resolved=resolved)``, faster.

    ``memo`` (one per base ``spec``) keeps what points share: per set of paths, how to
    patch them (`_Recipe`), and validated sub-models by the values that set them (points
    that share, say, an array size share its compute section).
    """
    try:
        if memo is None:
            memo = {}
        recipe = memo.get(("recipe", *values))
        if recipe is None:  # the same few paths at every point of a sweep
            recipe = memo["recipe", *values] = _recipe(spec, values, dumped, resolved)
        return _patched(spec, values, dumped, resolved, recipe, memo)
    except Exception:
        return override_many(spec, dict(values), dumped=dumped, resolved=resolved)


@dataclass(frozen=True, slots=True)
class _Model:
    """A model of the base spec that a patch copies: the model, the fields set full
    validation gives its copies, its ``after`` validators."""

    node: Any
    fields_set: frozenset[str] = frozenset()
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True, slots=True)
class _Owner:
    """The innermost model holding some of a point's leaves, and how to set them."""

    keys: Keys  # where it is
    paths: tuple[str, ...]  # the axes it holds (sorted)
    # per axis: its field name and validator; None: validate the model's whole dict
    fields: tuple[tuple[str, Check], ...] | None
    model: _Model | None = None  # set once the recipe knows every model


@dataclass(frozen=True, slots=True)
class _Step:
    """One container above the owners, rebuilt with its new children (`_rebuild`)."""

    at: Keys  # where it is
    model: _Model  # the base spec's model or tuple there (``node``)
    below: tuple[tuple[str | int, Keys], ...]  # each new child: its key here, its keys


@dataclass(frozen=True, slots=True)
class _Recipe:
    """How to patch one set of paths into a spec: the owners, and the models and tuples
    above them (on the way from the top to an owner), children before parents."""

    owners: tuple[_Owner, ...]
    steps: tuple[_Step, ...]


_MATRIX: Keys = ("compute", "matrix")  # where override_many rescales a systolic array


def _recipe(
    spec: HardwareSpec,
    values: Mapping[str, Any],
    dumped: dict[str, Any],
    resolved: Mapping[str, Keys],
) -> _Recipe:
    found: dict[Keys, list[str]] = {}
    for path in values:
        found.setdefault(_owner(spec, resolved[path]), []).append(path)
    owners = []
    for keys, paths in found.items():
        paths.sort()
        leaves = [resolved[path][len(keys) :] for path in paths]
        node = _read(spec, keys)
        fields = None
        if keys != _MATRIX and all(len(leaf) == 1 for leaf in leaves):
            # fields of this model itself: each value checked by its field's schema
            names = [str(leaf[0]) for leaf in leaves]
            fields = tuple((name, _field_check(type(node), name)) for name in names)
        elif not keys:
            raise TypeError("a leaf inside a top-level container")  # keep it simple
        owners.append(_Owner(keys, tuple(paths), fields))
    tree = _tree([owner.keys for owner in owners])
    if any(a != b and b[: len(a)] == a for a in found for b in found):
        raise TypeError("nested owners")  # e.g. compute and compute.matrix: keep it simple
    models: dict[Keys, frozenset[str]] = {}
    checks: dict[Keys, tuple[Check, ...]] = {}
    for keys in (*tree, *found):
        node = _read(spec, keys)
        if isinstance(node, BaseModel):
            models[keys] = frozenset(_read_dict(dumped, keys))
            checks[keys] = _after_validators(type(node))
        elif not isinstance(node, tuple):
            raise TypeError(f"cannot patch a {type(node).__name__}")

    def model(keys: Keys) -> _Model:
        node = _read(spec, keys)
        return _Model(node, models[keys], checks[keys]) if keys in models else _Model(node)

    steps = [  # deepest first: every child is built before its parent
        _Step(at, model(at), tuple((key, (*at, key)) for key in below))
        for at, below in sorted(tree.items(), key=lambda item: -len(item[0]))
    ]
    owners = [replace(owner, model=model(owner.keys)) for owner in owners]
    return _Recipe(tuple(owners), tuple(steps))


def _patched(
    spec: HardwareSpec,
    values: Mapping[str, Any],
    dumped: dict[str, Any],
    resolved: Mapping[str, Keys],
    recipe: _Recipe,
    memo: dict[Any, Any],
) -> HardwareSpec:
    children: dict[Keys, Any] = {}
    for owner in recipe.owners:
        paths = owner.paths
        given = (values[paths[0]],) if len(paths) == 1 else tuple([values[p] for p in paths])
        key = (owner.keys, given)
        child = memo.get(key)
        if child is None:
            model: _Model = owner.model  # type: ignore[assignment]  # set by _recipe
            if owner.fields is None:
                data = _read_dict(_written(spec, values, dumped, resolved), owner.keys)
                child = type(model.node).model_validate(data, context={"si": True})
            elif len(owner.fields) == 1:
                ((name, check),) = owner.fields
                child = _copy(model, {name: check(given[0])})
            else:
                fields = zip(owner.fields, given, strict=True)
                child = _copy(model, {name: check(value) for (name, check), value in fields})
            memo[key] = child
        children[owner.keys] = child
    return _rebuild(children, recipe, memo)  # type: ignore[no-any-return]


def _written(
    spec: HardwareSpec,
    values: Mapping[str, Any],
    dumped: dict[str, Any],
    resolved: Mapping[str, Keys],
) -> dict[str, Any]:
    """The dict `override_many` validates: ``dumped`` with ``values`` written, systolic
    MACs rescaled."""
    data = dumped
    for path, value in values.items():
        data = _write_copy(data, resolved[path], value)
    return _rescale_systolic(spec, data, resolved)


def _field_check(model: type[BaseModel], name: str) -> Check:
    """A validator of one field of ``model`` alone, as the model validates it (SI data):
    its annotation and metadata (unit parser, bounds, pattern)."""
    if model.__pydantic_decorators__.field_validators:
        raise TypeError("a field validator")  # may read other fields: validate the model
    field = model.model_fields[name]
    annotation = field.annotation
    if field.metadata:
        annotation = Annotated[(annotation, *field.metadata)]
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    # what adapter.validate_python(value, context=...) calls, without its Python wrapper
    return partial(adapter.validator.validate_python, context={"si": True})


def _after_validators(model: type[BaseModel]) -> tuple[Check, ...]:
    """``model``'s model validators, each called on an instance (all ``after`` ones)."""
    found = []
    for decorator in model.__pydantic_decorators__.model_validators.values():
        if decorator.info.mode != "after":
            raise TypeError("a model validator that is not an after validator")
        found.append(decorator.func)
    return tuple(found)


def _copy(model: _Model, update: dict[str, Any]) -> BaseModel:
    """``model.node`` with ``update``'s (validated) values, its ``after`` validators run
    again (they raise ValueError as full validation would).

    Built as ``model_construct`` builds a model, without its pass over every field (and
    its defaults): the other values are ``node``'s, already validated. Its fields set are
    those full validation of the dumped dict gives.
    """
    node = model.node
    copy = type(node).__new__(type(node))
    object.__setattr__(copy, "__dict__", {**node.__dict__, **update})
    object.__setattr__(copy, "__pydantic_fields_set__", set(model.fields_set))
    object.__setattr__(copy, "__pydantic_extra__", None)
    object.__setattr__(copy, "__pydantic_private__", None)
    for check in model.checks:
        check(copy)
    return copy


def _tree(owners: list[Keys]) -> dict[Keys, tuple[str | int, ...]]:
    """For each prefix of the owners' keys, the keys one level below it."""
    tree: dict[Keys, list[str | int]] = {}
    for keys in owners:
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


def _rebuild(children: dict[Keys, Any], recipe: _Recipe, memo: dict[Any, Any]) -> Any:
    """The spec with ``children`` (new owners, by keys) put in, every model and tuple on
    the way copied (`_copy`), children before parents (``recipe.steps``). A model below
    the top with the very same new parts is built once (``memo``: e.g. the compute
    section of every point that shares an array size)."""
    for step in recipe.steps:
        node, at = step.model.node, step.at
        if isinstance(node, tuple):
            items = list(node)
            for index, keys in step.below:
                items[index] = children[keys]  # type: ignore[call-overload]
            children[at] = tuple(items)
            continue
        update = {key: children[keys] for key, keys in step.below}
        if not at:
            children[at] = _copy(step.model, update)
            continue
        # the memo keeps the copy, and so its parts: their ids stay theirs
        key = ("copy", at, *map(id, update.values()))
        copy = memo.get(key)
        if copy is None:
            copy = memo[key] = _copy(step.model, update)
        children[at] = copy
    return children[()]
