"""aten op → (category, dims): the tracer's classification rules.

View-like ops (the schema says the output aliases an input and is not written) are
metadata: they are folded away at zero cost. Everything else lands in one `Category`;
an op no rule knows becomes ``other`` and is reported as unsupported, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import torch

from perfsim.ir import Category

# fused attention backward kernels (what CUDA runs; the meta/CPU trace of a training step
# with dropout takes the math path, whose backward is bmm)
ATTENTION_BACKWARD: Final = (
    "_scaled_dot_product_flash_attention_backward",
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "_scaled_dot_product_efficient_attention_backward",
    "_scaled_dot_product_cudnn_attention_backward",
)

# aten base name (overload packet name without "aten.") → category.
# Backward ops sit beside their forward op: a gradient keeps its forward category.
CATEGORY_OF: Final[Mapping[str, Category]] = {
    **dict.fromkeys(["mm", "addmm", "linear", "_addmm_activation"], Category.GEMM),
    **dict.fromkeys(
        [
            "bmm",
            "baddbmm",
            "_scaled_dot_product_flash_attention",
            "_scaled_dot_product_flash_attention_for_cpu",
            "_scaled_dot_product_efficient_attention",
            "_scaled_dot_product_cudnn_attention",
            *ATTENTION_BACKWARD,
        ],
        Category.ATTN_GEMM,
    ),
    **dict.fromkeys(
        [
            "_softmax",
            "_safe_softmax",
            "softmax",
            "_log_softmax",
            "_softmax_backward_data",
            "_log_softmax_backward_data",
        ],
        Category.SOFTMAX,
    ),
    **dict.fromkeys(
        ["native_layer_norm", "layer_norm", "native_layer_norm_backward"], Category.LAYERNORM
    ),
    **dict.fromkeys(
        [
            "gelu",
            "relu",
            "tanh",
            "sigmoid",
            "silu",
            "gelu_",
            "relu_",
            "tanh_",
            "gelu_backward",
            "tanh_backward",
            "sigmoid_backward",
            "silu_backward",
            "threshold_backward",
        ],
        Category.GELU,
    ),
    **dict.fromkeys(
        ["native_dropout", "dropout", "bernoulli", "bernoulli_", "native_dropout_backward"],
        Category.DROPOUT,
    ),
    **dict.fromkeys(
        [
            "add",
            "add_",
            "sub",
            "sub_",
            "rsub",
            "mul",
            "mul_",
            "div",
            "div_",
            "neg",
            "pow",
            "sqrt",
            "rsqrt",
            "exp",
            "log",
            "abs",
            "erf",
            "reciprocal",
            "clamp",
            "clamp_min",
            "clamp_max",
            "maximum",
            "minimum",
            "where",
            "masked_fill",
            "masked_fill_",
            "eq",
            "ne",
            "lt",
            "le",
            "gt",
            "ge",
            "logical_not",
            "logical_and",
            "logical_or",
            "bitwise_not",
            "bitwise_and",
            "bitwise_or",
            "addcmul",
            "addcmul_",
            "addcdiv",
            "addcdiv_",
            "lerp",
            "lerp_",
            "sign",
            "floor",
            "ceil",
            "round",
            "sin",
            "cos",
            "log1p",
            "expm1",
            "square",
            "fmod",
            "remainder",
            "floor_divide",
        ],
        Category.ELEMENTWISE,
    ),
    **dict.fromkeys(["embedding", "embedding_dense_backward"], Category.EMBEDDING),
    **dict.fromkeys(
        [
            "sum",
            "mean",
            "amax",
            "amin",
            "max",
            "min",
            "var",
            "var_mean",
            "std",
            "norm",
            "linalg_vector_norm",
            "argmax",
            "argmin",
            "cumsum",
            "any",
            "all",
            "prod",
            "logsumexp",
            "_foreach_norm",
            "binary_cross_entropy_with_logits",
            "mse_loss",
        ],
        Category.REDUCTION,
    ),
    **dict.fromkeys(
        [
            "clone",
            "copy",
            "copy_",
            "_to_copy",
            "contiguous",
            "cat",
            "stack",
            "index",
            "index_select",
            "gather",
            "constant_pad_nd",
            "repeat",
            "slice_scatter",
            "select_scatter",
            "index_put",
            "index_put_",
            "scatter",
            "zeros",
            "ones",
            "full",
            "zeros_like",
            "ones_like",
            "full_like",
            "arange",
            "fill",
            "fill_",
            "zero_",
            "new_zeros",
            "new_ones",
            "new_full",
            "tril",
            "triu",
            "masked_scatter",
            "flip",
            "roll",
            "lift_fresh_copy",
            "scalar_tensor",
            # backward of views and indexing: scatter the gradient into a zero tensor
            "select_backward",
            "slice_backward",
            "index_select_backward",
            "gather_backward",
            "nll_loss_backward",
            "nll_loss2d_backward",
            "expand_backward",
            "as_strided_scatter",
            "scatter_add",
            "index_add",
            # the loss: NLL gathers one log-probability per row (and averages them)
            "nll_loss_forward",
            "nll_loss2d_forward",
        ],
        Category.DATA_MOVEMENT,
    ),
}

# allocations without initialization write nothing: free, like views
# and reshapes whose schema does not declare the alias they are (_unsafe_view)
FREE_OPS: Final = frozenset(
    {
        "empty",
        "empty_like",
        "empty_strided",
        "new_empty",
        "new_empty_strided",
        "lift_fresh",
        "_local_scalar_dense",
        "sym_size",
        "sym_numel",
        "_unsafe_view",
        "_reshape_alias",
        # profiler markers an optimizer step emits
        "_record_function_enter",
        "_record_function_enter_new",
        "_record_function_exit",
    }
)


def base_name(func: Any) -> str:
    """``aten.addmm.default`` → ``addmm``."""
    return str(func.overloadpacket.__name__)


def is_metadata_op(func: Any) -> bool:
    """True for view-like ops: every returned tensor aliases an input and is not written."""
    if base_name(func) in FREE_OPS:
        return True
    returns = func._schema.returns
    if not returns:
        return False
    return all(r.alias_info is not None and not r.alias_info.is_write for r in returns)


def classify(func: Any) -> Category:
    """The category of an aten op, ``OTHER`` when no rule knows it."""
    return CATEGORY_OF.get(base_name(func), Category.OTHER)


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in value.shape)


def matrix_dims(func: Any, args: Sequence[Any]) -> dict[str, int]:
    """``{b, m, n, k}`` (and ``v`` for fused attention) of a matrix op from its arguments."""
    name = base_name(func)
    if name in {"mm"}:
        (m, k), (_, n) = _shape(args[0]), _shape(args[1])
        return {"b": 1, "m": m, "n": n, "k": k}
    if name in {"addmm", "_addmm_activation"}:
        (m, k), (_, n) = _shape(args[1]), _shape(args[2])
        return {"b": 1, "m": m, "n": n, "k": k}
    if name == "linear":
        x, w = _shape(args[0]), _shape(args[1])
        m = 1
        for size in x[:-1]:
            m *= size
        return {"b": 1, "m": m, "n": w[0], "k": x[-1]}
    if name == "bmm":
        (b, m, k), (_, _, n) = _shape(args[0]), _shape(args[1])
        return {"b": b, "m": m, "n": n, "k": k}
    if name == "baddbmm":
        (b, m, k), (_, _, n) = _shape(args[1]), _shape(args[2])
        return {"b": b, "m": m, "n": n, "k": k}
    # fused attention: q [..., L, E], k [..., S, E], v [..., S, Ev]; its backward takes
    # grad_out first and does two products per forward product (FlopCounterMode's rule)
    backward = name in ATTENTION_BACKWARD
    first = 1 if backward else 0
    q, key, value = (_shape(args[first + i]) for i in range(3))
    batch = 1
    for size in q[:-2]:
        batch *= size
    dims = {"b": batch, "m": q[-2], "n": key[-2], "k": q[-1], "v": value[-1]}
    return {**dims, "passes": 2} if backward else dims


def op_attrs(func: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, int]:
    """Small integer attributes the counting rules need (GELU flavour, layer-norm affine)."""
    name = base_name(func)
    if name.startswith("gelu"):
        approximate = kwargs.get("approximate", args[1] if len(args) > 1 else "none")
        return {"tanh": int(approximate == "tanh")}
    if name in {"native_layer_norm", "layer_norm"}:
        weight = args[2] if len(args) > 2 else kwargs.get("weight")
        return {"affine": int(isinstance(weight, torch.Tensor))}
    return {}
