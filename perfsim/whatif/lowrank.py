"""Low-rank factorization of the weight matrices.

Each linear layer's weight ``W (k x n)`` becomes ``U (k x r) . V (r x n)`` (truncated SVD,
as in the practitioners' surveys of BERT compression, e.g. Ganesh et al., "Compressing
Large-Scale Transformer-Based Models: A Case Study on BERT", TACL 2021): one GEMM
``m x k . k x n`` becomes two, ``m x k . k x r`` then ``m x r . r x n`` (the second keeps
the bias and the original op's name and output). MACs go from ``m k n`` to
``m r (k + n)``, parameters from ``k n`` to ``r (k + n)``.

``low_rank`` is a rank (a whole number) or a fraction of ``min(k, n)`` (rounded, at least
1). A layer whose factorization would not save parameters (``r (k + n) >= k n``) is left
dense, as would anyone deploying it; so is a layer already made N:M sparse.
Forward graphs (inference) only.
"""

from __future__ import annotations

from dataclasses import replace

from perfsim.ir import OpGraph, OpNode, TensorSpec
from perfsim.whatif.graphops import (
    Replacement,
    expand,
    is_weight_gemm,
    recount,
    require_inference,
    with_params,
)


def rank_for(op: OpNode, low_rank: float) -> int:
    """The rank a layer gets: ``low_rank`` itself, or its fraction of ``min(k, n)``."""
    if low_rank >= 1:
        return int(low_rank)
    return max(1, round(low_rank * min(op.dims["k"], op.dims["n"])))


def factor(op: OpNode, rank: int) -> Replacement | None:
    """The two GEMMs replacing ``op`` at ``rank``, or None when that would not pay."""
    k, n = op.dims["k"], op.dims["n"]
    if rank * (k + n) >= k * n or any(t.role == "index" for t in op.inputs):
        return None
    weight = next(t for t in op.inputs if t.role == "weight" and len(t.shape) == 2)
    activations = tuple(t for t in op.inputs if t.role == "activation")
    bias = tuple(t for t in op.inputs if t.role == "weight" and len(t.shape) == 1)
    act = activations[0]
    middle = TensorSpec((*act.shape[:-1], rank), act.dtype)
    first = recount(
        replace(op, name=f"{op.name}.lowrank_u", target="aten.mm.default"),
        (*activations, TensorSpec((k, rank), weight.dtype, role="weight")),
        (middle,),
        {**op.dims, "n": rank},
    )
    second = recount(
        replace(op, deps=()),
        (*bias, middle, TensorSpec((rank, n), weight.dtype, role="weight")),
        op.outputs,
        {**op.dims, "k": rank},
    )
    return [(first, ()), (second, (0,))]


def low_rank(graph: OpGraph, value: float) -> OpGraph:
    """Factor every forward weight GEMM (module docstring); 0 changes nothing."""
    if not value:
        return graph
    require_inference(graph, "low_rank")

    def replace_op(index: int, op: OpNode) -> Replacement | None:
        return factor(op, rank_for(op, value)) if is_weight_gemm(op) else None

    factored = expand(graph, replace_op)
    return with_params(graph, factored.ops)
