"""Memoized meta kernels: run an aten op on meta tensors once per distinct signature.

A meta kernel computes only its outputs' metadata (shape, strides, dtype), and many of them
are Python decompositions (``torch._refs``) that cost hundreds of microseconds per call.
A traced step calls the same op on the same metadata over and over: every encoder layer
repeats the previous one, and an optimizer updates hundreds of parameters of a few shapes
with the same dozen ops each. `MetaKernelCache` runs the real kernel the first time an op
meets a signature and then replays the result: fresh outputs become new empty meta tensors
with the recorded metadata, and outputs that were an input (an in-place op's ``self``)
are that input again. The caller (the capture mode) still sees every op with its real
arguments and outputs, so the recorded graph is exactly the one an uncached trace gives
(``tests/test_trace_fast.py`` compares the two op by op).

The signature is the op, every non-tensor argument's value, and every tensor argument's
shape, strides, storage offset, dtype, device and ``requires_grad``, plus which arguments
are the same tensor or share a storage. Ops are replayed only when that is safe to verify
on the first run: every tensor is on meta, no output is a view of an input (a view's
storage is its base's), no output shares a storage with another, no input's metadata
changed (``resize_``, ``t_``), and an empty tensor with the recorded strides has the real
output's storage size. Anything else runs its real kernel every time.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_SCALARS: Final = (int, float, bool, str, type(None), torch.dtype, torch.device)
_SCALARS_EXTRA: Final = (torch.memory_format, torch.layout)
# a parameter is a plain tensor to a meta kernel (outputs are plain tensors either way)
_TENSOR_TYPES: Final = (torch.Tensor, torch.nn.Parameter)


@dataclass(frozen=True, slots=True)
class _Fresh:
    """A new output tensor: its metadata (and storage bytes, checked once)."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype


@dataclass(frozen=True, slots=True)
class _Alias:
    """An output that is input tensor number ``index`` itself (in-place ops)."""

    index: int


@dataclass(frozen=True, slots=True)
class _Replay:
    """How to rebuild an op's outputs from its inputs without running its kernel."""

    structure: Hashable  # nested tuples/lists of leaf indices, mirrors the output
    leaves: tuple[_Fresh | _Alias | Hashable, ...]


_UNCACHEABLE: Final = object()


@dataclass
class MetaKernelCache:
    """Replays meta-kernel results per op signature; mutable, lives for one trace."""

    entries: dict[Hashable, _Replay | object] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def run(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        """``func(*args, **kwargs)``, from the cache when its signature was seen."""
        tensors: list[torch.Tensor] = []
        key = _signature(func, args, kwargs, tensors)
        if key is None:
            return func(*args, **kwargs)
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            before = [_metadata(t) for t in tensors]
            out = func(*args, **kwargs)
            after = [_metadata(t) for t in tensors]
            replay = _template(out, tensors) if before == after else None
            self.entries[key] = _UNCACHEABLE if replay is None else replay
            return out
        if entry is _UNCACHEABLE:
            return func(*args, **kwargs)
        self.hits += 1
        assert isinstance(entry, _Replay)
        return _rebuild(entry, tensors, entry.structure)


def _metadata(tensor: torch.Tensor) -> tuple[Any, ...]:
    return (tuple(tensor.shape), tensor.stride(), tensor.storage_offset(), tensor.dtype)


def _signature(
    func: Any, args: Sequence[Any], kwargs: dict[str, Any], tensors: list[torch.Tensor]
) -> Hashable | None:
    """The op's cache key (filling ``tensors`` with its tensor arguments), or None."""
    # NB: plain recursive functions, no closures: a self-referencing closure is a reference
    # cycle that would keep the op's tensors alive until the garbage collector runs, and
    # the trace measures when tensors die (peak live bytes)
    ids: dict[int, int] = {}
    storages: dict[int, int] = {}
    try:
        return (
            func,
            tuple(_key(a, tensors, ids, storages) for a in args),
            tuple(
                (name, _key(value, tensors, ids, storages))
                for name, value in sorted(kwargs.items())
            ),
        )
    except _NotCacheable:
        return None


def _key(
    value: Any, tensors: list[torch.Tensor], ids: dict[int, int], storages: dict[int, int]
) -> Hashable:
    if isinstance(value, torch.Tensor):
        if value.device.type != "meta" or type(value) not in _TENSOR_TYPES:
            raise _NotCacheable
        index = len(tensors)
        tensors.append(value)
        return (
            tuple(value.shape),
            value.stride(),
            value.storage_offset(),
            value.dtype,
            value.requires_grad,
            ids.setdefault(id(value), index),
            storages.setdefault(value.untyped_storage()._cdata, index),
        )
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, *(_key(item, tensors, ids, storages) for item in value))
    if isinstance(value, (*_SCALARS, *_SCALARS_EXTRA)):
        return (type(value).__name__, value)
    raise _NotCacheable


class _NotCacheable(Exception):
    """An argument or output the cache cannot capture: run the real kernel."""


@dataclass
class _Outputs:
    """What `_template` has seen of an op's outputs so far."""

    by_id: dict[int, int]
    input_storages: set[int]
    storages: set[int] = field(default_factory=set)
    leaves: list[_Fresh | _Alias | Hashable] = field(default_factory=list)


def _template(out: Any, inputs: list[torch.Tensor]) -> _Replay | None:
    """How to replay ``out``, or None when replaying could differ from running."""
    seen = _Outputs(
        by_id={id(t): index for index, t in reversed(list(enumerate(inputs)))},
        input_storages={t.untyped_storage()._cdata for t in inputs},
    )
    try:
        structure = _output(out, seen)
    except _NotCacheable:
        return None
    return _Replay(structure, tuple(seen.leaves))


def _output(value: Any, seen: _Outputs) -> Hashable:
    if isinstance(value, torch.Tensor):
        if id(value) in seen.by_id:
            seen.leaves.append(_Alias(seen.by_id[id(value)]))
            return len(seen.leaves) - 1
        storage = value.untyped_storage()
        if (
            type(value) is not torch.Tensor
            or value.device.type != "meta"
            or value.requires_grad
            or value.storage_offset() != 0
            or storage._cdata in seen.input_storages
            or storage._cdata in seen.storages
        ):
            raise _NotCacheable
        seen.storages.add(storage._cdata)
        fresh = _Fresh(tuple(value.shape), value.stride(), value.dtype)
        if _new(fresh).untyped_storage().nbytes() != storage.nbytes():
            raise _NotCacheable
        seen.leaves.append(fresh)
        return len(seen.leaves) - 1
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_output(item, seen) for item in value))
    if isinstance(value, (int, float, bool, type(None))):
        seen.leaves.append(("const", value))
        return len(seen.leaves) - 1
    raise _NotCacheable


def _new(fresh: _Fresh) -> torch.Tensor:
    return torch.empty_strided(fresh.shape, fresh.stride, dtype=fresh.dtype, device="meta")


def _rebuild(replay: _Replay, inputs: list[torch.Tensor], node: Hashable) -> Any:
    if isinstance(node, int):
        leaf = replay.leaves[node]
        if isinstance(leaf, _Fresh):
            return _new(leaf)
        if isinstance(leaf, _Alias):
            return inputs[leaf.index]
        assert isinstance(leaf, tuple)
        return leaf[1]
    assert isinstance(node, tuple)
    kind, items = node
    built = [_rebuild(replay, inputs, item) for item in items]
    return built if kind == "list" else tuple(built)


class MetaCacheMode(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Run ops through a `MetaKernelCache` without recording them (optimizer state set-up)."""

    def __init__(self, cache: MetaKernelCache) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.cache = cache

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        return self.cache.run(func, args, kwargs or {})
