"""``torch.autocast("cuda")`` for meta tensors: the casts an AMP ("O1") step really runs.

``torch.autocast`` acts at the dispatcher's Autocast keys, which meta tensors do not carry
(nor does it enable without a GPU), so a step traced on meta would run every op in fp32.
This mode applies CUDA autocast's cast policies at the Python function boundary instead,
above autograd, so autograd records each cast and its backward (the gradient cast back to
the input's dtype) as it does under real autocast. The policies are those of PyTorch's
``aten/src/ATen/autocast_mode.cpp`` (``TORCH_LIBRARY_IMPL(aten, AutocastCUDA, m)``):

- ``lower_precision_fp``: floating-point inputs cast to the autocast dtype (fp16 or bf16):
  the matrix ops (``linear``, ``matmul``, ``mm``, ``bmm``, ``addmm``, ``baddbmm``, ...,
  ``einsum``) and ``scaled_dot_product_attention``;
- ``fp32``: inputs cast to fp32: ``layer_norm``, ``group_norm``, the losses
  (``nll_loss``, ``mse_loss``, ...), ``exp``, ``log``, ``pow``, ``rsqrt``,
  ``reciprocal``, ``logsumexp``, ...;
- ``fp32_set_opt_dtype``: ``softmax``, ``log_softmax``, ``sum``, ``cumsum``, ``prod``,
  ``cumprod`` run with ``dtype=float32``: the kernel reads the half input and writes fp32,
  with no cast kernel before it; ``cross_entropy`` (``log_softmax`` + ``nll_loss``
  underneath, as ATen composes it) runs as exactly that;
- everything else runs in its inputs' dtypes, with PyTorch's type promotion (an fp16 +
  fp32 add runs in fp32, as autocast's ``promote`` ops and every unlisted op do).

As autocast does, a cast of a leaf tensor that requires grad (a parameter) is made once
per autocast region and reused (``at::autocast::cached_cast``); other tensors are cast at
each use. Ops called with an explicit ``dtype=`` keep it. NB: the policy is applied to the
public function a model calls (``F.linear``, ``torch.matmul``, ``F.softmax``), which is
the aten op of the same name for every op BERT-family models use; an op reached only
inside another function's Python body is not intercepted (none in these models).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import torch
from torch.utils._pytree import tree_map

from perfsim.trace.modes import PASS, CallRewrite

LOWER_PRECISION: Final = frozenset(
    {
        "linear",
        "matmul",
        "__matmul__",
        "__rmatmul__",
        "mm",
        "mv",
        "bmm",
        "addmm",
        "addmv",
        "addr",
        "addbmm",
        "baddbmm",
        "chain_matmul",
        "multi_dot",
        "einsum",
        "prelu",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "scaled_dot_product_attention",
    }
)
FP32: Final = frozenset(
    {
        "acos",
        "asin",
        "cosh",
        "erfinv",
        "exp",
        "expm1",
        "log",
        "log10",
        "log2",
        "log1p",
        "reciprocal",
        "rsqrt",
        "sinh",
        "tan",
        "pow",
        "__pow__",
        "__rpow__",
        "softplus",
        "layer_norm",
        "group_norm",
        "cosine_similarity",
        "poisson_nll_loss",
        "cosine_embedding_loss",
        "nll_loss",
        "hinge_embedding_loss",
        "kl_div",
        "l1_loss",
        "smooth_l1_loss",
        "huber_loss",
        "mse_loss",
        "margin_ranking_loss",
        "multilabel_margin_loss",
        "soft_margin_loss",
        "triplet_margin_loss",
        "multi_margin_loss",
        "binary_cross_entropy_with_logits",
        "dist",
        "pdist",
        "cdist",
        "renorm",
        "logsumexp",
    }
)
# fp32_set_opt_dtype: the op itself computes and writes fp32 from a half input
FP32_OUTPUT: Final = frozenset({"softmax", "log_softmax", "sum", "cumsum", "prod", "cumprod"})
AUTOCAST_DTYPES: Final = {"fp16": torch.float16, "bf16": torch.bfloat16}


def policy_of(func: Callable[..., Any]) -> str | None:
    """``lower``, ``fp32``, ``fp32_output`` (``dtype=float32`` on the op itself),
    ``cross_entropy`` or None (runs in its inputs' dtypes) for a torch function."""
    name = getattr(func, "__name__", "")
    if name in LOWER_PRECISION:
        return "lower"
    if name in FP32:
        return "fp32"
    if name in FP32_OUTPUT:
        return "fp32_output"
    if name == "cross_entropy":
        return "cross_entropy"
    return None


def _half(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype in (torch.float16, torch.bfloat16)


def _cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> torch.Tensor | None:
    """ATen's ``cross_entropy_loss`` composition under autocast: ``log_softmax`` with
    ``dtype=float32`` (reads the half logits, writes fp32), then ``nll_loss``; None where
    that composition differs (label smoothing, probability targets, legacy arguments)."""
    F = torch.nn.functional
    if label_smoothing or size_average is not None or reduce is not None:
        return None
    if target.is_floating_point():
        return None
    class_dim = 1 if input.dim() >= 2 else 0
    log_probs = F.log_softmax(input, dim=class_dim, dtype=torch.float32)
    return F.nll_loss(
        log_probs,
        target,
        weight=weight.float() if weight is not None else None,
        ignore_index=ignore_index,
        reduction=reduction,
    )


class MetaAutocast(CallRewrite):
    """Within the mode, torch functions cast their floating inputs as CUDA autocast would
    (module docstring); ``dtype`` is the lower precision, fp16 or bf16."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype
        self._cache: dict[int, torch.Tensor] = {}

    def rewrite(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        found = policy_of(func)
        if found is None or kwargs.get("dtype") is not None:
            return PASS
        if found == "fp32_output":
            if args and _half(args[0]):
                return func(*args, **{**kwargs, "dtype": torch.float32})
            return PASS
        if found == "cross_entropy":
            if args and _half(args[0]):
                composed = _cross_entropy(*args, **kwargs)
                if composed is not None:
                    return composed
            found = "fp32"  # anything else: its inputs cast to fp32, as its ops would run
        target = self.dtype if found == "lower" else torch.float32

        def cast(value: Any) -> Any:
            return self._cast(value, target)

        return func(*tree_map(cast, args), **tree_map(cast, kwargs))

    def _cast(self, value: Any, target: torch.dtype) -> Any:
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            return value
        if value.dtype in (target, torch.float64):
            return value  # autocast leaves fp64 alone
        if value.is_leaf and value.requires_grad:  # a parameter: cast once per region
            key = id(value)
            cached = self._cache.get(key)
            if cached is None or cached.dtype != target:
                cached = self._cache[key] = value.to(target)
            return cached
        return value.to(target)
