"""A half-precision softmax asked for fp32 output, as CUDA runs it: one kernel.

``torch.softmax(x, dim, dtype=torch.float32)`` on an fp16 tensor (Hugging Face's eager
attention asks for it, and autocast's ``fp32_set_opt_dtype`` policy does the same for
``softmax`` / ``log_softmax``) takes ATen's fused path on CUDA: ``at::_softmax(input, dim,
half_to_float=true)``, one kernel reading fp16 and writing fp32 (``softmax`` /
``log_softmax`` in ``aten/src/ATen/native/SoftMax.cpp``: "if (input_.is_cuda() &&
input_.scalar_type() == ScalarType::Half && dtype == ScalarType::Float)"). On meta and CPU
tensors ATen converts first (``_to_copy``, then ``_softmax``): a cast kernel and twice the
softmax's input bytes that no GPU step runs. Training steps are traced for accelerators,
so this mode routes those calls to ``torch._softmax`` / ``torch._log_softmax`` with
``half_to_float``, exactly as CUDA does (as `perfsim.trace.dropout` does for dropout).
bf16 has no such path on CUDA either and is left as traced.
"""

from __future__ import annotations

from typing import Any

import torch

from perfsim.trace.modes import PASS, CallRewrite

F = torch.nn.functional

_FUSED = {
    F.softmax: torch._softmax,
    torch.softmax: torch._softmax,
    torch.Tensor.softmax: torch._softmax,
    F.log_softmax: torch._log_softmax,
    torch.log_softmax: torch._log_softmax,
    torch.Tensor.log_softmax: torch._log_softmax,
}


class HalfToFloatSoftmaxMode(CallRewrite):
    """Within the mode, an fp16 softmax / log-softmax with ``dtype=torch.float32`` runs as
    one half-to-float kernel."""

    def rewrite(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        fused = _FUSED.get(func)
        if fused is not None:
            dim = _half_to_float_dim(args, kwargs)
            if dim is not None:
                return fused(args[0], dim, True)
        return PASS


def _half_to_float_dim(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    """The softmax's dim when the call is fp16 in, fp32 out with an explicit dim, else None."""
    if not args or not isinstance(args[0], torch.Tensor) or args[0].dtype != torch.float16:
        return None
    if kwargs.get("dtype") != torch.float32:
        return None
    dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
    return dim if isinstance(dim, int) else None
