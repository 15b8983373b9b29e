"""The ``qkv`` fusion pass: sibling projections of one activation run as one GEMM.

Hugging Face's BERT computes the query, key and value projections as three linear layers
over the same hidden states. The inference engines publications ran concatenate their
weights and run one GEMM three times as wide: TensorRT's BERT builder (NVIDIA/TensorRT
``demo/BERT/builder.py``, ``attention_layer_opt``: one ``add_fully_connected`` of
``3 * hidden_size`` outputs); so do NVIDIA's MLPerf BERT (``FastUnpadBertSelfAttention(...,
fuse_qkv=True)``) and DeepSpeed's transformer kernel (one ``attn_qkvw`` weight) in
training. One kernel instead of three: fewer launches and startups, the activation read
once, and a wider GEMM that fills the SMs better.

The forward, after the other passes have dropped their intermediates
(`perfsim.whatif.fusion.fuse`): forward GEMMs under the same parent module (``...attention.self``)
that read the same single activation with the same rows and depth (``m``, ``k``) and dtype
become one GEMM at the first of them: ``n`` their sum, MACs, FLOPs and bytes their sums
with the shared activation read once, one packed output (``m x sum(n)``). Each projection's
own output becomes a zero-work view of the packed one (launched inside the fused kernel),
at its place in the graph, so its readers and their fused epilogues are unchanged and the
residency pass (`perfsim.engines.residency`, which matches a reader's input to its
producer's outputs by size) sees one packed tensor passed to three views.

In a training step the backward is fused the same way (`fuse_backward`), as DeepSpeed's
and apex's kernels run it: the projections' gradients ``dQ``, ``dK``, ``dV`` land in one
packed ``m x sum(n)`` gradient (each still written by its own layout copy), and

- one input-gradient GEMM of depth ``sum(n)`` (``dX = dQKV W_qkv``) replaces the three and
  the adds that summed their partial ``dX``: one add remains, of the residual branch's
  gradient (the last of the chain, in the GEMM's epilogue where the epilogue pass put it);
- one weight-gradient GEMM ``dQKV^T X`` of ``sum(n)`` rows reads ``X`` once;
- one bias-gradient sum over the packed gradient;

each at the place of the last projection's op (after every gradient it reads), the other
projections' ops dropped, and their parameters' gradients ready at the fused ops
(``meta.grad_ready``). A group whose backward does not have this shape (one ``mm`` with
the weight, one without, at most one sum and one add per projection) is left as traced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from perfsim.ir import Category, OpGraph, OpNode, TensorSpec
from perfsim.whatif.graphops import Replacement, consumers, expand

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


def _module(op: OpNode) -> str:
    return op.name.split("/", 1)[0]


def fuse_projections(graph: OpGraph, inner: frozenset[int]) -> tuple[OpGraph, frozenset[int]]:
    """The graph with sibling projections merged (module docstring) and the indices of the
    ops launched inside another's kernel (``inner`` moved to the new indices, plus the
    views); a graph without siblings unchanged. A training step's backward is fused too
    (`fuse_backward`)."""
    sets = sibling_projections(graph)
    if not sets:
        return graph, inner
    member = {index: members for members in sets for index in members}
    ops = graph.ops
    modules = [tuple(_module(ops[index]) for index in members) for members in sets]

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
    return fuse_backward(fused, modules, frozenset(moved | views))


@dataclass(frozen=True, slots=True)
class _Backward:
    """One projection's backward ops (indices): input-gradient and weight-gradient GEMMs,
    bias-gradient sum and the add accumulating the input gradient (None where absent)."""

    dgrad: int
    wgrad: int
    bias: int | None
    add: int | None


def _backward_of(ops: Sequence[OpNode], indices: Sequence[int]) -> _Backward | None:
    """One projection's backward ops among ``indices`` (its module's backward ops); None
    unless it has the plain shape."""
    found: dict[str, list[int]] = defaultdict(list)
    for index in indices:
        op = ops[index]
        if op.category == Category.GEMM and op.target == "aten.mm.default":
            weighted = any(spec.role == "weight" for spec in op.inputs)
            found["dgrad" if weighted else "wgrad"].append(index)
        elif op.category == Category.REDUCTION:
            found["bias"].append(index)
        elif op.category == Category.ELEMENTWISE and op.target == "aten.add.Tensor":
            found["add"].append(index)
    if len(found["dgrad"]) != 1 or len(found["wgrad"]) != 1:
        return None
    if len(found["bias"]) > 1 or len(found["add"]) > 1:
        return None
    return _Backward(
        found["dgrad"][0],
        found["wgrad"][0],
        found["bias"][0] if found["bias"] else None,
        found["add"][0] if found["add"] else None,
    )


def _packed(spec: TensorSpec, axis: int, width: int) -> TensorSpec:
    """``spec`` widened to ``width`` along ``axis`` (a packed gradient or weight)."""
    shape = list(spec.shape)
    shape[axis] = width
    return TensorSpec(tuple(shape), spec.dtype, -1, spec.role)


def _merged(ops: Sequence[OpNode], members: Sequence[int], **fields: object) -> OpNode:
    """The last of ``members`` standing for all of them: MACs and FLOPs summed, every
    member's dependencies, and ``fields`` (its tensors, dims and bytes)."""
    at = max(members)
    return replace(
        ops[at],
        macs=sum(ops[index].macs for index in members),
        flops=sum(ops[index].flops for index in members),
        deps=tuple(sorted({dep for index in members for dep in ops[index].deps})),
        **fields,  # type: ignore[arg-type]
    )


def _fused_backward(
    ops: Sequence[OpNode], group: Sequence[_Backward]
) -> tuple[dict[int, OpNode | None], dict[int, int]] | None:
    """The replacements of one group's backward ops (the fused ops at the last member's
    places, None for the ops dropped) and, for each of its ops, the op that does its work
    once fused; None if the members' GEMMs do not line up."""
    dgrads = [b.dgrad for b in group]
    wgrads = [b.wgrad for b in group]
    sums = [b.bias for b in group if b.bias is not None]
    adds = sorted(b.add for b in group if b.add is not None)
    if len({(ops[i].dims.get("m"), ops[i].dims.get("n")) for i in dgrads}) != 1:
        return None
    if len({(ops[i].dims.get("k"), ops[i].dims.get("n")) for i in wgrads}) != 1:
        return None
    if len(sums) not in (0, len(group)) or len(adds) not in (0, len(group)):
        return None
    width = sum(ops[i].dims["k"] for i in dgrads)  # the projections' outputs, summed
    changes: dict[int, OpNode | None] = {}
    # dX = dQKV W_qkv: depth sum(n); inputs (m x n) gradient and (n x h) weight, packed
    gradient, weight = ops[max(dgrads)].inputs[:2]
    changes[max(dgrads)] = _merged(
        ops,
        dgrads,
        inputs=(_packed(gradient, -1, width), _packed(weight, 0, width)),
        dims={**ops[max(dgrads)].dims, "k": width},
        bytes_read=sum(ops[i].bytes_read for i in dgrads),
    )
    # dW = dQKV^T X: sum(n) rows, X read once
    last = ops[max(wgrads)]
    gradient_t, shared = last.inputs[:2]
    changes[max(wgrads)] = _merged(
        ops,
        wgrads,
        inputs=(_packed(gradient_t, 0, width), shared),
        outputs=tuple(_packed(spec, 0, width) for spec in last.outputs),
        dims={**last.dims, "m": width},
        bytes_read=sum(ops[i].bytes_read for i in wgrads) - (len(group) - 1) * shared.nbytes,
        bytes_written=sum(ops[i].bytes_written for i in wgrads),
    )
    if sums:  # one bias-gradient sum over the packed gradient
        last = ops[max(sums)]
        changes[max(sums)] = _merged(
            ops,
            sums,
            inputs=tuple(_packed(spec, -1, width) for spec in last.inputs),
            outputs=tuple(_packed(spec, -1, width) for spec in last.outputs),
            bytes_read=sum(ops[i].bytes_read for i in sums),
            bytes_written=sum(ops[i].bytes_written for i in sums),
        )
    changes.update({i: None for i in (*dgrads, *wgrads, *sums) if i not in changes})
    if adds:
        # the chain of adds summing the partial input gradients: only the last remains,
        # adding the residual branch's gradient to the fused GEMM's
        chain = set(adds) | set(dgrads)
        outside = {dep for index in adds for dep in ops[index].deps if dep not in chain}
        changes[adds[-1]] = replace(ops[adds[-1]], deps=tuple(sorted(outside | {max(dgrads)})))
        changes.update({index: None for index in adds[:-1]})
    stands_for = {i: max(role) for role in (dgrads, wgrads, sums, adds) if role for i in role}
    return changes, stands_for


def fuse_backward(
    graph: OpGraph, modules: Sequence[Sequence[str]], inner: frozenset[int]
) -> tuple[OpGraph, frozenset[int]]:
    """A training step's backward with each group of projections (``modules``, their
    module names) fused (module docstring); an inference graph unchanged."""
    ops = graph.ops
    by_module: dict[str, list[int]] = defaultdict(list)
    for index, op in enumerate(ops):
        if op.phase == "backward":
            by_module[_module(op)].append(index)
    if not by_module:
        return graph, inner
    readers = consumers(graph)
    changes: dict[int, OpNode | None] = {}
    stands_for: dict[int, int] = {}
    for names in modules:
        found_ops = [_backward_of(ops, by_module.get(name, ())) for name in names]
        group = [b for b in found_ops if b is not None]
        if len(group) != len(names):
            continue
        fused = _fused_backward(ops, group)
        if fused is None:
            continue
        found, mapping = fused
        # every reader of a dropped op must run after the op that now does its work
        if any(
            reader < mapping[index] and found.get(reader, ops[reader]) is not None
            for index, op in found.items()
            if op is None
            for reader in readers[index]
        ):
            continue
        changes.update(found)
        stands_for.update(mapping)
    if not changes:
        return graph, inner
    new_index: dict[int, int] = {}
    for index in range(len(ops)):
        if changes.get(index, ops[index]) is not None:
            new_index[index] = len(new_index)
    where = {index: new_index[stands_for.get(index, index)] for index in range(len(ops))}
    new_ops = tuple(
        op if deps == op.deps else replace(op, deps=deps)
        for op in (changes.get(index) or ops[index] for index in new_index)
        for deps in (tuple(sorted({where[dep] for dep in op.deps})),)
    )
    meta = graph.meta
    if meta.grad_ready is not None:
        old, total = len(ops), len(new_ops)
        meta = meta.but(
            grad_ready=tuple(
                (where[i] if 0 <= i < old else total + (i - old), n, d)
                for i, n, d in meta.grad_ready
            )
        )
    moved = frozenset(new_index[index] for index in inner if index in new_index)
    return OpGraph(new_ops, meta), moved
