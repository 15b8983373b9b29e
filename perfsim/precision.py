"""The precision policy, written down once.

perfsim traces every model in fp32 and then retypes the costed graph for ``--precision``:

| precision | matrix-op inputs (gemm, attn_gemm) | matrix accumulate | everything else |
| --------- | ---------------------------------- | ----------------- | --------------- |
| fp32      | fp32                               | fp32              | fp32            |
| tf32      | tf32 (stored as fp32)              | fp32              | fp32            |
| fp16      | fp16                               | fp32              | fp16            |
| bf16      | bf16                               | fp32              | bf16            |
| int8      | int8 (weights and activations)     | int32             | fp16            |
| int4      | int4 (weights and activations)     | int32             | fp16            |

Quantized matrix ops accumulate in int32 inside the engine and dequantize in their epilogue,
so they *write* fp16 outputs; the ops between GEMMs (softmax, layernorm, GELU, residual adds)
run in the wider fp16, as in I-BERT-free deployments such as FasterTransformer's int8 mode.
``tf32`` is fp32 storage whose matrix products run on TF32 tensor cores (a 10-bit
significand read from each fp32 operand, fp32 accumulate), as A100 / H100 run fp32 matmuls
when TF32 is allowed (PyTorch's default for matmuls before 1.12, and in NVIDIA's NGC
containers from 20.06; ``torch.backends.cuda.matmul.allow_tf32``): the bytes are fp32's,
the matrix rate the part's ``tf32`` one; only parts with TF32 tensor cores execute it.
Integer ids (token ids, positions) keep their integer type. NB: the quantize step that
turns an fp16 activation into int8 before the next GEMM is folded into that GEMM's read.

The names and the table itself live in `perfsim.dtypes` (re-exported here), below both this
module and `perfsim.hardware.spec`.
"""

from __future__ import annotations

from dataclasses import replace

from perfsim.counting import count_bytes
from perfsim.dtypes import POLICIES, PRECISIONS, TRACED_AS, PrecisionPolicy, policy
from perfsim.ir import FLOAT_DTYPES, OpGraph, OpNode, TensorSpec

__all__ = [
    "POLICIES",
    "PRECISIONS",
    "TRACED_AS",
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
    weights and optimizer, half-precision model): it is returned as traced, except that a
    ``tf32`` step is traced in fp32 (`TRACED_AS`) and its matrix ops retyped here.
    """
    if graph.meta.mode == "training":
        traced = graph.meta.trace_precision or "fp32"
        if traced == precision:
            return OpGraph(graph.ops, graph.meta.but(precision=precision))
        if traced != TRACED_AS.get(precision, precision):
            raise ValueError(f"training graph traced in {traced}, asked for {precision}")
        # a tf32 step is the fp32 step with its matrix products on TF32 tensor cores
        pol = policy(precision)
        ops = tuple(retype_op(op, pol) if op.category.is_matrix else op for op in graph.ops)
        return OpGraph(ops, graph.meta.but(precision=precision))
    pol = policy(precision)
    ops = graph.ops if precision == "fp32" else tuple(retype_op(op, pol) for op in graph.ops)
    return OpGraph(ops, graph.meta.but(precision=precision))
