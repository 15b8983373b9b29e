"""What-if knobs: graph and hardware transformations, then the usual cost models.

``estimate_whatif(graph, hw, precision=..., engine=..., whatifs=...)`` costs an fp32 traced
graph under a set of knobs (`WhatIfs`, built by `parse_whatifs`). Composition order, fixed
so that every pass sees the shapes and dtypes it needs:

1. MLM gather (`perfsim.whatif.mlm_gather`) — the masked-LM head and loss over the
   masked positions only, then the word-embedding lookup as a one-hot product where asked
   (`perfsim.whatif.one_hot`) (training or inference; the only shape passes valid in
   training);
2. prune (heads, FFN width; `perfsim.whatif.prune`) — shapes shrink;
3. N:M sparsity (`perfsim.whatif.sparsity`) — weight GEMMs' reduction dim shrinks;
4. low-rank factorization (`perfsim.whatif.lowrank`) — weight GEMMs split in two;
5. quantize (`perfsim.precision` policy, or W4A8; `perfsim.whatif.quantize`) — dtypes and
   bytes recounted;
6. fuse (`perfsim.whatif.fusion`) — bytes of intermediates dropped (after quantization,
   which recounts bytes from tensors);
7. cost: on the device's share for one of ``instances`` (`perfsim.whatif.instances`), with
   the chosen categories on a near-memory unit (`perfsim.whatif.pim`).

An empty `WhatIfs` gives exactly ``estimate_graph(apply_precision(graph, p), hw, engine)``.
"""

from __future__ import annotations

from perfsim.engines import OpCost
from perfsim.estimate import Result, check_precision, estimate_graph
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpGraph
from perfsim.precision import apply_precision
from perfsim.whatif.fusion import fuse, fusion_groups
from perfsim.whatif.instances import device_share
from perfsim.whatif.knobs import (
    WhatIfError,
    WhatIfs,
    parse_assignments,
    parse_whatifs,
)
from perfsim.whatif.lengths import kernel_part_names
from perfsim.whatif.lowrank import low_rank
from perfsim.whatif.mlm_gather import mlm_gather
from perfsim.whatif.one_hot import one_hot_embeddings
from perfsim.whatif.pim import pim_device, pim_finisher
from perfsim.whatif.placement import (
    Placement,
    estimate_placed,
    library_kernels,
    without_overhead,
)
from perfsim.whatif.prune import prune_ffn, prune_heads
from perfsim.whatif.quantize import quantize, quantized_precision
from perfsim.whatif.sparsity import sparsify


def transform_graph(graph: OpGraph, whatifs: WhatIfs, precision: str) -> OpGraph:
    """Steps 1-5 of the composition order: the typed graph the cost models will see."""
    graph = mlm_gather(graph, whatifs.mlm_positions)
    graph = one_hot_embeddings(graph, whatifs.word_embedding)
    graph = prune_heads(graph, whatifs.prune_heads)
    graph = prune_ffn(graph, whatifs.prune_ffn)
    graph = sparsify(graph, whatifs.sparsity, whatifs.sparsity_speedup)
    graph = low_rank(graph, whatifs.low_rank)
    return quantize(graph, whatifs.quant, precision)


def estimate_whatif(
    graph: OpGraph,
    hw: HardwareSpec,
    *,
    precision: str | None,
    engine: str,
    whatifs: WhatIfs,
) -> Result:
    """Cost an fp32 traced graph on ``hw`` under ``whatifs`` (module docstring's order).

    ``precision`` None means the hardware's native one; the ``quant`` knob overrides it.
    The result's graph meta gains ``whatifs`` (the applied knobs), which the summary shows.
    """
    chosen = quantized_precision(whatifs.quant, precision or hw.native_precision)
    check_precision(hw, chosen)
    parts = kernel_part_names(graph, whatifs.sequence_kernels)
    if whatifs.is_empty and not parts:
        return estimate_graph(apply_precision(graph, chosen), hw, engine)
    typed = transform_graph(graph, whatifs, chosen)
    fused, inner = fuse(typed, whatifs.fusion, whatifs.attention_kernel)
    # ops launched inside an earlier op's kernel: fused ones, and parts of one kernel
    inner = inner | {index for index, op in enumerate(fused.ops) if op.name in parts}
    meta = fused.meta.but(whatifs=whatifs.applied(), instances=whatifs.instances)
    fused = OpGraph(fused.ops, meta)
    share = library_kernels(device_share(hw, whatifs.instances), whatifs.fusion)
    placements = [Placement(share), Placement(without_overhead(share))]
    choice = [1 if index in inner else 0 for index in range(len(fused.ops))]
    if whatifs.pim:
        pim_hw = pim_device(share, whatifs)
        placements.append(Placement(pim_hw, pim_finisher(pim_hw)))
        # a fused op runs where its kernel runs: only unfused ops move to the PIM unit
        grouped = {index for group in fusion_groups(fused, whatifs.fusion) for index in group}
        grouped |= inner
        for index, op in enumerate(fused.ops):
            if index not in grouped and op.category.value in whatifs.pim_categories:
                choice[index] = 2
    return estimate_placed(fused, placements, choice, engine)


__all__ = [
    "OpCost",
    "WhatIfError",
    "WhatIfs",
    "estimate_whatif",
    "fuse",
    "fusion_groups",
    "parse_assignments",
    "parse_whatifs",
    "transform_graph",
]
