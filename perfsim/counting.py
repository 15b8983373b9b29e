"""FLOP and byte counting rules, written down in one place (no torch here).

Matrix ops: ``macs = b * m * n * k`` (plus ``b * m * n * v`` for the value product of a
fused attention op), ``flops = 2 * macs`` (see `perfsim.ir`). A fused attention backward
has ``passes == 2``: two products per forward product (dQ and dK from dS; dV and dP from
dO), as ``torch.utils.flop_counter`` counts it; the recomputed ``QK^T`` is not counted.

Everything else: ``flops = FLOPS_PER_ELEMENT[op] * elements``. A transcendental (exp,
erf, tanh, rsqrt) counts as one operation, like an add; how many cycles it takes is a
hardware question for the cycle-level engine, not a counting one. Elements are those of
the output, except for reductions and normalizations, which count their input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from perfsim.ir import Category, TensorSpec

# operations per element, with the arithmetic that gives each number
FLOPS_PER_ELEMENT: Final[Mapping[str, int]] = {
    # softmax(x)_i = exp(x_i - max x) / sum exp(...): max, subtract, exp, sum, divide
    "softmax": 5,
    # layer norm: mean (1 add), centre (1 sub), square (1 mul), variance sum (1 add),
    # scale by rstd (1 mul), gamma (1 mul), beta (1 add); the per-row rsqrt is negligible
    "layer_norm": 7,
    "layer_norm_no_affine": 5,
    # erf GELU: x/sqrt(2) (1), erf (1), +1 (1), *x (1), *0.5 (1)
    "gelu": 5,
    # tanh GELU: x^3 (2), *0.044715 (1), +x (1), *sqrt(2/pi) (1), tanh (1), +1 (1), *x (1), *0.5 (1)
    "gelu_tanh": 9,
    "relu": 1,
    "tanh": 1,
    "sigmoid": 4,  # neg, exp, +1, reciprocal
    "silu": 5,  # sigmoid (4) then *x
    # dropout: draw a random number and compare (1), scale by 1/(1-p) and mask (1)
    "dropout": 2,
    # element-wise arithmetic, comparisons and selects: one operation per output element
    "elementwise": 1,
    # addcmul / addcdiv / lerp style: a multiply (or divide) and an add
    "elementwise_fused": 2,
    # reductions: one add/compare per input element
    "reduction": 1,
    # copies, lookups and layout changes move data but compute nothing
    "data_movement": 0,
    "embedding": 0,
}

# element-wise aten ops whose cost per element differs from an add's (transcendentals,
# divisions, roots): each its own kind for the vector-cost tables, though each counts as
# one FLOP (`vector_kind`)
ELEMENTWISE_KINDS: Final = frozenset(
    {"div", "div_", "reciprocal", "exp", "log", "sqrt", "rsqrt", "pow", "erf", "sin", "cos"}
)
# every kind of non-matrix op the vector-cost tables can name
VECTOR_KINDS: Final = frozenset(FLOPS_PER_ELEMENT) | ELEMENTWISE_KINDS

_FUSED_ELEMENTWISE: Final = frozenset({"addcmul", "addcdiv", "lerp"})
_GATHER_LIKE: Final = frozenset(
    {"embedding", "index_select", "gather", "index", "nll_loss_forward", "nll_loss2d_forward"}
)


def flops_rule(category: Category, aten_base: str, attrs: Mapping[str, int] | None = None) -> str:
    """The `FLOPS_PER_ELEMENT` key that applies to a non-matrix op."""
    attrs = attrs or {}
    if category == Category.SOFTMAX:
        return "softmax"
    if category == Category.LAYERNORM:
        return "layer_norm" if attrs.get("affine", 1) else "layer_norm_no_affine"
    if category == Category.GELU:
        if aten_base == "gelu":
            return "gelu_tanh" if attrs.get("tanh", 0) else "gelu"
        return aten_base if aten_base in FLOPS_PER_ELEMENT else "elementwise"
    if category == Category.DROPOUT:
        return "dropout"
    if category in (Category.ELEMENTWISE, Category.OPTIMIZER):
        # in-place variants (addcmul_, lerp_) do the same arithmetic
        fused = aten_base.rstrip("_") in _FUSED_ELEMENTWISE
        return "elementwise_fused" if fused else "elementwise"
    if category == Category.REDUCTION:
        return "reduction"
    if category == Category.EMBEDDING:
        return "embedding"
    return "data_movement"


def vector_kind(category: Category, aten_base: str, attrs: Mapping[str, int] | None = None) -> str:
    """What a non-matrix op is for the vector-cost tables: an element-wise op of
    `ELEMENTWISE_KINDS` by its aten name, anything else by its `flops_rule`."""
    if category == Category.ELEMENTWISE and aten_base in ELEMENTWISE_KINDS:
        return aten_base
    return flops_rule(category, aten_base, attrs)


def count_macs(category: Category, dims: Mapping[str, int]) -> int:
    """MACs of a matrix op from its dims (0 for any other op)."""
    if not category.is_matrix:
        return 0
    b, m, n, k = dims["b"], dims["m"], dims["n"], dims["k"]
    return b * m * n * (k + dims.get("v", 0)) * dims.get("passes", 1)


def count_flops(
    category: Category,
    aten_base: str,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    dims: Mapping[str, int],
) -> tuple[int, int]:
    """``(macs, flops)`` of one op, per the rules in this module's docstring."""
    if category.is_matrix:
        macs = count_macs(category, dims)
        return macs, 2 * macs
    if aten_base == "embedding_dense_backward":
        # scatter-add: one add per element of the incoming gradient, not of the table
        return 0, inputs[0].numel if inputs else 0
    rule = flops_rule(category, aten_base, dims)
    per_element = FLOPS_PER_ELEMENT[rule]
    counts_input = category in (Category.REDUCTION, Category.SOFTMAX, Category.LAYERNORM)
    tensors = inputs[:1] if counts_input and inputs else outputs[:1]
    elements = tensors[0].numel if tensors else 0
    return 0, per_element * elements


def count_bytes(
    category: Category,
    aten_base: str,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
) -> tuple[int, int]:
    """``(bytes_read, bytes_written)``: each distinct input read once, each output written once.

    A lookup (embedding, gather, index_select) reads only the rows it gathers, not the
    whole table: as many source bytes as it writes, plus its indices.
    """
    written = sum(t.nbytes for t in outputs)
    if category == Category.EMBEDDING or aten_base in _GATHER_LIKE:
        source, *rest = inputs if inputs else (None,)
        gathered = min(source.nbytes, written) if source is not None else 0
        return gathered + sum(t.nbytes for t in rest if t is not None), written
    return sum(t.nbytes for t in inputs), written
