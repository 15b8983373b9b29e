"""The ``--precision`` values and the dtypes each one runs in, written down once.

The lowest layer of the precision policy: names and a table, no graphs and no hardware, so
that `perfsim.hardware.spec` (which precisions a device executes) and `perfsim.precision`
(retyping a traced graph) both build on it without importing each other. The table and its
rationale are in `perfsim.precision`'s docstring.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final, Literal, get_args

Precision = Literal["fp32", "tf32", "fp16", "bf16", "int8", "int4"]
PRECISIONS: Final[tuple[Precision, ...]] = get_args(Precision)


@dataclass(frozen=True, slots=True)
class PrecisionPolicy:
    """Dtypes used for one ``--precision`` value."""

    name: str
    matrix_input: str  # dtype of gemm / attn_gemm operands, and of the MACs
    matrix_output: str  # dtype a matrix op writes
    vector: str  # dtype of every other op's floating-point tensors


POLICIES: Final = {
    "fp32": PrecisionPolicy("fp32", "fp32", "fp32", "fp32"),
    # fp32 storage, matrix products on TF32 tensor cores (10-bit significand inputs, fp32
    # accumulate): what A100 / H100 run for fp32 matmuls with TF32 allowed
    "tf32": PrecisionPolicy("tf32", "tf32", "fp32", "fp32"),
    "fp16": PrecisionPolicy("fp16", "fp16", "fp16", "fp16"),
    "bf16": PrecisionPolicy("bf16", "bf16", "bf16", "bf16"),
    "int8": PrecisionPolicy("int8", "int8", "fp16", "fp16"),
    "int4": PrecisionPolicy("int4", "int4", "fp16", "fp16"),
}
assert tuple(POLICIES) == PRECISIONS, "one policy per precision, in the same order"

# a training step is traced in its precision, except these: traced in another and retyped
# (`perfsim.precision.apply_precision`); tf32 stores everything in fp32
TRACED_AS: Final = {"tf32": "fp32"}


def policy(precision: str) -> PrecisionPolicy:
    """The policy for a ``--precision`` value; ``KeyError`` for an unknown one."""
    return POLICIES[precision]


def executable_precisions(
    matrix_dtypes: Collection[str], vector_dtypes: Collection[str]
) -> tuple[str, ...]:
    """Precisions whose matrix dtype and vector dtype a device executes, given the dtypes
    of its matrix engine (empty without one) and of its vector engine.

    Matrix ops whose dtype the matrix engine lacks (fp32 on fp16 tensor cores, or a
    device without a matrix engine) run on the vector engine when it has that dtype; the
    engines record this in each op's ``unit``.
    """
    return _executable(tuple(matrix_dtypes), tuple(vector_dtypes))


@functools.lru_cache(maxsize=256)
def _executable(matrix_dtypes: tuple[str, ...], vector_dtypes: tuple[str, ...]) -> tuple[str, ...]:
    """`executable_precisions` once per distinct pair of dtype tuples (every validated
    hardware spec asks: a sweep's thousands of specs share a few pairs)."""
    return tuple(
        name
        for name, pol in POLICIES.items()
        if (pol.matrix_input in matrix_dtypes or pol.matrix_input in vector_dtypes)
        and pol.vector in vector_dtypes
    )


__all__ = [
    "POLICIES",
    "PRECISIONS",
    "TRACED_AS",
    "Precision",
    "PrecisionPolicy",
    "executable_precisions",
    "policy",
]
