"""Small pure helpers the what-if passes share: consumers, recounting, op expansion.

Every pass builds new `OpNode`s with `dataclasses.replace`; nothing here mutates a graph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from perfsim.counting import count_bytes, count_flops
from perfsim.ir import GraphMeta, OpGraph, OpNode, TensorSpec


def aten_base(op: OpNode) -> str:
    """``aten.addmm.default`` -> ``addmm`` (the key of the counting tables)."""
    return op.target.split(".")[1] if op.target.startswith("aten.") else op.target


def consumers(graph: OpGraph) -> list[list[int]]:
    """For each op, the indices of the ops that read its outputs (from ``deps``)."""
    found: list[list[int]] = [[] for _ in graph.ops]
    for index, op in enumerate(graph.ops):
        for dep in op.deps:
            found[dep].append(index)
    return found


def recount(
    op: OpNode,
    inputs: tuple[TensorSpec, ...],
    outputs: tuple[TensorSpec, ...],
    dims: Mapping[str, int] | None = None,
) -> OpNode:
    """The op with new tensors (and dims), its MACs, FLOPs and bytes recounted by the rules
    of `perfsim.counting`."""
    new_dims = dict(op.dims if dims is None else dims)
    base = aten_base(op)
    macs, flops = count_flops(op.category, base, inputs, outputs, new_dims)
    bytes_read, bytes_written = count_bytes(op.category, base, inputs, outputs)
    return replace(
        op,
        inputs=inputs,
        outputs=outputs,
        dims=new_dims,
        macs=macs,
        flops=flops,
        bytes_read=bytes_read,
        bytes_written=bytes_written,
    )


def resize(tensor: TensorSpec, shape: tuple[int, ...]) -> TensorSpec:
    """A tensor with a new shape; a broadcast (stride-0) tensor keeps its stored fraction."""
    if tensor.stored_numel >= tensor.numel:
        return TensorSpec(shape, tensor.dtype, -1, tensor.role)
    numel = 1
    for size in shape:
        numel *= size
    stored = max(1, tensor.stored_numel * numel // max(tensor.numel, 1))
    return TensorSpec(shape, tensor.dtype, stored, tensor.role)


# A replacement is a list of (new op, local deps): the new op's own ``deps`` are indices of
# the *old* graph (remapped here); ``local deps`` index earlier entries of the same list.
Replacement = Sequence[tuple[OpNode, tuple[int, ...]]]


def expand(
    graph: OpGraph,
    replace_op: Callable[[int, OpNode], Replacement | None],
    outputs_of: Callable[[int, int], Sequence[int]] | None = None,
) -> OpGraph:
    """Replace ops by lists of ops, keeping ``deps`` consistent.

    ``replace_op(index, op)`` returns None to keep an op, else its replacement. A reader of
    an old op depends on the *last* op of its replacement, or on the local indices
    ``outputs_of(index, len(replacement))`` names (e.g. all copies of a split op).
    """
    new_ops: list[OpNode] = []
    produced: list[tuple[int, ...]] = []
    for index, op in enumerate(graph.ops):
        remapped = tuple(sorted({new for dep in op.deps for new in produced[dep]}))
        replacement = replace_op(index, op)
        if replacement is None:  # an op whose deps kept their indices is kept as it is
            new_ops.append(op if remapped == op.deps else replace(op, deps=remapped))
            produced.append((len(new_ops) - 1,))
            continue
        start = len(new_ops)
        for new_op, local in replacement:
            outer = tuple(sorted({new for dep in new_op.deps for new in produced[dep]}))
            new_ops.append(replace(new_op, deps=outer + tuple(start + i for i in local)))
        picks = outputs_of(index, len(replacement)) if outputs_of else (len(replacement) - 1,)
        produced.append(tuple(start + i for i in picks))
    return OpGraph(tuple(new_ops), remap_grad_ready(graph, produced, len(new_ops)))


def remap_grad_ready(graph: OpGraph, produced: list[tuple[int, ...]], total: int) -> GraphMeta:
    """The meta with ``grad_ready``'s op indices moved to the new graph: an old op's index
    becomes its replacement's last op (the data-parallel buckets read "gradient final at
    the end of op i"); an index past the last op keeps its distance from the end."""
    ready = graph.meta.grad_ready
    if ready is None:
        return graph.meta
    old = len(produced)

    def moved(index: int) -> int:
        if 0 <= index < old:
            return max(produced[index]) if produced[index] else index
        return total + (index - old)

    return graph.meta.but(grad_ready=tuple((moved(i), n, d) for i, n, d in ready))


def weight_elements(op: OpNode) -> int:
    """Elements of an op's weight operands (parameters it reads)."""
    return sum(tensor.numel for tensor in op.inputs if tensor.role == "weight")


def resize_gemm(op: OpNode, *, n: int | None = None, k: int | None = None) -> OpNode:
    """A weight GEMM with a new output width ``n`` and/or reduction depth ``k``.

    The traced weight operand is ``(k, n)`` (``addmm``'s ``mat2``, a transposed view of
    torch's ``(n, k)`` parameter), the bias ``(n,)``, activations end in ``k`` and outputs
    in ``n``; every tensor is rewritten to match and the op recounted.
    """
    old_n, old_k = op.dims["n"], op.dims["k"]
    new_n, new_k = n or old_n, k or old_k

    def weight(shape: tuple[int, ...]) -> tuple[int, ...]:
        if shape == (old_k, old_n):
            return (new_k, new_n)
        if shape == (old_n, old_k):
            return (new_n, new_k)
        if shape == (old_n,):
            return (new_n,)
        return shape

    inputs = tuple(
        resize(t, weight(t.shape))
        if t.role == "weight"
        else resize(t, (*t.shape[:-1], new_k))
        if t.shape and t.shape[-1] == old_k and t.role == "activation"
        else t
        for t in op.inputs
    )
    outputs = tuple(
        resize(t, (*t.shape[:-1], new_n)) if t.shape and t.shape[-1] == old_n else t
        for t in op.outputs
    )
    return recount(op, inputs, outputs, {**op.dims, "n": new_n, "k": new_k})


def is_weight_gemm(op: OpNode) -> bool:
    """A GEMM with a 2-D weight operand (a linear layer), in the forward pass."""
    return (
        op.category.value == "gemm"
        and op.phase == "forward"
        and {"m", "n", "k"} <= set(op.dims)
        and any(t.role == "weight" and len(t.shape) == 2 for t in op.inputs)
    )


def require_inference(graph: OpGraph, key: str) -> None:
    """Structural knobs rewrite forward shapes only: refuse graphs with backward ops."""
    from perfsim.whatif.knobs import WhatIfError

    phases = {op.phase for op in graph.ops}
    if phases - {"forward"}:
        raise WhatIfError(
            f"whatif.{key}: applies to inference graphs only; this graph has "
            f"{', '.join(sorted(phases - {'forward'}))} ops"
        )


def with_params(graph: OpGraph, ops: tuple[OpNode, ...]) -> OpGraph:
    """A graph of new ops whose ``meta.params`` moves by the change in weight elements.

    NB: a model that reuses one layer's weights (ALBERT) counts the change once per use.
    """
    params = graph.meta.params
    if isinstance(params, int):
        delta = sum(weight_elements(op) for op in ops) - sum(
            weight_elements(op) for op in graph.ops
        )
        return OpGraph(ops, graph.meta.but(params=params + delta))
    return OpGraph(ops, graph.meta)
