"""Record every aten op a module runs, under a `TorchDispatchMode`, on meta tensors.

Module paths come from forward pre/post hooks registered on the model's own modules (and
removed afterwards): no global hooks, no state outside the `_Recorder` of one trace. The
pattern follows ``torch.utils.flop_counter.FlopCounterMode``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

from perfsim.counting import count_bytes, count_flops
from perfsim.ir import Category, OpNode, TensorSpec
from perfsim.trace import aten_ops

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
class _Recorder:
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

    def spec(self, tensor: torch.Tensor) -> TensorSpec:
        role = self.role.get(tensor)  # type: ignore[no-untyped-call]
        if role is None:
            role = "activation" if tensor.is_floating_point() else "index"
        return TensorSpec(
            tuple(int(s) for s in tensor.shape),
            dtype_name(tensor.dtype),
            _stored_numel(tensor),
            role,
        )

    def record(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> None:
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
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
        scope = self.scopes[-1]
        stem = f"{scope}/{base}" if scope else base
        index = self.names[stem]
        self.names[stem] += 1
        deps = sorted({self.producer[t] for t in inputs if t in self.producer})
        self.ops.append(
            OpNode(
                name=f"{stem}#{index}" if index else stem,
                category=category,
                target=str(func),
                scope=scope,
                layer=self.layer_stack[-1],
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


def _unique(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    seen: set[int] = set()
    result = []
    for tensor in tensors:
        if id(tensor) not in seen:
            seen.add(id(tensor))
            result.append(tensor)
    return result


class _CaptureMode(TorchDispatchMode):  # type: ignore[no-untyped-call]
    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.recorder = recorder

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
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
def capture(model: torch.nn.Module, recorder: _Recorder) -> Iterator[None]:
    """Hook every module for scopes and layer indices, and record ops under dispatch."""
    handles: list[Any] = []
    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(_enter(recorder, name, module)))
        handles.append(module.register_forward_hook(_leave(recorder, module)))
    for parameter in model.parameters():
        recorder.role[parameter] = "weight"
    try:
        with _CaptureMode(recorder):
            yield
    finally:
        for handle in handles:
            handle.remove()


def _enter(recorder: _Recorder, name: str, module: torch.nn.Module) -> Callable[..., None]:
    is_layer = id(module) in recorder.layer_modules

    def hook(*_: Any) -> None:
        recorder.scopes.append(name)
        if is_layer:
            recorder.layer_stack.append(recorder.layers_entered)
            recorder.layers_entered += 1

    return hook


def _leave(recorder: _Recorder, module: torch.nn.Module) -> Callable[..., None]:
    is_layer = id(module) in recorder.layer_modules

    def hook(*_: Any) -> None:
        recorder.scopes.pop()
        if is_layer:
            recorder.layer_stack.pop()

    return hook


def new_recorder(model: torch.nn.Module) -> _Recorder:
    """A fresh recorder for one trace of ``model``."""
    return _Recorder(layer_modules=layer_stack_modules(model))
