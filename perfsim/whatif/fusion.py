"""Operator fusion: intermediate tensors that never go to memory.

A fused *group* is a chain of ops ``c1 -> c2 -> ... -> cn`` in which each ``c(i+1)`` reads
``ci``'s first output and is its only reader (``deps``). Inside a group the intermediates
``c1 .. c(n-1)`` outputs are neither written nor read back: each edge removes the
producer's write and the consumer's read of that tensor. FLOPs and MACs never change (the
fused ops' FLOPs stay on their rows, on the vector unit); only bytes drop (except for
FlashAttention's recomputation in a training step, below). Ops after the
first of a group are launched inside its kernel: they carry no launch overhead (see
`perfsim.whatif.placement`).

Passes (an op joins at most one group; applied in this order):

- ``attention``: FlashAttention (Dao et al., "FlashAttention: Fast and Memory-Efficient
  Exact Attention with IO-Awareness", NeurIPS 2022): QKᵀ, the ops between it and the AV
  product (scale, mask, softmax, dropout) and AV in one kernel; the L x L scores and
  probabilities are never materialized, Q, K, V are read and O written once. NB: the
  softmax FLOPs are still counted serially after QKᵀ (FlashAttention overlaps them with the
  matrix units). The layout copies that make Q, Kᵀ or V contiguous for a batched matmul
  (Hugging Face's eager attention: ``torch.matmul`` on permuted views) never run either:
  the fused kernel reads the strided views (torch's SDPA takes them as they are; eager
  CUDA and CPU runs show no copy kernel), so a copy whose only reader is an attention
  product moves no bytes and launches nothing. In a training step the backward pass is
  fused too and S, P and the dropout mask are recomputed there (`perfsim.whatif.flash`):
  the only pass that adds FLOPs. The kernel's two products carry ``dims["flash"]``: a
  CPU's calibrated GEMM efficiency is looked up at the blocks torch's CPU kernel multiplies
  (`perfsim.hardware.flash_blocks`).
- ``softmax``: scale / mask ops before the softmax and the dropout after it in one pass
  over the scores (as in Megatron-LM's ``scaled_masked_softmax`` kernel).
- ``layernorm``: the residual add that feeds a LayerNorm, fused into it (as in
  FasterTransformer's ``addBiasResidualLayerNorm``).
- ``epilogue``: element-wise, bias, activation, dropout and layout-copy ops that follow a
  GEMM or an attention product run in its epilogue (as CUTLASS epilogues do). The GEMM's
  write stands for the chain's final output (same size), so the last op's write is
  dropped rather than the GEMM's: the write stays on the row that overlaps it.
- ``residual``: a dropout and the residual add that reads it in one element-wise kernel,
  apart from the GEMM before and the LayerNorm after (Megatron-LM's ``bias_dropout_add``,
  DeepSpeed's ``Dropout::ForwardWithBias``, NVIDIA's MLPerf BERT ``jit_dropout_add``):
  for codes that fuse those two but neither into the GEMM's epilogue nor into the
  LayerNorm. Under ``all`` the epilogue and layernorm passes have taken both ops already.
- ``optimizer``: a training step's optimizer update as a fused multi-tensor optimizer
  (apex ``FusedAdam`` / ``FusedLAMB``, DeepSpeed's): each parameter's update in one kernel
  (two for LAMB) that reads parameter, gradient and state once and writes them once
  (`perfsim.whatif.fused_optimizer`).
- ``qkv``: sibling projections of one activation (query, key, value) as one GEMM over
  their concatenated weights, as TensorRT's BERT builder, DeepSpeed's and NVIDIA's MLPerf
  training kernels run them (`perfsim.whatif.qkv`: in a training step the backward too;
  applied last, on the other passes' bytes).

Applied after quantization (bytes are counted on the final dtypes); cost models then see
ops with fewer bytes and nothing else changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise
from typing import Final

from perfsim.hardware.attention_kernel import APEX_FMHA, DEFAULT_KERNEL
from perfsim.hardware.flash_blocks import FLASH_AV, FLASH_QK
from perfsim.ir import Category, OpGraph, OpNode, TensorSpec
from perfsim.whatif.attention_kernels import attention_kernels, mark_grids
from perfsim.whatif.flash import flash_training
from perfsim.whatif.fmha import fmha_training, widen_kernels
from perfsim.whatif.fused_optimizer import fuse_optimizer, optimizer_stages
from perfsim.whatif.graphops import consumers
from perfsim.whatif.qkv import PASS as QKV_PASS
from perfsim.whatif.qkv import fuse_projections

# the pass that stands for torch's fused scaled-dot-product attention (its default backend:
# the flash kernel on CPUs and recent GPUs), as eager PyTorch runs Hugging Face's BERT
SDPA_FUSION: Final = "attention"

_EPILOGUE = frozenset(
    {Category.ELEMENTWISE, Category.GELU, Category.DROPOUT, Category.DATA_MOVEMENT}
)
_SCORE_PREFIX = frozenset({Category.ELEMENTWISE})
_SCORE_SUFFIX = frozenset({Category.DROPOUT, Category.ELEMENTWISE})
_ATTENTION_MIDDLE = frozenset(
    {Category.ELEMENTWISE, Category.SOFTMAX, Category.DROPOUT, Category.DATA_MOVEMENT}
)


class _Chains:
    """Fusable-edge queries over one graph (``readers`` from ``deps``)."""

    def __init__(self, graph: OpGraph) -> None:
        self.ops = graph.ops
        self.readers = consumers(graph)
        self.taken: set[int] = set()
        # layout copies a fused attention kernel makes unnecessary (`_layout_prologue`)
        self.prologue: list[int] = []
        # the products of each fused attention kernel: index -> FLASH_QK / FLASH_AV
        self.flash_roles: dict[int, int] = {}

    def sole_reader(self, index: int) -> int | None:
        """The only op reading ``index``'s output if it reads it whole, else None."""
        readers = self.readers[index]
        if len(readers) != 1 or not self.ops[index].outputs:
            return None
        reader = readers[0]
        # elements, not bytes: under int8 a GEMM reads as int8 what the op before wrote in
        # fp16 (the quantize step is folded into the GEMM's read, perfsim.precision)
        size = self.ops[index].outputs[0].stored_numel
        if self.ops[reader].phase != self.ops[index].phase:
            return None
        if not any(tensor.stored_numel == size for tensor in self.ops[reader].inputs):
            return None
        return reader

    def free(self, *indices: int) -> bool:
        return not any(index in self.taken for index in indices)

    def claim(self, group: Sequence[int]) -> list[int]:
        self.taken.update(group)
        return list(group)


def _attention_groups(chains: _Chains) -> list[list[int]]:
    groups = []
    for index, op in enumerate(chains.ops):
        if op.category != Category.ATTN_GEMM or not chains.free(index):
            continue
        group = [index]
        current = chains.sole_reader(index)
        while current is not None and chains.ops[current].category in _ATTENTION_MIDDLE:
            group.append(current)
            current = chains.sole_reader(current)
        has_softmax = any(chains.ops[i].category == Category.SOFTMAX for i in group)
        ends_in_av = current is not None and chains.ops[current].category == Category.ATTN_GEMM
        if current is not None and ends_in_av and has_softmax and chains.free(*group, current):
            # FlashAttention writes O straight into the layout the next GEMM reads
            groups.append(chains.claim([*group, *_epilogue_chain(chains, current)]))
            chains.prologue.extend(chains.claim(_layout_prologue(chains, groups[-1])))
            chains.flash_roles.update({index: FLASH_QK, current: FLASH_AV})
    return groups


def _layout_prologue(chains: _Chains, group: Sequence[int]) -> list[int]:
    """Layout copies whose only reader is one of ``group``'s attention products: copies
    of a whole tensor (a clone making a permuted Q, Kᵀ or V contiguous), no arithmetic."""
    copies = []
    for index in group:
        if chains.ops[index].category != Category.ATTN_GEMM:
            continue
        for dep in chains.ops[index].deps:
            producer = chains.ops[dep]
            if (
                producer.category == Category.DATA_MOVEMENT
                and producer.flops == 0
                and len(producer.inputs) == 1
                and producer.outputs
                and producer.inputs[0].stored_numel == producer.outputs[0].stored_numel
                and chains.sole_reader(dep) == index
                and chains.free(dep)
                and dep not in copies
            ):
                copies.append(dep)
    return copies


def _softmax_groups(chains: _Chains) -> list[list[int]]:
    groups = []
    for index, op in enumerate(chains.ops):
        if op.category != Category.SOFTMAX or not chains.free(index):
            continue
        before: list[int] = []
        current = index
        while True:
            producers = [
                dep
                for dep in chains.ops[current].deps
                if chains.ops[dep].category in _SCORE_PREFIX
                and chains.sole_reader(dep) == current
                and chains.free(dep)
            ]
            if not producers:
                break
            current = producers[0]
            before.insert(0, current)
        after: list[int] = []
        reader = chains.sole_reader(index)
        while reader is not None and chains.ops[reader].category in _SCORE_SUFFIX:
            if not chains.free(reader):
                break
            after.append(reader)
            reader = chains.sole_reader(reader)
        group = [*before, index, *after]
        if len(group) > 1:
            groups.append(chains.claim(group))
    return groups


def _layernorm_groups(chains: _Chains) -> list[list[int]]:
    groups = []
    for index, op in enumerate(chains.ops):
        if op.category != Category.LAYERNORM or not chains.free(index):
            continue
        for dep in op.deps:
            producer = chains.ops[dep]
            if (
                producer.category == Category.ELEMENTWISE
                and chains.sole_reader(dep) == index
                and chains.free(dep)
            ):
                groups.append(chains.claim([dep, index]))
                break
    return groups


def _epilogue_chain(chains: _Chains, root: int) -> list[int]:
    """``root`` and the epilogue-able ops after it that write a tensor of its size."""
    size = chains.ops[root].outputs[0].nbytes if chains.ops[root].outputs else -1
    group = [root]
    reader = chains.sole_reader(root)
    while (
        reader is not None
        and chains.ops[reader].category in _EPILOGUE
        and chains.free(reader)
        and chains.ops[reader].outputs
        and chains.ops[reader].outputs[0].nbytes == size
    ):
        group.append(reader)
        reader = chains.sole_reader(reader)
    return group


def _epilogue_groups(chains: _Chains) -> list[list[int]]:
    groups = []
    for index, op in enumerate(chains.ops):
        if not op.category.is_matrix or not chains.free(index) or not op.outputs:
            continue
        group = _epilogue_chain(chains, index)
        if len(group) > 1:
            groups.append(chains.claim(group))
    return groups


def _residual_groups(chains: _Chains) -> list[list[int]]:
    groups = []
    for index, op in enumerate(chains.ops):
        if op.category != Category.DROPOUT or not chains.free(index) or not op.outputs:
            continue
        # in a training step the backward reads the dropout's mask: only the add (same
        # phase) may read its output
        readers = [r for r in chains.readers[index] if chains.ops[r].phase == op.phase]
        size = op.outputs[0].stored_numel
        reader = readers[0] if len(readers) == 1 else None
        if (
            reader is not None
            and any(t.stored_numel == size for t in chains.ops[reader].inputs)
            and chains.ops[reader].category == Category.ELEMENTWISE
            and len(chains.ops[reader].inputs) == 2
            and chains.free(reader)
        ):
            groups.append(chains.claim([index, reader]))
    return groups


_PASSES = {
    "attention": _attention_groups,
    "softmax": _softmax_groups,
    "layernorm": _layernorm_groups,
    "epilogue": _epilogue_groups,
    # last: after the epilogue and layernorm passes have taken what they fuse, so that
    # fusion=all finds nothing more to do here
    "residual": _residual_groups,
}


def fusion_groups(
    graph: OpGraph, passes: Sequence[str], taken: frozenset[str] = frozenset()
) -> list[list[int]]:
    """The fused groups (op indices in chain order) the named passes find, in pass order;
        ops named in ``taken`` are left out. The ``optimizer`` pass adds one group per kernel
        (`perfsim.whatif.fused_optimizer`).
    - ``qkv``: sibling projections of one activation (query, key, value) as one GEMM over
      their concatenated weights (`perfsim.whatif.qkv`; forward and, in a training step,
      backward; applied last, on the other passes' bytes)."""
    groups, updates, prologue, _ = _groups(graph, passes, taken)
    return groups + [stage for stages in updates for stage in stages] + [[i] for i in prologue]


def _groups(
    graph: OpGraph, passes: Sequence[str], taken: frozenset[str]
) -> tuple[list[list[int]], list[list[list[int]]], list[int], dict[int, int]]:
    """Chain groups, the optimizer pass's per-parameter kernels, the layout copies the
    attention pass makes unnecessary, and the roles of its kernels' two products."""
    chains = _Chains(graph)
    chains.taken.update(i for i, op in enumerate(graph.ops) if op.name in taken)
    groups: list[list[int]] = []
    for name in _PASSES:  # the documented order, whatever order the caller named them in
        if name in passes:
            groups.extend(_PASSES[name](chains))
    updates = []
    if "optimizer" in passes:
        updates = optimizer_stages(graph, frozenset(chains.taken))
    return groups, updates, chains.prologue, chains.flash_roles


def _bytes_read_of(reader: OpNode, tensor: TensorSpec) -> int:
    """Bytes ``reader`` counted for reading ``tensor``: ``tensor``'s own bytes where the
    reader has an input of its size and dtype (or none of its size), else the reader's input
    of that size in the reader's dtype (under the int8 policy a matrix op reads an fp16
    softmax's probabilities as int8, half the bytes the softmax wrote)."""
    same_size = [spec for spec in reader.inputs if spec.numel == tensor.numel]
    if not same_size or any(spec.dtype == tensor.dtype for spec in same_size):
        return tensor.nbytes  # read as written (a mask of the same size is another input)
    return same_size[0].nbytes


def _apply(ops: list[OpNode], group: Sequence[int]) -> None:
    """Drop the intermediates' writes and reads of one group (in place on a fresh list).

    One write of the group's final output stays, on the last matrix op when only epilogue
    ops follow it (the write overlaps its compute), else on the last op.
    """
    matrix = [index for index in group if ops[index].category.is_matrix]
    owner = matrix[-1] if matrix else group[-1]
    for producer, reader in pairwise(group):
        size = _bytes_read_of(ops[reader], ops[producer].outputs[0])
        ops[reader] = replace(ops[reader], bytes_read=ops[reader].bytes_read - size)
    for index in group:
        if index != owner:
            out = ops[index].outputs[0].nbytes
            ops[index] = replace(ops[index], bytes_written=ops[index].bytes_written - out)


def fuse(
    graph: OpGraph, passes: Sequence[str], attention_kernel: str = DEFAULT_KERNEL
) -> tuple[OpGraph, frozenset[int]]:
    """The fused graph, and the indices of ops launched inside another op's kernel.

    In a training step the ``attention`` pass is FlashAttention's forward and backward
    with its recomputation (`perfsim.whatif.flash`), which adds FLOPs, or apex's fmhalib
    kernels with ``attention_kernel=apex_fmha`` (`perfsim.whatif.fmha`). In inference each
    fused attention kernel's ops carry its CTA grid for ``attention_kernel``
    (`perfsim.hardware.attention_kernel`, `perfsim.whatif.attention_kernels`), and the fmhalib's
    kernels multiply by all of their keys.
    """
    if not passes:
        return graph, frozenset()
    flash_inner: frozenset[str] = frozenset()
    taken: frozenset[str] = frozenset()
    if "attention" in passes:
        training = fmha_training if attention_kernel == APEX_FMHA else flash_training
        graph, taken, flash_inner = training(graph)
    # FlashAttention's recomputed score ops belong to its backward kernel: no other pass
    # groups them (they read and write nothing already)
    groups, updates, prologue, roles = _groups(graph, passes, taken | flash_inner)
    ops = list(graph.ops)
    inner: set[int] = {i for i, op in enumerate(graph.ops) if op.name in flash_inner}
    for group in groups:
        _apply(ops, group)
        inner.update(group[1:])
    for index in prologue:  # the attention kernel reads the strided operand itself
        ops[index] = replace(ops[index], bytes_read=0, bytes_written=0)
        inner.add(index)
    for index, role in roles.items():  # multiplied block by block (a CPU BLAS's shapes)
        ops[index] = replace(ops[index], dims={**ops[index].dims, "flash": role})
    kernels = attention_kernels(groups, roles)
    mark_grids(ops, kernels, roles, attention_kernel)
    if attention_kernel == APEX_FMHA:  # every key of its kernel, masked (perfsim.whatif.fmha)
        widen_kernels(ops, kernels)
    fuse_optimizer(ops, updates, graph.meta)
    inner.update(i for stages in updates for stage in stages for i in stage[1:])
    fused = OpGraph(tuple(ops), graph.meta)
    if QKV_PASS in passes:  # last: on the other passes' bytes, and it renumbers the ops
        return fuse_projections(fused, frozenset(inner))
    return fused, frozenset(inner)
