"""FlashAttention in a training step: no score tensor in memory, forward or backward.

Dao et al., "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness",
NeurIPS 2022, Algorithms 1 and 4: the forward pass keeps the scores S = QKᵀ, the
probabilities P = softmax(S) and the dropout mask on chip and writes only O (and the
softmax statistics); the backward pass *recomputes* S, P and the mask from Q, K and the
saved statistics and RNG state, and keeps dP and dS on chip too.

Modelled on the traced step, per attention block:

- the *score ops* are the forward ops between QKᵀ and AV (scale, mask, softmax, dropout)
  and the backward ops that read a score tensor and are not matrix products (dropout and
  softmax backward, the scale); the *score producers* are the matrix products whose output
  a score op reads (QKᵀ forward, dP = dO Vᵀ backward);
- score ops and producers write nothing, and every op reading one of their outputs reads
  nothing of it (AV, dV = Pᵀ dO, dQ = dS K, dK = dSᵀ Q read only their other operand);
- the recomputation is counted: copies of QKᵀ (reading Q and K again) and of the forward
  score ops (FLOPs only) run at the start of the block's backward, phase ``backward``, so a
  fused step has *more* FLOPs than the unfused one, as FlashAttention's has.

NB: the softmax statistics (B x heads x L floats) are not written, and the activation
memory in the footprint still counts the saved scores; both are small next to the scores.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from perfsim.ir import Category, OpGraph, OpNode
from perfsim.whatif.graphops import Replacement, consumers, expand


@dataclass(frozen=True, slots=True)
class FlashBlock:
    """One attention block of a training graph, by op index."""

    qk: int
    forward: tuple[int, ...]  # forward score ops, QKᵀ -> AV order
    backward: tuple[int, ...]  # backward score ops
    producers: tuple[int, ...]  # matrix ops writing a score tensor (QKᵀ, dP)


def _forward_chain(graph: OpGraph, readers: list[list[int]], qk: int) -> list[int] | None:
    """Forward score ops from QKᵀ up to AV (forward readers only), or None if not a block."""
    ops = graph.ops
    seen: set[int] = set()
    products: set[int] = set()
    stack = [r for r in readers[qk] if ops[r].phase == "forward"]
    while stack:
        index = stack.pop()
        if index in seen or index in products:
            continue
        if ops[index].category.is_matrix:
            products.add(index)
            continue
        seen.add(index)
        stack.extend(r for r in readers[index] if ops[r].phase == "forward")
    has_softmax = any(ops[i].category == Category.SOFTMAX for i in seen)
    if len(products) != 1 or not has_softmax:
        return None
    return sorted(seen)


def flash_blocks(graph: OpGraph) -> list[FlashBlock]:
    """Attention blocks whose score tensors have backward readers (a training step)."""
    ops = graph.ops
    readers = consumers(graph)
    blocks = []
    for qk, op in enumerate(ops):
        if op.category != Category.ATTN_GEMM or op.phase != "forward":
            continue
        chain = _forward_chain(graph, readers, qk)
        if not chain:
            continue
        scores = set(chain)
        stack = [r for i in chain for r in readers[i] if ops[r].phase != "forward"]
        backward: set[int] = set()
        while stack:
            index = stack.pop()
            if index in scores or ops[index].category.is_matrix:
                continue
            scores.add(index)
            backward.add(index)
            stack.extend(readers[index])
        if not backward:
            continue
        producers = {dep for i in scores for dep in ops[i].deps if ops[dep].category.is_matrix} | {
            qk
        }
        blocks.append(
            FlashBlock(qk, tuple(chain), tuple(sorted(backward)), tuple(sorted(producers)))
        )
    return blocks


def _bytes_passed(producer: OpNode, unclaimed: list[tuple[int, str]]) -> int:
    """Bytes of ``producer``'s outputs among a reader's ``unclaimed`` inputs, matched by
    elements and dtype (a reader often sees a view: another shape, the same storage); a
    matched input is claimed, so no input is taken off the reader's bytes twice."""
    passed = 0
    for tensor in producer.outputs:
        key = (tensor.stored_numel, tensor.dtype)
        if key in unclaimed:
            unclaimed.remove(key)
            passed += tensor.nbytes
    return passed


@dataclass(frozen=True, slots=True)
class OnChip:
    """A training graph with every attention block's score tensors kept on chip."""

    ops: list[OpNode]
    fused: frozenset[str]  # names of every op a block touched (other passes leave them)
    blocks: tuple[FlashBlock, ...]  # as `flash_blocks` finds them
    touched: tuple[tuple[int, ...], ...]  # per block, sorted op indices


def keep_on_chip(graph: OpGraph) -> OnChip | None:
    """``graph``'s ops with each attention block's score tensors neither written nor read
    back (the score ops and producers write nothing, their readers read nothing of them);
    None without a block (not a training step, or no attention)."""
    blocks = flash_blocks(graph)
    if not blocks:
        return None
    readers = consumers(graph)
    ops = list(graph.ops)
    fused: set[str] = set()
    per_block = []
    for block in blocks:
        on_chip = set(block.forward) | set(block.backward) | set(block.producers)
        unclaimed: dict[int, list[tuple[int, str]]] = {}
        touched = set(on_chip)
        for index in on_chip:
            # every output stays on chip, the dropout mask too: FlashAttention regenerates
            # it from the RNG state in backward instead of storing it (Dao et al. 2022, 3.1)
            op = ops[index]
            written = sum(tensor.nbytes for tensor in op.outputs)
            ops[index] = replace(op, bytes_written=op.bytes_written - written)
            for reader in readers[index]:
                if reader not in unclaimed:
                    unclaimed[reader] = [
                        (t.stored_numel, t.dtype) for t in graph.ops[reader].inputs
                    ]
                size = _bytes_passed(graph.ops[index], unclaimed[reader])
                ops[reader] = replace(ops[reader], bytes_read=ops[reader].bytes_read - size)
                touched.add(reader)
        fused.update(graph.ops[i].name for i in touched)
        per_block.append(tuple(sorted(touched)))
    return OnChip(ops, frozenset(fused), tuple(blocks), tuple(per_block))


def flash_training(graph: OpGraph) -> tuple[OpGraph, frozenset[str], frozenset[str]]:
    """The graph with FlashAttention's traffic and recomputation, the names of the ops it
    fused (other passes leave them alone) and of those launched inside another's kernel."""
    kept = keep_on_chip(graph)
    if kept is None:
        return graph, frozenset(), frozenset()
    inner: set[str] = set()
    first_backward: dict[int, FlashBlock] = {}
    for block, touched in zip(kept.blocks, kept.touched, strict=True):
        # one forward kernel, launched by QKᵀ (AV included); one backward kernel, launched
        # by the recomputed QKᵀ before the first backward op that needs a score tensor
        backward = [i for i in touched if graph.ops[i].phase != "forward"]
        inner.update(graph.ops[i].name for i in touched if i != block.qk)
        first_backward[backward[0]] = block

    def recompute(index: int, op: OpNode) -> Replacement | None:
        block = first_backward.get(index)
        if block is None:
            return None
        qk = graph.ops[block.qk]
        copies: list[tuple[OpNode, tuple[int, ...]]] = [
            (replace(qk, name=f"{qk.name}.recompute", phase="backward", bytes_written=0), ())
        ]
        for member in block.forward:
            source = graph.ops[member]
            copy = replace(
                source,
                name=f"{source.name}.recompute",
                phase="backward",
                bytes_read=0,
                bytes_written=0,
                deps=(),
            )
            copies.append((copy, (len(copies) - 1,)))
            inner.add(copy.name)
        return [*copies, (op, (len(copies) - 1,))]

    rebuilt = expand(OpGraph(tuple(kept.ops), graph.meta), recompute)
    return rebuilt, kept.fused, frozenset(inner)
