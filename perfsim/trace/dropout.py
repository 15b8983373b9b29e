"""Dropout as accelerators run it: one fused ``native_dropout`` kernel per call.

``aten::dropout`` takes its fused path (``native_dropout``: read the input, write the output
and a one-byte mask, in one kernel; backward ``native_dropout_backward`` reads the gradient
and the mask) only for CUDA tensors (``is_fused_kernel_acceptable`` in ATen's
``Dropout.cpp``). On meta tensors it falls back to the CPU decomposition: ``bernoulli_`` into
a mask of the input's dtype, ``div_`` by the keep probability, ``mul`` — three kernels and
about three times the traffic, which is not what a GPU or NPU training step runs. Training
steps are traced for accelerators, so this mode routes ``torch.nn.functional.dropout`` in
training to ``torch.native_dropout``, exactly as CUDA does.
"""

from __future__ import annotations

from typing import Any

import torch

from perfsim.trace.modes import PASS, CallRewrite


class FusedDropoutMode(CallRewrite):
    """Within the mode, training-time ``F.dropout`` runs ``torch.native_dropout``."""

    def rewrite(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if func is torch.nn.functional.dropout:
            fused = _fused_dropout(*args, **kwargs)
            if fused is not None:
                return fused
        return PASS


def _fused_dropout(
    input: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> torch.Tensor | None:
    """``native_dropout``'s output when CUDA would take the fused path, else None."""
    if not training or inplace or not 0.0 < p < 1.0 or input.numel() == 0:
        return None
    output, _mask = torch.native_dropout(input, p, True)
    return output
