"""Structured pruning: fewer attention heads and a narrower FFN, shapes rewritten in place.

Heads (Michel et al., "Are Sixteen Heads Really Better than One?", NeurIPS 2019, prune
whole heads; so does Hugging Face's ``prune_heads``): each attention block (found from
``deps``: the QKᵀ product, the ops up to the AV product, the projections feeding them and
the output projection after) keeps ``h' = h - pruned`` of its ``h`` heads: the Q, K, V
projections' output width ``n`` and the output projection's depth ``k`` shrink from
``h*d`` to ``h'*d``, every per-head tensor's head axis (``[B, h, L, d]``, ``[B*h, L, d]``,
``[B, L, h, d]``, ``[B, L, h*d]``) shrinks, and the attention products' batch ``b = B*h``
with them. ``prune_heads`` is a fraction of the heads (rounded) or a whole count.

FFN width (as in FastFormers' structured pruning of the intermediate dimension): the GEMM
feeding each activation and the GEMM reading it keep ``F' = F - round(fraction * F)``
columns / rows, and the ops between them shrink their last axis. FLOPs, bytes and
parameters are recounted from the new shapes by `perfsim.counting`.

Forward graphs (inference) only; every head and FFN is pruned by the same amount.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfsim.ir import Category, OpGraph, OpNode, TensorSpec
from perfsim.whatif.graphops import (
    consumers,
    recount,
    require_inference,
    resize,
    resize_gemm,
    with_params,
)
from perfsim.whatif.knobs import WhatIfError


@dataclass(frozen=True, slots=True)
class AttentionBlock:
    """Op indices of one self-attention block, found from the graph's ``deps``."""

    heads: int
    head_dim: int
    projections: tuple[int, ...]  # Q, K, V GEMMs
    output: int | None  # output projection GEMM
    per_head: tuple[int, ...]  # non-matrix ops on per-head tensors
    products: tuple[int, ...]  # QKᵀ and AV


def _walk(
    start: list[int], edges: list[list[int]], ops: tuple[OpNode, ...]
) -> tuple[set[int], set[int]]:
    """Non-matrix ops reachable from ``start`` along ``edges``, and the matrix ops met."""
    seen: set[int] = set()
    met: set[int] = set()
    stack = list(start)
    while stack:
        index = stack.pop()
        if index in seen or index in met:
            continue
        if ops[index].category.is_matrix:
            met.add(index)
            continue
        seen.add(index)
        stack.extend(edges[index])
    return seen, met


def attention_blocks(graph: OpGraph) -> list[AttentionBlock]:
    """Every QKᵀ -> softmax -> AV block of a forward graph."""
    ops = graph.ops
    readers = consumers(graph)
    producers = [list(op.deps) for op in ops]
    blocks = []
    for qk, op in enumerate(ops):
        if op.category != Category.ATTN_GEMM:
            continue
        middle, after = _walk(readers[qk], readers, ops)
        avs = [i for i in after if ops[i].category == Category.ATTN_GEMM]
        if len(avs) != 1 or not any(ops[i].category == Category.SOFTMAX for i in middle):
            continue
        av = avs[0]
        feeding = [d for d in (*ops[qk].deps, *ops[av].deps) if d not in middle and d != qk]
        before, projections = _walk(feeding, producers, ops)
        tail, out = _walk(readers[av], readers, ops)
        gemms = sorted(i for i in projections if ops[i].category == Category.GEMM)
        outs = sorted(i for i in out if ops[i].category == Category.GEMM)
        head_dim = op.dims["k"]
        if not gemms or ops[gemms[0]].dims["n"] % head_dim:
            continue
        blocks.append(
            AttentionBlock(
                heads=ops[gemms[0]].dims["n"] // head_dim,
                head_dim=head_dim,
                projections=tuple(gemms),
                output=outs[0] if len(outs) == 1 else None,
                per_head=tuple(sorted(middle | before | tail)),
                products=(qk, av),
            )
        )
    return blocks


def _head_axis(tensor: TensorSpec, block: AttentionBlock, product: bool) -> int | None:
    """The axis holding the heads: ``[B*h, ., .]`` in the attention products,
    ``[B, h, ., .]`` / ``[B, L, h, d]`` / ``[..., h*d]`` elsewhere."""
    shape, h = tensor.shape, block.heads
    if product:
        return 0 if len(shape) == 3 and shape[0] % h == 0 else None
    if len(shape) == 4:
        if shape[1] == h:
            return 1
        if shape[2] == h:
            return 2
        return None
    if shape and shape[-1] == h * block.head_dim:
        return len(shape) - 1
    return None


def _shrink_heads(
    tensor: TensorSpec, block: AttentionBlock, kept: int, product: bool = False
) -> TensorSpec:
    axis = _head_axis(tensor, block, product)
    if axis is None:
        return tensor
    shape = list(tensor.shape)
    shape[axis] = shape[axis] // block.heads * kept
    return resize(tensor, tuple(shape))


def heads_kept(heads: int, prune: float) -> int:
    """Heads left after pruning a fraction (rounded) or a count; at least one must stay."""
    pruned = round(prune * heads) if prune < 1 else int(prune)
    if pruned >= heads:
        raise WhatIfError(
            f"whatif.prune_heads: pruning {pruned} of {heads} heads leaves none; at least one "
            "must stay"
        )
    return heads - pruned


def prune_heads(graph: OpGraph, prune: float) -> OpGraph:
    """Remove heads from every attention block (module docstring)."""
    if not prune:
        return graph
    require_inference(graph, "prune_heads")
    ops = list(graph.ops)
    done: set[int] = set()  # a packed graph's per-length blocks share their projections
    for block in attention_blocks(graph):
        kept = heads_kept(block.heads, prune)
        width = kept * block.head_dim
        for index in block.projections:
            ops[index] = resize_gemm(graph.ops[index], n=width)
        if block.output is not None:
            ops[block.output] = resize_gemm(graph.ops[block.output], k=width)
        for index in (*block.per_head, *block.products):
            if index in done:
                continue
            done.add(index)
            op = graph.ops[index]
            product = index in block.products
            inputs = tuple(_shrink_heads(t, block, kept, product) for t in op.inputs)
            outputs = tuple(_shrink_heads(t, block, kept, product) for t in op.outputs)
            dims = dict(op.dims)
            if product:
                dims["b"] = dims["b"] // block.heads * kept
            ops[index] = recount(op, inputs, outputs, dims)
    return with_params(graph, tuple(ops))


def prune_ffn(graph: OpGraph, fraction: float) -> OpGraph:
    """Narrow every FFN (a GEMM -> activation -> GEMM chain) by ``fraction`` of its width."""
    if not fraction:
        return graph
    require_inference(graph, "prune_ffn")
    ops = list(graph.ops)
    readers = consumers(graph)
    producers = [list(op.deps) for op in graph.ops]
    done: set[int] = set()
    for index, op in enumerate(graph.ops):
        if op.category != Category.GELU or index in done:
            continue
        before, ups = _walk([index], producers, graph.ops)
        after, downs = _walk([index], readers, graph.ops)
        if len(ups) != 1 or len(downs) != 1:
            continue
        up, down = next(iter(ups)), next(iter(downs))
        width = graph.ops[up].dims.get("n")
        if graph.ops[up].category != Category.GEMM or graph.ops[down].dims.get("k") != width:
            continue
        assert width is not None
        kept = width - round(fraction * width)
        if kept < 1:
            raise WhatIfError(f"whatif.prune_ffn: pruning {fraction} of {width} leaves none")
        ops[up] = resize_gemm(ops[up], n=kept)
        ops[down] = resize_gemm(ops[down], k=kept)
        for middle in before | after:
            done.add(middle)
            old = graph.ops[middle]
            inputs = tuple(_last(t, width, kept) for t in old.inputs)
            outputs = tuple(_last(t, width, kept) for t in old.outputs)
            ops[middle] = recount(old, inputs, outputs)
    return with_params(graph, tuple(ops))


def _last(tensor: TensorSpec, width: int, kept: int) -> TensorSpec:
    if tensor.shape and tensor.shape[-1] == width:
        return resize(tensor, (*tensor.shape[:-1], kept))
    return tensor
