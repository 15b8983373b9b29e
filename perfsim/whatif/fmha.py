"""apex's fused multi-head attention (``apex.contrib.fmha``, 2021) in place of FlashAttention.

NVIDIA's MLPerf Training v1.0 BERT (``--unpad_fmha``) runs apex's fmhalib (NVIDIA/apex
5c9b21d8, "adds fmhalib", April 2021; the NGC 21.05 container the run used). Like
FlashAttention it runs an attention in one forward and one backward kernel, but:

- **keys**: the kernel is compiled for 128, 256, 384 or 512 keys and chosen per batch, the
  smallest that holds its longest sequence (``fmha_api.cpp``, ``max_seq_len``); each CTA
  (one per sequence and head: ``dim3 grid(params.h, params.b)``) walks its sequence's query
  rows 16 at a time, stopping at ``actual_seqlen``, and multiplies every step by *all* of
  the kernel's keys, masked beyond the sequence (``Cta_tile_p::N`` is the kernel's length;
  ``fmha::Mask`` tests columns only). So every product and score op of a sequence of ``l``
  tokens does ``S / l`` times its traced work, ``S`` the kernel's keys (`widen_keys`).
- **probabilities in memory**: in training the forward kernel stores the dropout-encoded
  probabilities, fp16, for every valid (row, key) (``gmem_s.store(softmax.elt_, mask)``
  into ``s = torch::empty({batch, heads, seq_len, seq_len})``); the backward kernel
  (``compute_dv_1xN`` then ``compute_dq_dk_1xN``, one launch) reads them, writes dS over
  them ("softmax gets overwritten by dP!") and reads dS back: four passes over the
  probabilities' bytes, where FlashAttention moves none.
- **no recomputation**: the backward reads P instead of recomputing QKᵀ; its products are
  dP = dO Vᵀ, dV = Pᵀ dO, dQ = dS K and dK = dSᵀ Q.

`fmha_training` rewrites a training graph's attention blocks so (the ``attention`` fusion
pass with ``attention_kernel=apex_fmha``); an inference graph's fused attention kernels
keep their probabilities on chip and only widen their keys (the fmhalib's predict kernel
stores nothing), `perfsim.whatif.fusion`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Final

from perfsim.errors import WorkloadError
from perfsim.ir import Category, OpGraph, OpNode, TensorSpec
from perfsim.whatif.flash import keep_on_chip
from perfsim.whatif.graphops import consumers

# fmha_api.cpp: run_fmha_fp16_{128,256,384,512}_64_sm80, chosen by max_seq_len
KERNEL_KEYS: Final = (128, 256, 384, 512)


def kernel_keys(longest: int) -> int:
    """The keys of the fmhalib kernel that runs a batch whose longest sequence has
    ``longest`` tokens.

    Raises:
        WorkloadError: a sequence longer than the largest kernel (512 tokens).
    """
    for keys in KERNEL_KEYS:
        if longest <= keys:
            return keys
    raise WorkloadError(
        f"--whatif attention_kernel=apex_fmha: apex's fmhalib runs sequences of at most "
        f"{KERNEL_KEYS[-1]} tokens, got {longest}"
    )


def _scaled(count: int, tokens: int, keys: int) -> int:
    """``count`` x keys / tokens, exactly when ``tokens`` divides it (a dim of the op)."""
    if count % tokens == 0:
        return count // tokens * keys
    return round(count * keys / tokens)


def _widened(tensor: TensorSpec, tokens: int, keys: int) -> TensorSpec:
    """A score tensor with its key axis (the last) widened to the kernel's keys."""
    if not tensor.shape or tensor.shape[-1] != tokens:
        return tensor
    shape = (*tensor.shape[:-1], keys)
    return TensorSpec(shape, tensor.dtype, _scaled(tensor.stored_numel, tokens, keys), tensor.role)


def widen_keys(op: OpNode, tokens: int, keys: int) -> OpNode:
    """``op`` of an attention over ``tokens`` as the fmhalib kernel runs it, over ``keys``.

    A product's MACs and FLOPs grow by ``keys / tokens`` and its key dim becomes ``keys``
    (the first of ``n``, ``k``, ``m`` that equals ``tokens``: the key dim of QKᵀ, AV, dP,
    dQ; of dV and dK it is ``m``, which the same count gives); a score op's FLOPs and its
    score tensors' key axis grow alike, so its exponentials and element passes count the
    masked columns too. Bytes do not change: the kernel loads and stores valid columns only.
    """
    if keys == tokens or op.category == Category.DATA_MOVEMENT:  # a layout copy: no keys
        return op
    if op.category.is_matrix:
        dims = dict(op.dims)
        key = next((name for name in ("n", "k", "m") if dims.get(name) == tokens), None)
        if key is None:
            return op
        dims[key] = keys
        return replace(
            op,
            dims=dims,
            macs=_scaled(op.macs, tokens, keys),
            flops=_scaled(op.flops, tokens, keys),
        )
    return replace(
        op,
        inputs=tuple(_widened(t, tokens, keys) for t in op.inputs),
        outputs=tuple(_widened(t, tokens, keys) for t in op.outputs),
        flops=_scaled(op.flops, tokens, keys),
    )


def widen_kernels(ops: list[OpNode], kernels: Iterable[tuple[int, Iterable[int]]]) -> None:
    """Widen every op of each ``(qk, members)`` fused attention kernel in place, over the
    keys of the kernel that holds the longest sequence among them (QKᵀ's ``m`` rows)."""
    kernels = [(qk, tuple(members)) for qk, members in kernels]
    if not kernels:
        return
    keys = kernel_keys(max(ops[qk].dims["m"] for qk, _ in kernels))
    for qk, members in kernels:
        tokens = ops[qk].dims["m"]
        for index in members:
            ops[index] = widen_keys(ops[index], tokens, keys)


def fmha_training(graph: OpGraph) -> tuple[OpGraph, frozenset[str], frozenset[str]]:
    """The training graph with the fmhalib's kernels for its attention blocks, the names of
    the ops they fused and of those launched inside another's kernel (as
    `perfsim.whatif.flash.flash_training` returns them)."""
    kept = keep_on_chip(graph)
    if kept is None:
        return graph, frozenset(), frozenset()
    ops = kept.ops
    inner: set[str] = set()
    for block, touched in zip(kept.blocks, kept.touched, strict=True):
        softmax = next(i for i in block.forward if graph.ops[i].category == Category.SOFTMAX)
        probabilities = graph.ops[softmax].outputs[0].nbytes
        scores_back = sorted(block.backward)
        backward = [i for i in touched if graph.ops[i].phase != "forward"]
        # dQ = dS K or dK = dSᵀ Q, whichever comes first, reads dS back
        ds_reader = next(
            (i for i in backward if i > scores_back[-1] and graph.ops[i].category.is_matrix),
            scores_back[-1],
        )
        moved = ((softmax, 0, 1), (scores_back[0], 1, 0), (scores_back[-1], 0, 1))
        for index, read, written in (*moved, (ds_reader, 1, 0)):
            op = ops[index]
            ops[index] = replace(
                op,
                bytes_read=op.bytes_read + read * probabilities,
                bytes_written=op.bytes_written + written * probabilities,
            )
        # one forward kernel launched by QKᵀ, one backward kernel by its first op
        inner.update(graph.ops[i].name for i in touched if i not in (block.qk, backward[0]))
    kernels = zip((block.qk for block in kept.blocks), kept.touched, strict=True)
    widen_kernels(ops, kernels)
    products = {i for touched in kept.touched for i in touched if ops[i].category.is_matrix}
    copies = _packed_layout_copies(graph, products)
    for index in copies:
        ops[index] = replace(ops[index], bytes_read=0, bytes_written=0)
    names = frozenset(graph.ops[i].name for i in copies)
    return OpGraph(tuple(ops), graph.meta), kept.fused | names, frozenset(inner) | names


def _packed_layout_copies(graph: OpGraph, products: set[int]) -> list[int]:
    """The layout copies the fmhalib does without: those whose every input comes from, or
    whose every reader is, one of its kernels' ``products``. It reads Q, K and V packed as
    the QKV GEMM writes them (``qkv`` of ``[total, 3, heads, d]``), writes the context as
    the output projection reads it (``[total, heads, d]``) and the gradients of Q, K and V
    packed again (``dqkv = torch::empty_like(qkv)``, ``fmha_api.cpp``), where the traced
    model permutes each to and from ``[batch, heads, tokens, d]``."""
    readers = consumers(graph)
    copies = []
    for index, op in enumerate(graph.ops):
        if op.category != Category.DATA_MOVEMENT:
            continue
        fed = bool(op.deps) and all(dep in products for dep in op.deps)
        feeds = bool(readers[index]) and all(reader in products for reader in readers[index])
        if fed or feeds:
            copies.append(index)
    return copies
