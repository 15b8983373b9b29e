"""Vector-unit cost of the non-matrix ops: instruction slots per element.

A slot is one lane-operation of the vector unit; an FMA is one slot, so a unit with
``flops_per_cycle`` (FMA = 2 FLOPs) has ``flops_per_cycle / 2`` lanes. Transcendentals and
reciprocals take four slots: NVIDIA's CUDA C++ Programming Guide ("Arithmetic
Instructions", compute capability 8.x) lists 16 results per clock per SM for 32-bit
reciprocal, reciprocal square root, exp2 and log2 against 64 for add/multiply/FMA, i.e.
a quarter of the rate; CPU libraries (SLEEF, glibc ``expf``) spend about as many vector
instructions on a range reduction and short polynomial. The composites below are built
from these, with the arithmetic written out.
"""

from __future__ import annotations

from typing import Final

from perfsim.counting import vector_kind
from perfsim.ir import Category, OpNode

SPECIAL: Final = 4  # the slots of one transcendental (exp2, reciprocal, rsqrt: see above)
EXP: Final = SPECIAL + 1  # exp2 on the special-function unit + the multiply by log2(e)
RECIPROCAL: Final = SPECIAL
RSQRT: Final = SPECIAL
TANH: Final = EXP + RECIPROCAL + 2  # (e^2x - 1) / (e^2x + 1): exp, reciprocal, add, mul
# erf by Abramowitz & Stegun 7.1.26: t = 1/(1+px) (reciprocal + 1 FMA), a 5-term Horner
# polynomial (5 FMA), exp(-x^2) (1 mul + exp), and the final multiply-subtract (1)
ERF: Final = RECIPROCAL + 1 + 5 + 1 + EXP + 1

SLOTS_PER_ELEMENT: Final[dict[str, int]] = {
    # max (1), subtract (1), exp, sum (1), multiply by the row's reciprocal (1)
    "softmax": 1 + 1 + EXP + 1 + 1,
    # mean (1), centre (1), square (1), variance sum (1), scale (1), gamma (1), beta (1);
    # the per-row rsqrt is amortized over the row
    "layer_norm": 7,
    "layer_norm_no_affine": 5,
    # x/sqrt(2) (1), erf, +1 (1), *x (1), *0.5 (1)
    "gelu": 1 + ERF + 3,
    # x^3 (2), *0.044715 (1), +x (1), *sqrt(2/pi) (1), tanh, +1 (1), *x (1), *0.5 (1)
    "gelu_tanh": 2 + 1 + 1 + 1 + TANH + 3,
    "relu": 1,
    "tanh": TANH,
    "sigmoid": 1 + EXP + 1 + RECIPROCAL,  # neg, exp, +1, reciprocal
    "silu": 1 + EXP + 1 + RECIPROCAL + 1,  # sigmoid, then *x
    # Philox counter RNG: ~10 integer ops per 4 random numbers (3), compare (1), scale (1)
    "dropout": 3 + 1 + 1,
    "elementwise": 1,
    "elementwise_fused": 1,  # addcmul / lerp: one FMA
    "reduction": 1,
    "data_movement": 0,
    "embedding": 0,
}

# element-wise aten ops dearer than one slot
ELEMENTWISE_SLOTS: Final[dict[str, int]] = {
    "div": RECIPROCAL + 1,
    "div_": RECIPROCAL + 1,
    "reciprocal": RECIPROCAL,
    "exp": EXP,
    "log": EXP,
    "sqrt": RSQRT + 1,
    "rsqrt": RSQRT,
    "pow": 2 * EXP + 1,  # exp2(y * log2(x))
    "erf": ERF,
    "sin": EXP,
    "cos": EXP,
}


# transcendentals per element, as the composites above are built (a file with a
# special-function pipe, ``compute.vector.special_per_cycle``, runs them there instead of
# on ``SPECIAL`` FMA slots each)
SPECIALS_PER_ELEMENT: Final[dict[str, int]] = {
    "softmax": 1,  # exp
    "gelu": 2,  # ERF: reciprocal, exp
    "gelu_tanh": 2,  # TANH: exp, reciprocal
    "tanh": 2,
    "sigmoid": 2,  # exp, reciprocal
    "silu": 2,
}
ELEMENTWISE_SPECIALS: Final[dict[str, int]] = {
    "div": 1,
    "div_": 1,
    "reciprocal": 1,
    "exp": 1,
    "log": 1,
    "sqrt": 1,
    "rsqrt": 1,
    "pow": 2,
    "erf": 2,
    "sin": 1,
    "cos": 1,
}


def op_kind(op: OpNode) -> str:
    """The op's `perfsim.counting.vector_kind`: the key of the tables here, and of a
    hardware file's measured ``compute.vector.element_cost``."""
    base = op.target.split(".")[1] if op.target.startswith("aten.") else op.target
    return vector_kind(op.category, base, op.dims)


def slots_per_element(op: OpNode) -> int:
    """Vector slots one element of ``op`` costs."""
    kind = op_kind(op)
    return ELEMENTWISE_SLOTS[kind] if kind in ELEMENTWISE_SLOTS else SLOTS_PER_ELEMENT[kind]


def specials_per_element(op: OpNode) -> int:
    """Transcendentals one element of ``op`` takes (0 for matrix ops and plain arithmetic)."""
    if op.category.is_matrix:
        return 0
    kind = op_kind(op)
    return ELEMENTWISE_SPECIALS.get(kind, SPECIALS_PER_ELEMENT.get(kind, 0))


def vector_elements(op: OpNode) -> int:
    """Elements the vector unit processes: the input for reductions and norms, else the output."""
    counts_input = op.category in (Category.REDUCTION, Category.SOFTMAX, Category.LAYERNORM)
    tensors = op.inputs[:1] if counts_input and op.inputs else op.outputs[:1]
    return tensors[0].numel if tensors else 0
