"""Hierarchical roofline: latency = max(compute, each level's traffic / bandwidth, overhead).

With ``op_overhead_serial`` (CPU eager execution) the overhead adds instead:
latency = overhead + max(compute, each level's traffic / bandwidth).

Compute runs at peak: matrix ops on the matrix engine at their dtype's peak (on the vector
engine when the matrix engine lacks that dtype, e.g. fp32 on tensor cores, recorded in
the ``unit`` column), all other ops on the vector engine; where the hardware file lists
the tiles a GPU library ships (``compute.matrix.library_tiles``), a matrix op's compute
time is that library's plan instead (`perfsim.engines.gpu_gemm`), and the roofline is the
achieved estimate rather than a bound (`perfsim.hardware.ideal` gives the bound). Memory
time per level is the bytes that level serves (`perfsim.engines.traffic`) over its
aggregate bandwidth. The terms overlap perfectly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from perfsim.dtypes import policy
from perfsim.engines import OpCost, register
from perfsim.engines.allocation import fresh_output_s
from perfsim.engines.gpu_gemm import library_plan, plan_details
from perfsim.engines.traffic import level_traffic
from perfsim.engines.vector_work import (
    conversion_s,
    measured_vector_flops,
    special_function_s,
    stream_efficiency,
    unit_spread,
)
from perfsim.errors import UnsupportedPrecisionError
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import DTYPE_BITS, FLOAT_DTYPES, Category, OpNode

QUANTIZED = frozenset({"int8", "int4"})  # integer dtypes a matrix op computes in


def compute_dtype(op: OpNode) -> str:
    """The dtype an op computes in: its first floating-point (or quantized) input's.

    A vector op whose activations are stored quantized (the ``int8-io`` what-if,
    `perfsim.whatif.quantize`) and that touches no floating-point tensor dequantizes them
    and computes in the quantized policies' vector dtype (half precision)."""
    quantized = False
    for tensor in (*op.inputs, *op.outputs):
        if tensor.dtype in FLOAT_DTYPES or (op.category.is_matrix and tensor.dtype in QUANTIZED):
            return tensor.dtype
        quantized = quantized or (tensor.role == "activation" and tensor.dtype in QUANTIZED)
    return policy("int8").vector if quantized else "fp32"


def _vector_dtype(hw: HardwareSpec, dtype: str) -> str:
    if dtype in hw.compute.vector.flops_per_cycle:
        return dtype
    raise UnsupportedPrecisionError(
        f"{hw.name}: compute.vector.flops_per_cycle has no {dtype} entry; "
        f"supported {sorted(hw.compute.vector.flops_per_cycle)}"
    )


def _finish(
    op: OpNode,
    hw: HardwareSpec,
    unit: str,
    dtype: str,
    compute_s: float,
    on_matrix: bool,
    supported: bool = True,
) -> OpCost:
    traffic = level_traffic(op, hw)
    streams = stream_efficiency(op, hw)
    level_s = {
        level.name: traffic[level.name] / (hw.level_bandwidth(level) * streams)
        for level in hw.memory
    }
    memory_s = max(level_s.values())
    terms = {"compute": compute_s, "overhead": hw.op_overhead}
    terms.update({f"memory:{name}": seconds for name, seconds in level_s.items()})
    bound = max(terms, key=lambda key: terms[key])
    fresh_s = fresh_output_s(op, hw)
    # a launched kernel's startup (grid launch, dispatch, completion) adds to its work
    kernel_s = max(compute_s, memory_s) + fresh_s + hw.kernel_startup_s
    latency = hw.op_latency(kernel_s)
    actions: dict[str, float] = {f"{name}.bytes": value for name, value in traffic.items()}
    if on_matrix:
        actions[f"mac.{dtype}"] = float(op.macs)
    elif op.flops:
        actions[f"vector.{dtype}"] = float(op.flops)
    return OpCost(
        op=op.name,
        category=op.category,
        unit=unit,
        dtype=dtype,
        macs=op.macs,
        flops=op.flops,
        bytes_read=op.bytes_read,
        bytes_written=op.bytes_written,
        compute_s=compute_s,
        memory_s=memory_s,
        overhead_s=hw.op_overhead,
        latency_s=latency,
        bound=bound,
        traffic_bytes=traffic,
        level_s=level_s,
        actions=actions,
        supported=supported,
        details={"fresh_pages_s": fresh_s} if fresh_s else {},
        kernel_s=kernel_s,
    )


def weight_packing_s(op: OpNode, hw: HardwareSpec, dtype: str) -> float:
    """Seconds a CPU BLAS spends packing a ``gemm``'s weight operand (``b*k*n`` values).

    Only ``gemm`` ops (``nn.Linear``: the second operand is a weight that comes from
    memory each pass); an attention GEMM multiplies activations. 0 where the file has no
    ``weight_packing_bandwidth``.
    """
    if op.category is not Category.GEMM or not {"k", "n"} <= op.dims.keys():
        return 0.0
    values = op.dims.get("b", 1) * op.dims["k"] * op.dims["n"]
    return hw.weight_packing_s(values * DTYPE_BITS[dtype] / 8)


def matrix_cost(op: OpNode, hw: HardwareSpec) -> OpCost:
    """GEMMs and attention GEMMs: matrix engine at the dtype's peak, else vector engine.

    The matrix peak is scaled by the file's measured efficiency at the op's shape (per
    instance: ``m`` rows, and ``n * k`` where the file has an ``efficiency_grid``), 1 where
    the file has no table (`HardwareSpec.gemm_efficiency`); a CPU file's
    weight packing (`weight_packing_s`) runs before the multiply and adds to its time
    (``compute_s``, recorded as ``details["packing_s"]``). Where the file lists the tiles
    its GPU library ships for the dtype (``compute.matrix.library_tiles``), the compute
    time is that library's plan (`perfsim.engines.gpu_gemm`: tiles, mainloop, waves,
    split-K), its shape in ``details``.
    """
    dtype = compute_dtype(op)
    peak = hw.matrix_peak_flops(dtype) * hw.gemm_efficiency(op.dims)
    if peak > 0:
        packing_s = weight_packing_s(op, hw, dtype)
        plan = library_plan(op, hw, dtype, on_matrix=True)
        compute_s = plan.seconds if plan is not None else op.flops / peak
        cost = _finish(op, hw, "matrix", dtype, compute_s + packing_s, on_matrix=True)
        details = {**cost.details, **(plan_details(plan) if plan is not None else {})}
        if packing_s:
            details["packing_s"] = packing_s
        return replace(cost, details=details) if details else cost
    vector_dtype = _vector_dtype(hw, dtype)
    plan = library_plan(op, hw, vector_dtype, on_matrix=False)
    if plan is not None:  # CUDA-core GEMM kernels (e.g. CUTLASS SIMT fp32)
        cost = _finish(op, hw, "vector", vector_dtype, plan.seconds, on_matrix=False)
        return replace(cost, details={**cost.details, **plan_details(plan)})
    return _finish(
        op,
        hw,
        "vector",
        vector_dtype,
        op.flops / hw.vector_peak_flops(vector_dtype),
        on_matrix=False,
    )


def vector_cost(op: OpNode, hw: HardwareSpec) -> OpCost:
    """Element-wise, normalization, activation, reduction and data-movement ops.

    An op that computes nothing (a copy, a lookup) only moves bytes, so it needs no
    vector-engine support for its dtype. Its compute time is its counted FLOPs at the
    vector peak, or the file's measured element cost of its kind
    (`perfsim.engines.vector_work`), then its transcendentals on the special-function pipe
    where the file has one (`special_function_s`) and a fused attention softmax's type
    conversions (`conversion_s`), all on the units its kernel occupies (`unit_spread`).
    """
    if op.flops == 0:
        return _finish(op, hw, "vector", compute_dtype(op), 0.0, on_matrix=False)
    dtype = _vector_dtype(hw, compute_dtype(op))
    measured = measured_vector_flops(op, hw)
    work = float(op.flops) if measured is None else measured
    arithmetic_s = work / hw.vector_peak_flops(dtype) * unit_spread(op, hw)
    compute_s = arithmetic_s + special_function_s(op, hw) + conversion_s(op, hw)
    return _finish(op, hw, "vector", dtype, compute_s, on_matrix=False)


def unsupported_cost(op: OpNode, hw: HardwareSpec) -> OpCost:
    """An op no formula knows: costed as a streaming vector op, and flagged."""
    return replace(vector_cost(op, hw), supported=False)


FORMULAS: Mapping[Category, Callable[[OpNode, HardwareSpec], OpCost]] = {
    Category.GEMM: matrix_cost,
    Category.ATTN_GEMM: matrix_cost,
    **{
        category: vector_cost
        for category in (
            Category.SOFTMAX,
            Category.LAYERNORM,
            Category.GELU,
            Category.DROPOUT,
            Category.ELEMENTWISE,
            Category.EMBEDDING,
            Category.REDUCTION,
            Category.DATA_MOVEMENT,
            Category.OPTIMIZER,
        )
    },
}


@register("roofline")
class Roofline:
    """The hierarchical roofline engine."""

    name = "roofline"

    def op_cost(self, op: OpNode, hw: HardwareSpec) -> OpCost:
        return FORMULAS.get(op.category, unsupported_cost)(op, hw)
