"""Cost each op of a graph on its own (derived) device and merge the rows in op order.

The what-ifs that change *where* an op runs (a near-memory unit, an op launched inside
another op's kernel) are hardware transformations: the op is costed by the unchanged
engine on a derived `HardwareSpec` whose memory levels keep the host's names, so the
merged `Result` sums per level as usual. No engine is edited.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from perfsim.engines import OpCost
from perfsim.engines.framework import with_framework_refill
from perfsim.engines.residency import resident_ops
from perfsim.estimate import Result, estimate_graph
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpGraph


@dataclass(frozen=True, slots=True)
class Placement:
    """A device ops can run on, and how to finish their cost rows (e.g. relabel them)."""

    hw: HardwareSpec
    finish: Callable[[OpCost], OpCost] | None = None


def without_overhead(hw: HardwareSpec) -> HardwareSpec:
    """The device with no per-op launch overhead and no kernel startup: for ops launched
    inside another kernel."""
    if hw.op_overhead == 0 and not hw.kernel_startup_s:
        return hw
    return hw.model_copy(update={"op_overhead": 0.0, "kernel_startup": None})


def estimate_placed(
    graph: OpGraph,
    placements: Sequence[Placement],
    choice: Sequence[int],
    engine: str,
) -> Result:
    """Cost op ``i`` on ``placements[choice[i]]``; the `Result` reports the first device."""
    costs: list[OpCost | None] = [None] * len(graph.ops)
    # residency is decided on the whole graph (the device's memory), not per placement;
    # ops placed where the memory differs (a near-memory unit) keep their tensors in DRAM
    memory = placements[0].hw.memory
    off_chip = frozenset(i for i, slot in enumerate(choice) if placements[slot].hw.memory != memory)
    annotated = resident_ops(graph, placements[0].hw, off_chip)
    for slot, placement in enumerate(placements):
        picked = [index for index, chosen in enumerate(choice) if chosen == slot]
        if not picked:
            continue
        sub = OpGraph(tuple(annotated[index] for index in picked), graph.meta)
        # a host's framework time follows the whole graph's traffic, not the part's
        result = estimate_graph(sub, with_framework_refill(placement.hw, graph.ops), engine)
        for index, cost in zip(picked, result.costs, strict=True):
            costs[index] = placement.finish(cost) if placement.finish else cost
    done = tuple(cost for cost in costs if cost is not None)
    assert len(done) == len(graph.ops), "every op is placed"
    return Result(graph=graph, hw=placements[0].hw, engine=engine, costs=done)


# the kinds of vector op (`perfsim.counting.vector_kind`) whose kernel a fusion pass replaces
# with a library's: FasterTransformer's / apex's / TensorRT's add+LayerNorm, Megatron's
# scaled_masked_softmax, a flash-attention kernel's on-chip softmax
LIBRARY_KINDS: Final[Mapping[str, frozenset[str]]] = {
    "layernorm": frozenset({"layer_norm", "layer_norm_no_affine"}),
    "softmax": frozenset({"softmax"}),
    "attention": frozenset({"softmax"}),
}


def library_kernels(hw: HardwareSpec, passes: Sequence[str]) -> HardwareSpec:
    """``hw`` as the fused graph runs on it: a kind whose kernel a fusion pass replaces
    with a library's streams at the achievable rate, not at the framework kernel's
    measured ``compute.vector.stream_efficiency`` (apex's FastLayerNorm moves 1,258 GB/s
    forward on a GA100 (NVIDIA/apex PR #1037), eager PyTorch's fp32 one ~990:
    `results/validation/neusight/`)."""
    efficiencies = hw.compute.vector.stream_efficiency
    replaced = set().union(*(LIBRARY_KINDS.get(name, frozenset()) for name in passes))
    kinds = {key: key.split(".", 1)[0] for key in efficiencies or {}}  # layer_norm.fp16 too
    if not efficiencies or not replaced & set(kinds.values()):
        return hw
    kept = {key: value for key, value in efficiencies.items() if kinds[key] not in replaced}
    vector = hw.compute.vector.model_copy(update={"stream_efficiency": kept or None})
    return hw.model_copy(update={"compute": hw.compute.model_copy(update={"vector": vector})})
