"""Record every aten op a module runs, under a `TorchDispatchMode`, on meta tensors.

Module paths come from forward pre/post hooks registered on the model's own modules (and
removed afterwards): no global hooks, no state outside the `Recorder` of one trace. The
pattern follows ``torch.utils.flop_counter.FlopCounterMode``.

Training steps: backward ops have no module hooks around them. Autograd numbers every node
it creates (a thread-local sequence number, taken when the forward op runs), so each forward
op records ``sequence number -> (scope, layer)``; in backward the node being run
(``torch._C._current_autograd_node()``) is looked up, and its ops keep the module scope and
layer of the forward op they differentiate. Ops recomputed by activation checkpointing run
inside the module hooks again and keep that deeper scope.

Dropout: on CPU and meta, ``F.dropout`` decomposes into ``bernoulli_`` (the mask), ``div_``
(scale the mask) and ``mul`` (apply it); a CUDA build runs ``native_dropout``. Every
element-wise op that reads a dropout mask is counted as ``dropout`` (forward and backward),
so the category means the same on every device.

Live memory: every tensor an op creates is tracked by storage until it dies (a weakref
finalizer), so the trace knows the peak bytes alive at once (`Recorder.peak_bytes`).
Storages that existed before the trace (weights, optimizer state) are not counted there.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakIdKeyDictionary

from perfsim.counting import count_bytes, count_flops
from perfsim.ir import Category, OpNode, TensorSpec
from perfsim.trace import aten_ops
from perfsim.trace.metacache import MetaKernelCache

_TORCH_DTYPES = {
    torch.float64: "fp64",
    torch.float32: "fp32",
    torch.float16: "fp16",
    torch.bfloat16: "bf16",
    torch.int64: "int64",
    torch.int32: "int32",
    torch.int16: "int16",
    torch.int8: "int8",
    torch.uint8: "uint8",
    torch.bool: "bool",
}


def dtype_name(dtype: torch.dtype) -> str:
    """perfsim's name for a torch dtype (fp8 variants map to ``fp8``)."""
    if dtype in _TORCH_DTYPES:
        return _TORCH_DTYPES[dtype]
    if "float8" in str(dtype):
        return "fp8"
    return str(dtype).removeprefix("torch.")


def _stored_numel(tensor: torch.Tensor) -> int:
    """Distinct elements: dimensions with stride 0 (broadcast) contribute once."""
    numel = 1
    for size, stride in zip(tensor.shape, tensor.stride(), strict=True):
        if stride != 0:
            numel *= int(size)
    return numel if tensor.dim() else 1


@dataclass
class Recorder:
    """Mutable state of one trace; discarded when the trace ends."""

    layer_modules: frozenset[int]
    phase: str = "forward"
    scopes: list[str] = field(default_factory=lambda: [""])
    layer_stack: list[int] = field(default_factory=lambda: [-1])
    layers_entered: int = 0
    ops: list[OpNode] = field(default_factory=list)
    names: Counter[str] = field(default_factory=Counter)
    folded: int = 0
    unsupported: Counter[str] = field(default_factory=Counter)
    producer: WeakIdKeyDictionary = field(default_factory=WeakIdKeyDictionary)
    role: WeakIdKeyDictionary = field(default_factory=WeakIdKeyDictionary)
    masks: WeakIdKeyDictionary = field(default_factory=WeakIdKeyDictionary)
    # autograd sequence number -> (scope, layer) of the forward op that created the node
    node_scopes: dict[int, tuple[str, int]] = field(default_factory=dict)
    # storages that existed before the trace (weights, optimizer state): not counted live
    persistent: set[int] = field(default_factory=set)
    live: dict[int, list[int]] = field(default_factory=dict)  # storage -> [bytes, refs]
    specs: dict[tuple[Any, ...], TensorSpec] = field(default_factory=dict)
    live_bytes: int = 0
    peak_bytes: int = 0

    def track(self, tensor: torch.Tensor) -> None:
        """Count a tensor's storage as live until its last tracked tensor dies."""
        if tensor.device.type != "meta":
            return
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key in self.persistent:
            return
        entry = self.live.get(key)
        if entry is None:
            entry = self.live[key] = [storage.nbytes(), 0]
            self.live_bytes += entry[0]
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        entry[1] += 1
        weakref.finalize(tensor, self._release, key)

    def _release(self, key: int) -> None:
        entry = self.live.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.live_bytes -= entry[0]
            del self.live[key]

    def where(self) -> tuple[str, int]:
        """Scope and layer of the op about to be recorded (see the module docstring)."""
        if self.phase != "backward":
            return self.scopes[-1], self.layer_stack[-1]
        node = torch._C._current_autograd_node()
        scope, layer = ("", -1)
        if node is not None:
            scope, layer = self.node_scopes.get(node._sequence_nr(), ("", -1))
        if len(self.scopes) > 1:  # recomputed forward (checkpointing): its own module
            scope = self.scopes[-1]
        return scope, layer

    def spec(self, tensor: torch.Tensor) -> TensorSpec:
        role = self.role.get(tensor)  # type: ignore[no-untyped-call]
        if role is None:
            role = "activation" if tensor.is_floating_point() else "index"
        # specs are frozen: one instance per distinct (shape, strides, dtype, role) serves all
        key = (tensor.shape, tensor.stride(), tensor.dtype, role)
        found = self.specs.get(key)
        if found is None:
            found = self.specs[key] = TensorSpec(
                tuple(int(s) for s in tensor.shape),
                dtype_name(tensor.dtype),
                _stored_numel(tensor),
                role,
            )
        return found

    def record(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> None:
        inputs = _tensors((args, kwargs), [])
        outputs = _tensors(out, [])
        if self.phase == "forward":
            # the node this op created (if any) took the number just before the counter
            key = torch._C._autograd._get_sequence_nr() - 1
            self.node_scopes.setdefault(key, (self.scopes[-1], self.layer_stack[-1]))
        for tensor in outputs:
            self.track(tensor)
        if _host_only(inputs, outputs):
            # scalar bookkeeping on the host (an optimizer's step counter): no device kernel
            self.folded += 1
            return
        if aten_ops.is_metadata_op(func):
            self.folded += 1
            for tensor in outputs:  # a view is produced by whoever produced its base
                if inputs and inputs[0] in self.producer:
                    self.producer[tensor] = self.producer[inputs[0]]
                if inputs and inputs[0] in self.role:
                    self.role[tensor] = self.role[inputs[0]]
            return
        category = aten_ops.classify(func)
        base = aten_ops.base_name(func)
        if base == "_to_copy" and inputs and self.role.get(inputs[0]) == "weight":
            for tensor in outputs:  # a weight in another dtype (autocast's cast of a parameter)
                self.role[tensor] = "weight"
        if category == Category.ELEMENTWISE and any(t in self.masks for t in inputs):
            category = Category.DROPOUT
            if base.endswith("_"):  # scaling the mask in place: still the mask
                for tensor in outputs:
                    self.masks[tensor] = True
        elif base.startswith("bernoulli"):
            for tensor in outputs:
                self.masks[tensor] = True
        if category == Category.OTHER:
            self.unsupported[str(func)] += 1
        input_specs = tuple(self.spec(t) for t in _unique(inputs))
        output_specs = tuple(self.spec(t) for t in outputs)
        dims = (
            aten_ops.matrix_dims(func, args)
            if category.is_matrix
            else aten_ops.op_attrs(func, args, kwargs)
        )
        macs, flops = count_flops(category, base, input_specs, output_specs, dims)
        bytes_read, bytes_written = count_bytes(category, base, input_specs, output_specs)
        if self.phase == "optimizer":  # counted by what it computes, filed as optimizer
            category = Category.OPTIMIZER
        scope, layer = self.where()
        stem = f"{scope}/{base}" if scope else base
        index = self.names[stem]
        self.names[stem] += 1
        producers = (self.producer.get(t) for t in inputs)  # type: ignore[no-untyped-call]
        deps = sorted({index for index in producers if index is not None})
        self.ops.append(
            OpNode(
                name=f"{stem}#{index}" if index else stem,
                category=category,
                target=str(func),
                scope=scope,
                layer=layer,
                phase=self.phase,
                inputs=input_specs,
                outputs=output_specs,
                dims=dims,
                macs=macs,
                flops=flops,
                bytes_read=bytes_read,
                bytes_written=bytes_written,
                deps=tuple(deps),
            )
        )
        for tensor in outputs:
            self.producer[tensor] = len(self.ops) - 1


def _tensors(value: Any, found: list[torch.Tensor]) -> list[torch.Tensor]:
    """The tensors in an op's arguments or result, in ``tree_flatten`` order.

    Aten arguments nest only lists, tuples and dicts; walking them directly is several
    times faster than the general pytree flatten, which shows on every op of a trace.
    """
    if isinstance(value, torch.Tensor):
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _tensors(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _tensors(item, found)
    return found


def _host_only(inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> bool:
    tensors = inputs + outputs
    return bool(tensors) and all(t.device.type == "cpu" for t in tensors)


def _unique(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    seen: set[int] = set()
    result = []
    for tensor in tensors:
        if id(tensor) not in seen:
            seen.add(id(tensor))
            result.append(tensor)
    return result


class _CaptureMode(TorchDispatchMode):  # type: ignore[no-untyped-call]
    def __init__(self, recorder: Recorder, cache: MetaKernelCache | None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.recorder = recorder
        self.cache = cache

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs) if self.cache is None else self.cache.run(func, args, kwargs)
        self.recorder.record(func, args, kwargs, out)
        return out


def layer_stack_modules(model: torch.nn.Module) -> frozenset[int]:
    """ids of the encoder-layer modules: the children of the longest ModuleList.

    ALBERT re-runs one shared layer module, so layer indices count *entries* into these
    modules, not module names.
    """
    best: list[torch.nn.Module] = []
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > len(best):
            best = list(module)
    return frozenset(id(m) for m in best)


@contextmanager
def capture(
    model: torch.nn.Module, recorder: Recorder, cache: MetaKernelCache | None = None
) -> Iterator[None]:
    """Hook every module for scopes and layer indices, and record ops under dispatch.

    With a ``cache``, meta kernels run once per op signature (`perfsim.trace.metacache`);
    the recorded ops are the same.
    """
    handles: list[Any] = []
    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(_enter(recorder, name, module)))
        handles.append(module.register_forward_hook(_leave(recorder, module)))
    for parameter in model.parameters():
        recorder.role[parameter] = "weight"
    try:
        with _CaptureMode(recorder, cache):
            yield
    finally:
        for handle in handles:
            handle.remove()


def _enter(recorder: Recorder, name: str, module: torch.nn.Module) -> Callable[..., None]:
    is_layer = id(module) in recorder.layer_modules

    def hook(*_: Any) -> None:
        recorder.scopes.append(name)
        if is_layer:
            recorder.layer_stack.append(recorder.layers_entered)
            recorder.layers_entered += 1

    return hook


def _leave(recorder: Recorder, module: torch.nn.Module) -> Callable[..., None]:
    is_layer = id(module) in recorder.layer_modules

    def hook(*_: Any) -> None:
        recorder.scopes.pop()
        if is_layer:
            recorder.layer_stack.pop()

    return hook


def new_recorder(model: torch.nn.Module) -> Recorder:
    """A fresh recorder for one trace of ``model``."""
    return Recorder(layer_modules=layer_stack_modules(model))
