"""Measured vector work: an op's vector time from a hardware file's per-kind element costs,
and the bandwidth its kernel streams at.

Where a file lists ``compute.vector.element_cost`` for an op's kind
(`perfsim.engines.cycle.vector.op_kind`), the op costs ``elements x cost`` FLOPs of vector
time (one FLOP: one element of an out-of-place add at the file's ``flops_per_cycle``), the
same in both engines; elsewhere its counted FLOPs (roofline) or its slots (cycle engine).
Where it lists ``compute.vector.stream_efficiency`` for the kind, the op's kernel moves its
bytes at that fraction of every level's achievable bandwidth (`stream_efficiency`).
"""

from __future__ import annotations

from perfsim.engines.cycle.vector import op_kind, vector_elements
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpNode


def measured_vector_flops(op: OpNode, hw: HardwareSpec) -> float | None:
    """FLOPs of vector time ``op`` costs by the file's measured element cost of its kind;
    None where the file measured none for it (or ``op`` is a matrix op)."""
    costs = hw.compute.vector.element_cost
    if not costs or op.category.is_matrix:
        return None
    cost = costs.get(op_kind(op))
    return None if cost is None else vector_elements(op) * float(cost)


def stream_efficiency(op: OpNode, hw: HardwareSpec) -> float:
    """The fraction of each level's achievable bandwidth ``op``'s kernel streams at: the
    file's measured ``compute.vector.stream_efficiency`` of its kind, else 1."""
    efficiencies = hw.compute.vector.stream_efficiency
    if not efficiencies or op.category.is_matrix:
        return 1.0
    return float(efficiencies.get(op_kind(op), 1.0))
