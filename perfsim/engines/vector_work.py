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

An op inside a fused attention kernel on a GPU runs on the units that kernel's CTAs occupy
(`kernel_units`), and the kernel's softmax converts between the products' number types
and its own float arithmetic on the conversion pipe (`conversion_s`).
"""

from __future__ import annotations

from typing import Final

from perfsim.engines.cycle.vector import op_kind, specials_per_element, vector_elements
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpNode

# conversions per score element in a fused attention kernel's softmax, by the bits of the
# products' operands: int8 products accumulate in int32, converted to float for the
# softmax (I2F), and take the probabilities back as int8 (F2I), two 32-bit conversions of
# the CUDA guide's "all other type conversions" row. fp16 / bf16 products take the
# probabilities as half pairs (F2FP.PACK_AB, one instruction a pair, Ampere's packing
# conversion): not charged, because the guide gives no rate for a packed pair and the
# H200's measured fused kernels (gpu-h200-checks/attention.csv, a check) leave no room
# for one at 16 a cycle; fp32 products convert nothing
CONVERSIONS_PER_SCORE: Final = {8: 2.0}


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
    file's measured ``compute.vector.stream_efficiency`` of its kind at its input's dtype
    (``layer_norm.fp16``), else of its kind, else 1."""
    efficiencies = hw.compute.vector.stream_efficiency
    if not efficiencies or op.category.is_matrix:
        return 1.0
    kind = op_kind(op)
    dtype = op.inputs[0].dtype if op.inputs else ""
    return float(efficiencies.get(f"{kind}.{dtype}", efficiencies.get(kind, 1.0)))


def kernel_units(op: OpNode, hw: HardwareSpec) -> int:
    """Units ``op``'s kernel occupies: at most one per CTA for an op of a fused attention
    kernel (``dims["ctas"]``, `perfsim.hardware.attention_kernel`) on a device that runs
    library GPU kernels (``compute.matrix.library_tiles``), every unit otherwise.

    A CTA runs on one unit, so a kernel with fewer CTAs than units leaves the rest idle:
    TensorRT's fixed-length BERT attention at batch 1 runs its softmax on 16 of an A100's
    108 SMs (one CTA per head).
    """
    units = hw.compute.units
    ctas = op.dims.get("ctas")
    matrix = hw.compute.matrix
    if not ctas or matrix is None or not matrix.library_tiles:
        return units
    return max(1, min(units, int(ctas)))


def unit_spread(op: OpNode, hw: HardwareSpec) -> float:
    """How much longer ``op``'s vector work takes than on every unit (>= 1)."""
    return hw.compute.units / kernel_units(op, hw)


def conversion_s(op: OpNode, hw: HardwareSpec) -> float:
    """Seconds the softmax of a fused attention kernel (``dims["product_bits"]``) spends
    converting: `CONVERSIONS_PER_SCORE` per score element at the file's
    ``compute.vector.convert_per_cycle`` on the units its kernel occupies; 0 for any other
    op, without the field, or where the file's measured element cost holds it.

    Serial with the rest of the softmax, as its transcendentals are: the same warps convert
    the row they reduce. (TensorRT's int8 attention skips the conversion where it can: its
    ``enable_i2f_trick`` builds the output's floats with integer adds when the scale
    allows, NVIDIA/TensorRT @8.4.3 ``qkvToContext.cu``; the scores' and probabilities'
    conversions remain.)
    """
    rate = hw.compute.vector.convert_per_cycle
    bits = op.dims.get("product_bits")
    if rate is None or bits is None or measured_vector_flops(op, hw) is not None:
        return 0.0
    count = vector_elements(op) * CONVERSIONS_PER_SCORE.get(int(bits), 0.0)
    return count / (float(rate) * kernel_units(op, hw) * hw.compute.clock)


def special_function_s(op: OpNode, hw: HardwareSpec) -> float:
    """Seconds ``op``'s transcendentals (`specials_per_element` x its elements) take on the
    file's special-function pipes, every unit's at once; 0 without the pipe, or where the
    file's measured element cost of the kind already holds them.

    On the units its kernel occupies (`kernel_units`). Serial with the op's arithmetic: in
    a softmax the same warps compute the row's maximum,
    the exponentials and the sum in turn (FlashAttention-2's kernels, cuDNN's and
    PyTorch's), so the exponentials' time adds (Shah et al., "FlashAttention-3", 2024: an
    H100 SXM5 has 989 TFLOPS of FP16 matmul but 3.9 TFLOPS of special functions, which
    FlashAttention-3 overlaps by ping-ponging warpgroups and FlashAttention-2 does not).
    """
    rate = hw.compute.vector.special_per_cycle
    if rate is None or measured_vector_flops(op, hw) is not None:
        return 0.0
    count = vector_elements(op) * specials_per_element(op)
    return count / (float(rate) * kernel_units(op, hw) * hw.compute.clock)
