"""Quantization what-ifs on top of `perfsim.precision`'s policies.

- ``int8``: the ``int8`` precision policy (int8 weights and activations into every matrix
  op, int32 accumulate, fp16 between GEMMs), whatever ``--precision`` says.
- ``w4a8``: int4 weights with int8 activations, as FQ-BERT (Liu et al., "FQ-BERT: Fully
  Quantized BERT for Efficient Natural Language Processing Hardware", 2021): the ``int8``
  policy, then every 2-D weight operand of a matrix op stored and read at 4 bits (two per
  byte). The MACs run at the hardware's **int8** rate: an int4 x int8 product needs int8
  multipliers (or FQ-BERT's custom 8x4 PEs), so int4-only tensor-core rates do not apply.
  Biases, LayerNorm parameters and embedding tables keep the ``int8`` policy's types (FQ-BERT
  quantizes embeddings to 4 bits too; NB: perfsim leaves them, they are gathered rows, not
  a bandwidth-bound stream in inference).
"""

from __future__ import annotations

from dataclasses import replace

from perfsim.counting import count_bytes
from perfsim.ir import OpGraph, OpNode
from perfsim.precision import apply_precision
from perfsim.whatif.graphops import aten_base, require_inference


def quantized_precision(mode: str, precision: str) -> str:
    """The precision policy a ``quant`` mode runs on (``precision`` when ``none``)."""
    return precision if mode == "none" else "int8"


def _int4_weights(op: OpNode) -> OpNode:
    if not op.category.is_matrix:
        return op
    inputs = tuple(
        tensor.with_dtype("int4") if tensor.role == "weight" and len(tensor.shape) >= 2 else tensor
        for tensor in op.inputs
    )
    if inputs == op.inputs:
        return op
    bytes_read, bytes_written = count_bytes(op.category, aten_base(op), inputs, op.outputs)
    return replace(op, inputs=inputs, bytes_read=bytes_read, bytes_written=bytes_written)


def quantize(graph: OpGraph, mode: str, precision: str) -> OpGraph:
    """Retype an fp32 graph for a ``quant`` mode (``none``: plain ``precision``)."""
    if mode != "none":
        require_inference(graph, "quant")  # a training step is traced in its precision
    typed = apply_precision(graph, quantized_precision(mode, precision))
    if mode != "w4a8":
        return typed
    # meta keeps the int8 policy's name (the whatifs entry says w4a8): footprints and
    # tables look the policy up by it
    return OpGraph(tuple(_int4_weights(op) for op in typed.ops), typed.meta)
