"""Measured vector work: an op's vector time from a hardware file's per-kind element costs,
and the bandwidth its kernel streams at.

Where a file lists ``compute.vector.element_cost`` for an op's kind
(`perfsim.engines.cycle.vector.op_kind`), the op costs ``elements x cost`` FLOPs of vector
time (one FLOP: one element of an out-of-place add at the file's ``flops_per_cycle``), the
same in both engines; elsewhere its counted FLOPs (roofline) or its slots (cycle engine).
Where it lists ``compute.vector.stream_efficiency`` for the kind, the op's kernel moves its
bytes at that fraction of every level's achievable bandwidth (`stream_efficiency`). Where
it gives a special-function pipe (``compute.vector.special_per_cycle``), an op's
transcendentals take their time there, after its arithmetic (`special_function_s`).
"""

from __future__ import annotations

from perfsim.engines.cycle.vector import op_kind, specials_per_element, vector_elements
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


def special_function_s(op: OpNode, hw: HardwareSpec) -> float:
    """Seconds ``op``'s transcendentals (`specials_per_element` x its elements) take on the
    file's special-function pipes, every unit's at once; 0 without the pipe, or where the
    file's measured element cost of the kind already holds them.

    Serial with the op's arithmetic: in a softmax the same warps compute the row's maximum,
    the exponentials and the sum in turn (FlashAttention-2's kernels, cuDNN's and
    PyTorch's), so the exponentials' time adds (Shah et al., "FlashAttention-3", 2024: an
    H100 SXM5 has 989 TFLOPS of FP16 matmul but 3.9 TFLOPS of special functions, which
    FlashAttention-3 overlaps by ping-ponging warpgroups and FlashAttention-2 does not).
    """
    rate = hw.compute.vector.special_per_cycle
    if rate is None or measured_vector_flops(op, hw) is not None:
        return 0.0
    count = vector_elements(op) * specials_per_element(op)
    return count / (float(rate) * hw.compute.units * hw.compute.clock)
