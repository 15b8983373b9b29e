"""The ``qkv`` fusion pass: sibling projections of one activation run as one GEMM.

Hugging Face's BERT computes the query, key and value projections as three linear layers
over the same hidden states. The inference engines publications ran concatenate their
weights and run one GEMM three times as wide: TensorRT's BERT builder (NVIDIA/TensorRT
``demo/BERT/builder.py``, ``attention_layer_opt``: one ``add_fully_connected`` of
``3 * hidden_size`` outputs); so do NVIDIA's MLPerf BERT (``FastUnpadBertSelfAttention(...,
fuse_qkv=True)``) and DeepSpeed's transformer kernel (one ``attn_qkvw`` weight) in
training. One kernel instead of three: fewer launches and startups, the activation read
once, and a wider GEMM that fills the SMs better.

Modelled on an inference graph, after the other passes have dropped their intermediates
(`perfsim.whatif.fusion.fuse`): GEMMs under the same parent module (``...attention.self``)
that read the same single activation with the same rows and depth (``m``, ``k``) and dtype
become one GEMM at the first of them: ``n`` their sum, MACs, FLOPs and bytes their sums
with the shared activation read once, one packed output (``m x sum(n)``). Each projection's
own output becomes a zero-work view of the packed one (launched inside the fused kernel),
at its place in the graph, so its readers and their fused epilogues are unchanged and the
residency pass (`perfsim.engines.residency`, which matches a reader's input to its
producer's outputs by size) sees one packed tensor passed to three views.

A training step is left as traced: fusing its backward (one input-gradient GEMM of depth
``sum(n)`` that also replaces the adds accumulating the partial input gradients, one
weight-gradient GEMM, one bias sum, the gradients ready together) needs the weight
gradients' readers to follow a packed gradient the same way; not built yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from perfsim.ir import Category, OpGraph, OpNode, TensorSpec
from perfsim.whatif.graphops import Replacement, expand

PASS: Final = "qkv"


def _parent(op: OpNode) -> str:
    return op.name.split("/", 1)[0].rsplit(".", 1)[0]


def sibling_projections(graph: OpGraph) -> list[tuple[int, ...]]:
    """Forward GEMMs grouped by (parent module, the one activation they read, m, k, dtype):
    the groups of two or more, in graph order."""
    groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for index, op in enumerate(graph.ops):
        if op.category != Category.GEMM or op.phase != "forward" or len(op.deps) != 1:
            continue
        if not {"m", "n", "k"} <= op.dims.keys() or not op.outputs:
            continue
        dtype = op.outputs[0].dtype
        key = (_parent(op), op.deps[0], op.dims.get("b", 1), op.dims["m"], op.dims["k"], dtype)
        groups[key].append(index)
    return [tuple(members) for members in groups.values() if len(members) > 1]


def _activation(op: OpNode) -> TensorSpec | None:
    """The activation a projection reads: its input of ``b x m x k`` elements."""
    elements = op.dims.get("b", 1) * op.dims["m"] * op.dims["k"]
    return next((spec for spec in op.inputs if spec.numel == elements), None)


def _fused(ops: Sequence[OpNode], members: Sequence[int], packed: TensorSpec) -> OpNode:
    """The projections as one GEMM: ``n`` summed, the activation read once."""
    first = ops[members[0]]
    shared = _activation(first)
    inputs = list(first.inputs)
    for index in members[1:]:
        own = list(ops[index].inputs)
        if shared is not None and shared in own:
            own.remove(shared)
        inputs.extend(own)
    once = shared.nbytes * (len(members) - 1) if shared is not None else 0
    return replace(
        first,
        inputs=tuple(inputs),
        outputs=(packed,),
        dims={**first.dims, "n": sum(ops[index].dims["n"] for index in members)},
        macs=sum(ops[index].macs for index in members),
        flops=sum(ops[index].flops for index in members),
        bytes_read=max(0, sum(ops[index].bytes_read for index in members) - once),
        bytes_written=sum(ops[index].bytes_written for index in members),
    )


def _view(op: OpNode, packed: TensorSpec, deps: tuple[int, ...]) -> OpNode:
    """A projection's output as a zero-work view of the packed one."""
    return replace(
        op,
        name=f"{op.name}.view",
        category=Category.DATA_MOVEMENT,
        target="aten.slice.Tensor",
        inputs=(packed,),
        dims={},
        macs=0,
        flops=0,
        bytes_read=0,
        bytes_written=0,
        deps=deps,
    )


def fuse_projections(graph: OpGraph, inner: frozenset[int]) -> tuple[OpGraph, frozenset[int]]:
    """The inference graph with sibling projections merged (module docstring) and the
    indices of the ops launched inside another's kernel (``inner`` moved to the new
    indices, plus the views); a training graph, or one without siblings, unchanged."""
    if any(op.phase != "forward" for op in graph.ops):
        return graph, inner
    sets = sibling_projections(graph)
    if not sets:
        return graph, inner
    member = {index: members for members in sets for index in members}
    ops = graph.ops

    def packed_of(members: Sequence[int]) -> TensorSpec:
        out = ops[members[0]].outputs[0]
        width = sum(ops[index].dims["n"] for index in members)
        return TensorSpec((*out.shape[:-1], width), out.dtype, -1, out.role)

    def replace_op(index: int, op: OpNode) -> Replacement | None:
        members = member.get(index)
        if members is None:
            return None
        packed = packed_of(members)
        if index == members[0]:
            return [(_fused(ops, members, packed), ()), (_view(op, packed, ()), (0,))]
        return [(_view(op, packed, (members[0],)), ())]

    # a reader of the first projection depends on the fused GEMM and its view
    def outputs_of(index: int, length: int) -> Sequence[int]:
        return tuple(range(length))

    fused = expand(graph, replace_op, outputs_of)
    # op names are unique: an op keeps its name (the fused GEMM the first projection's), a
    # view adds ".view"; so the renumbering is read off the new graph, not recomputed
    where = {op.name: index for index, op in enumerate(fused.ops)}
    moved = {where[ops[old].name] for old in inner}
    views = {where[f"{ops[index].name}.view"] for index in member}
    return fused, frozenset(moved | views)
