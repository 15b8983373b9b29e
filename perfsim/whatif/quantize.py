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
- ``int8-io``: the ``int8`` policy, and every activation tensor stored in int8 between
  kernels, as TensorRT's int8 BERT engines run when built with ``-iln -imh``
  (NVIDIA/TensorRT ``demo/BERT/builder.py``, the flags ``scripts/inference_benchmark.sh``
  passes on Turing and Ampere): the skip-LayerNorm and multi-head-attention plugins take
  and give int8 (``--force-int8-skipln``, ``--force-int8-multihead``), so the GEMMs
  (1 x 1 int8 convolutions) requantize their outputs to int8 too. The math between the
  GEMMs still runs in half precision (the int8 skip-LayerNorm plugin's configuration type
  is half, ``plugin/skipLayerNormPlugin``): an op's compute dtype comes from the policy,
  only its bytes change (`perfsim.engines.roofline.compute_dtype`). Weights, biases and
  LayerNorm parameters keep the ``int8`` policy's types.
"""

from __future__ import annotations

from dataclasses import replace

from perfsim.counting import count_bytes
from perfsim.ir import OpGraph, OpNode, TensorSpec
from perfsim.precision import apply_precision, policy
from perfsim.whatif.graphops import aten_base, require_inference

INT8_POLICY = policy("int8")


def quantized_precision(mode: str, precision: str) -> str:
    """The precision policy a ``quant`` mode runs on (``precision`` when ``none``)."""
    return precision if mode == "none" else "int8"


def _retyped(op: OpNode, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> OpNode:
    """``op`` with retyped tensors and its bytes recounted (itself when nothing changed)."""
    if inputs == op.inputs and outputs == op.outputs:
        return op
    bytes_read, bytes_written = count_bytes(op.category, aten_base(op), inputs, outputs)
    return replace(
        op, inputs=inputs, outputs=outputs, bytes_read=bytes_read, bytes_written=bytes_written
    )


def _int4_weights(op: OpNode) -> OpNode:
    if not op.category.is_matrix:
        return op
    inputs = tuple(
        tensor.with_dtype("int4") if tensor.role == "weight" and len(tensor.shape) >= 2 else tensor
        for tensor in op.inputs
    )
    return _retyped(op, inputs, op.outputs)


def _int8_activations(op: OpNode) -> OpNode:
    """``op`` with its half-precision activations stored as int8."""

    def at_rest(tensors: tuple[TensorSpec, ...]) -> tuple[TensorSpec, ...]:
        return tuple(
            tensor.with_dtype("int8")
            if tensor.role == "activation" and tensor.dtype == INT8_POLICY.vector
            else tensor
            for tensor in tensors
        )

    return _retyped(op, at_rest(op.inputs), at_rest(op.outputs))


def quantize(graph: OpGraph, mode: str, precision: str) -> OpGraph:
    """Retype an fp32 graph for a ``quant`` mode (``none``: plain ``precision``)."""
    if mode != "none":
        require_inference(graph, "quant")  # a training step is traced in its precision
    typed = apply_precision(graph, quantized_precision(mode, precision))
    # meta keeps the int8 policy's name (the whatifs entry says the mode): footprints and
    # tables look the policy up by it
    if mode == "w4a8":
        return OpGraph(tuple(_int4_weights(op) for op in typed.ops), typed.meta)
    if mode == "int8-io":
        return OpGraph(tuple(_int8_activations(op) for op in typed.ops), typed.meta)
    return typed
