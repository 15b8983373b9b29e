"""The precision policy, written down once.

perfsim traces every model in fp32 and then retypes the costed graph for ``--precision``:

| precision | matrix-op inputs (gemm, attn_gemm) | matrix accumulate | everything else |
| --------- | ---------------------------------- | ----------------- | --------------- |
| fp32      | fp32                               | fp32              | fp32            |
| fp16      | fp16                               | fp32              | fp16            |
| bf16      | bf16                               | fp32              | bf16            |
| int8      | int8 (weights and activations)     | int32             | fp16            |
| int4      | int4 (weights and activations)     | int32             | fp16            |

Quantized matrix ops accumulate in int32 inside the engine and dequantize in their epilogue,
so they *write* fp16 outputs; the ops between GEMMs (softmax, layernorm, GELU, residual adds)
run in the wider fp16, as in I-BERT-free deployments such as FasterTransformer's int8 mode.
Integer ids (token ids, positions) keep their integer type. NB: the quantize step that
turns an fp16 activation into int8 before the next GEMM is folded into that GEMM's read.

The names and the table itself live in `perfsim.dtypes` (re-exported here), below both this
module and `perfsim.hardware.spec`.
"""

from __future__ import annotations

from dataclasses import replace

from perfsim.counting import count_bytes
from perfsim.dtypes import POLICIES, PRECISIONS, PrecisionPolicy, policy
from perfsim.ir import FLOAT_DTYPES, OpGraph, OpNode, TensorSpec

__all__ = [
    "POLICIES",
    "PRECISIONS",
    "PrecisionPolicy",
    "apply_precision",
    "policy",
    "retype_op",
]


def _retype(tensor: TensorSpec, dtype: str) -> TensorSpec:
    return tensor.with_dtype(dtype) if tensor.dtype in FLOAT_DTYPES else tensor


def retype_op(op: OpNode, pol: PrecisionPolicy) -> OpNode:
    """One op under a precision policy, with its bytes recounted."""
    if op.category.is_matrix:
        inputs = tuple(_retype(t, pol.matrix_input) for t in op.inputs)
        outputs = tuple(_retype(t, pol.matrix_output) for t in op.outputs)
    else:
        inputs = tuple(_retype(t, pol.vector) for t in op.inputs)
        outputs = tuple(_retype(t, pol.vector) for t in op.outputs)
    base = op.target.split(".")[1] if op.target.startswith("aten.") else op.target
    bytes_read, bytes_written = count_bytes(op.category, base, inputs, outputs)
    return replace(
        op, inputs=inputs, outputs=outputs, bytes_read=bytes_read, bytes_written=bytes_written
    )


def apply_precision(graph: OpGraph, precision: str) -> OpGraph:
    """Retype an fp32-traced graph to ``precision`` per the policy table above.

    FLOPs and MACs do not change; bytes do. The graph's ``meta.precision`` records it.
    A training step is traced in its precision (`perfsim.trace.train_step`: fp32 master
    weights and optimizer, half-precision model): it is returned as traced.
    """
    if graph.meta.mode == "training":
        traced = graph.meta.trace_precision or "fp32"
        if traced != precision:
            raise ValueError(f"training graph traced in {traced}, asked for {precision}")
        return OpGraph(graph.ops, graph.meta.but(precision=precision))
    pol = policy(precision)
    ops = graph.ops if precision == "fp32" else tuple(retype_op(op, pol) for op in graph.ops)
    return OpGraph(ops, graph.meta.but(precision=precision))
