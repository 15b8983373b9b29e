"""Trace one real training step on meta: forward (dropout on), loss, backward, optimizer.

What runs, in order, under one capture (`perfsim.trace.capture`):

1. *forward* — the model with its training head (`perfsim.trace.build.HEAD_CLASSES`) on
   token ids and labels, in train mode, so dropout runs; the head computes the loss.
2. *backward* — ``loss.backward()``: the ops autograd really runs. With fp16 the loss is
   first multiplied by the loss scale (``scaled = loss.float() * scale``).
3. *optimizer* — for mixed precision, the fp32 master gradients (a cast of each half
   gradient), the fp16 unscale (one multiply per gradient) and the inf/nan check (one sum
   per gradient: a sum is non-finite iff some element is, DeepSpeed's ``_has_inf_or_nan``
   in ``deepspeed/runtime/fp16/loss_scaler.py``); then the optimizer step
   (`perfsim.trace.optimizers`); then, for mixed precision, the copy of each fp32 master
   weight back into the half model weight.

Mixed precision (``fp16``/``bf16``) is traced as the "O2" scheme of NVIDIA apex and of
DeepSpeed's fp16 optimizer: the model itself is half precision (every forward and backward
op, layer norm and softmax included, runs in half), the optimizer owns fp32 master weights
and fp32 state. With ``workload.autocast`` it is traced as ``torch.autocast`` runs it
("O1", PyTorch AMP, Hugging Face Trainer's ``fp16=True`` / ``bf16=True``): the model and
optimizer stay fp32, the forward runs under `perfsim.trace.autocast.MetaAutocast` (matrix
ops in half with their inputs cast, weights once per step; LayerNorm, softmax and the loss
in fp32; casts recorded as ops, their backward casting the gradients back), the fp16 loss
is scaled and every gradient unscaled once before the step (GradScaler's
``_amp_foreach_non_finite_check_and_unscale_``, its inf check in the same pass; bf16 runs
unscaled, as GradScaler is not used with it). The step is traced in its final dtypes, and
`perfsim.precision.apply_precision` leaves a training graph as it is.

Memory (``meta.memory``, bytes, see `perfsim.training.footprint`): ``weights`` (model
parameters, shared tensors once), ``gradients`` (every ``.grad`` alive after the step:
half gradients and fp32 master gradients), ``optimizer_state`` (optimizer state tensors,
plus the fp32 master weights under mixed precision, as the ZeRO paper counts them),
``activations`` (storages autograd saves for backward, seen by ``saved_tensors_hooks``,
de-duplicated by storage, parameters excluded; with checkpointing, plus each checkpointed
layer's inputs, which the checkpoint keeps for its recompute) and ``peak_live`` (the most
bytes of tensors created during the step alive at once, measured by the capture).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from perfsim.dtypes import TRACED_AS
from perfsim.errors import TraceError, WorkloadError
from perfsim.ir import GraphMeta, OpGraph
from perfsim.trace.autocast import AUTOCAST_DTYPES, MetaAutocast
from perfsim.trace.build import build_training_model, training_inputs
from perfsim.trace.capture import Recorder, capture, dtype_name, new_recorder
from perfsim.trace.dropout import FusedDropoutMode
from perfsim.trace.metacache import MetaKernelCache
from perfsim.trace.optimizers import initialize_state, make_optimizer
from perfsim.trace.softmax import HalfToFloatSoftmaxMode
from perfsim.workload import Workload

# static loss scale for fp16 (its value changes no cost; dynamic scaling adds host logic only)
LOSS_SCALE = 2.0**16

MODEL_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _storage_key(tensor: torch.Tensor) -> int:
    return int(tensor.untyped_storage()._cdata)


def _storage_bytes(tensors: Any) -> int:
    """Bytes of the distinct storages behind ``tensors``."""
    seen: dict[int, int] = {}
    for tensor in tensors:
        if isinstance(tensor, torch.Tensor) and tensor.device.type == "meta":
            seen[_storage_key(tensor)] = tensor.untyped_storage().nbytes()
    return sum(seen.values())


def _state_tensors(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [
        value
        for state in optimizer.state.values()
        for value in state.values()
        if isinstance(value, torch.Tensor)
    ]


@contextmanager
def _checkpoint_inputs(model: torch.nn.Module, kept: dict[int, int]) -> Iterator[None]:
    """Record the tensors each checkpointed layer keeps for its recompute (its inputs)."""
    patched = []
    for module in model.modules():
        original = module.__dict__.get("_gradient_checkpointing_func")
        if original is None:
            continue

        def keep(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            for value in (*args, *kwargs.values()):
                if isinstance(value, torch.Tensor) and value.device.type == "meta":
                    kept[_storage_key(value)] = value.untyped_storage().nbytes()
            return _original(*args, **kwargs)

        module.__dict__["_gradient_checkpointing_func"] = keep
        patched.append((module, original))
    try:
        yield
    finally:
        for module, original in patched:
            module.__dict__["_gradient_checkpointing_func"] = original


@contextmanager
def _forward_modes(autocast: torch.dtype | None) -> Iterator[None]:
    """The torch-function modes a forward runs under: CUDA's fused dropout and half-to-float
    softmax kernels, and autocast if asked (innermost, so that its calls reach the others)."""
    with FusedDropoutMode(), HalfToFloatSoftmaxMode():
        if autocast is None:
            yield
        else:
            with MetaAutocast(autocast):
                yield


def _enable_checkpointing(model: Any, where: str, autocast: torch.dtype | None) -> None:
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise WorkloadError(f"{where}: --checkpointing: this model type does not support it")

    # the recomputation runs on autograd's thread, where the forward's torch-function modes
    # are not active: hand them to both passes (checkpoint's context_fn), as checkpoint
    # restores a real autocast state for the recompute
    def contexts() -> tuple[Any, Any]:
        return _forward_modes(autocast), _forward_modes(autocast)

    kwargs = {"use_reentrant": False, "context_fn": contexts}
    # a training step keeps no key/value cache; saying so spares transformers' one-line
    # warning ("use_cache=True is incompatible with gradient checkpointing") on stderr
    if getattr(model.config, "use_cache", None):
        model.config.use_cache = False
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


@dataclass(frozen=True, slots=True)
class _Trainee:
    """What one training step runs: the model, its trainable parameters, the optimizer's
    fp32 master copies of them (the parameters themselves in fp32) and the inputs."""

    model: Any
    params: list[torch.Tensor]
    masters: list[torch.Tensor]
    optimizer: torch.optim.Optimizer
    inputs: dict[str, torch.Tensor]
    cache: MetaKernelCache | None
    autocast: torch.dtype | None  # the lower precision of an autocast step, else None


def trace_training_step(workload: Workload, *, fast: bool = True) -> OpGraph:
    """Trace one steady-state training step of a training workload (see the module
    docstring); its precision is ``workload.precision`` (fp32 when unset).

    ``fast`` runs each meta kernel once per op signature and replays it after
    (`perfsim.trace.metacache`): the same graph, several times sooner; ``fast=False`` runs
    every kernel, the reference the fast trace is tested against.
    """
    # a tf32 step is traced in fp32 and its matrix ops retyped when it is costed
    # (`perfsim.precision.apply_precision`)
    asked = workload.precision or "fp32"
    precision = TRACED_AS.get(asked, asked)
    trainee = _trainee(workload, precision, fast)
    recorder = new_recorder(trainee.model)
    persistent = [
        *trainee.model.parameters(),
        *trainee.masters,
        *_state_tensors(trainee.optimizer),
        *trainee.inputs.values(),
    ]
    recorder.persistent.update(_storage_key(t) for t in persistent if t.device.type == "meta")
    saved, ready = _record_step(trainee, recorder, precision)
    return OpGraph(
        ops=tuple(recorder.ops),
        meta=GraphMeta(
            params=sum(p.numel() for p in trainee.model.parameters()),
            trainable_params=sum(p.numel() for p in trainee.params),
            grad_ready=tuple((int(i), int(n), str(d)) for i, n, d in ready),
            memory=_step_memory(trainee, precision, saved, recorder.peak_bytes),
            folded_ops=recorder.folded,
            unsupported=dict(recorder.unsupported),
            head=workload.head,
            head_class=type(trainee.model).__name__,
            optimizer=workload.training_optimizer,
            checkpointing=workload.checkpointing,
            autocast=True if trainee.autocast is not None else None,
            trace_precision=precision,
        ),
    )


def _trainee(workload: Workload, precision: str, fast: bool) -> _Trainee:
    """Build the model in its precision (checkpointed if asked), its optimizer with
    initialized state, and the step's inputs."""
    spec = workload.model
    where = spec.source or spec.name
    if precision not in MODEL_DTYPES:
        raise WorkloadError(
            f"{where}: --precision {precision}: training is traced in fp32, fp16 or bf16"
        )
    autocast = AUTOCAST_DTYPES[precision] if workload.autocast else None
    model_dtype = torch.float32 if autocast is not None else MODEL_DTYPES[precision]
    model = build_training_model(spec, workload.head, model_dtype)
    if workload.checkpointing:
        _enable_checkpointing(model, where, autocast)
    params: list[torch.Tensor] = [p for p in model.parameters() if p.requires_grad]
    mixed = precision != "fp32" and autocast is None
    masters = [p.detach().float().requires_grad_() for p in params] if mixed else params
    opt = make_optimizer(workload.training_optimizer, masters)
    cache = MetaKernelCache() if fast else None
    initialize_state(opt, cache)
    inputs = training_inputs(model, workload.batch, workload.seq)
    return _Trainee(model, params, masters, opt, inputs, cache, autocast)


def _record_step(
    trainee: _Trainee, recorder: Recorder, precision: str
) -> tuple[dict[int, int], list[list[Any]]]:
    """Run forward, backward and optimizer under the capture.

    Returns the bytes of each storage autograd saved for backward (parameters excluded;
    checkpointed layers' inputs included) and, per gradient in the order it became final,
    ``[ops recorded before it, elements, dtype]``.
    """
    model = trainee.model
    parameter_storages = {_storage_key(p) for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.device.type == "meta":
            key = _storage_key(tensor)
            if key not in parameter_storages:
                saved[key] = tensor.untyped_storage().nbytes()
        return tensor

    ready: dict[int, list[Any]] = {}

    def on_grad_ready(param: torch.Tensor) -> None:
        ready.pop(id(param), None)  # a later accumulation supersedes (kept in final order)
        ready[id(param)] = [len(recorder.ops), param.numel(), dtype_name(param.dtype)]

    handles = [
        p.register_post_accumulate_grad_hook(on_grad_ready)  # type: ignore[no-untyped-call]
        for p in trainee.params
    ]
    try:
        with _checkpoint_inputs(model, saved), capture(model, recorder, trainee.cache):
            with (
                _forward_modes(trainee.autocast),
                torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor),
            ):
                loss = model(**trainee.inputs).loss
            with FusedDropoutMode():
                if precision == "fp16":
                    loss = loss.float() * LOSS_SCALE
                recorder.phase = "backward"
                loss.backward()
                del loss
                recorder.phase = "optimizer"
                if trainee.autocast is not None:
                    _autocast_step(trainee.optimizer, trainee.params, precision)
                else:
                    _step(trainee.optimizer, trainee.params, trainee.masters, precision)
    except (RuntimeError, ValueError, TypeError, IndexError, AttributeError) as error:
        raise _trace_error(recorder, error) from None
    finally:
        for handle in handles:
            handle.remove()
    return saved, list(ready.values())


def _step_memory(
    trainee: _Trainee, precision: str, saved: Mapping[int, int], peak_live: int
) -> dict[str, int]:
    """``meta.memory``: bytes by kind (see the module docstring)."""
    mixed = precision != "fp32" and trainee.autocast is None  # separate fp32 masters
    gradients = [
        p.grad
        for p in {id(t): t for t in (*trainee.params, *trainee.masters)}.values()
        if p.grad is not None
    ]
    return {
        "weights": _storage_bytes(trainee.model.parameters()),
        "gradients": _storage_bytes(gradients),
        "optimizer_state": _storage_bytes(_state_tensors(trainee.optimizer))
        + (_storage_bytes(trainee.masters) if mixed else 0),
        "activations": sum(saved.values()),
        "peak_live": peak_live,
    }


def _step(
    opt: torch.optim.Optimizer,
    params: list[torch.Tensor],
    masters: list[torch.Tensor],
    precision: str,
) -> None:
    """Master gradients, unscale and overflow check, optimizer step, master copy-back."""
    if precision == "fp32":
        opt.step()
        return
    with torch.no_grad():
        for param, master in zip(params, masters, strict=True):
            if param.grad is None:
                continue
            master.grad = param.grad.float()
            if precision == "fp16":
                master.grad.mul_(1.0 / LOSS_SCALE)
                master.grad.sum()  # non-finite iff some element is (DeepSpeed's check)
        opt.step()
        for param, master in zip(params, masters, strict=True):
            param.copy_(master)


def _autocast_step(opt: torch.optim.Optimizer, params: list[torch.Tensor], precision: str) -> None:
    """GradScaler's unscale (fp16 only: one read and write of each fp32 gradient, the
    inf/nan check in the same pass), then the optimizer step on the fp32 parameters."""
    if precision == "fp16":
        with torch.no_grad():
            for param in params:
                if param.grad is not None:
                    param.grad.mul_(1.0 / LOSS_SCALE)
    opt.step()


def _trace_error(recorder: Recorder, error: Exception) -> TraceError:
    where = recorder.scopes[-1] or "<model>"
    return TraceError(
        f"tracing the training step failed in {recorder.phase} at module {where!r}: "
        f"{str(error).splitlines()[0]}"
    )
