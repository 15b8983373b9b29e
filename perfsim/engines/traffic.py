"""How many bytes each memory level serves for an op, given the capacities in front of it.

This is the roofline's *lower bound* on traffic, so that no schedule (and no engine) can
beat it. The nearest level serves at least the compulsory bytes: the roofline assumes the
matrix engine's operand registers catch all reuse (the cycle engine charges the real
re-reads of its tiles and folds). Every farther level serves the refills of the level in
front of it, whose capacity S bounds reuse: unless the whole problem, or its smaller
operand, fits (then everything is read once), a GEMM moves at least ``2 m n k / sqrt(S)``
words (Smith & van de Geijn, "A Tight I/O Lower Bound for Matrix Multiplication", 2019;
after Hong & Kung 1981), i.e. the traffic of square ``t x t`` output tiles with
``t = sqrt(S)``: A is read ``ceil(n / t)`` times, B ``ceil(m / t)`` times, C written once.
Vector ops stream: every level serves their compulsory bytes.

Residency: an activation that stays on chip between its writer and its readers
(`perfsim.engines.residency`, flagged in ``OpNode.resident``) is served by the level that
holds it; every level beyond that one serves the op's bytes less the resident tensors'
(for a GEMM, less each resident operand's bytes times the times the tiling reads it).
Without flags (a graph costed as traced) each op starts and ends in the farthest level.
"""

from __future__ import annotations

import math

from perfsim.engines.residency import holder_level
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import DTYPE_BITS, OpNode, TensorSpec


def _operand_bytes(op: OpNode) -> tuple[float, float, float, float]:
    """Per-batch bytes of A, B and C, and the mean operand element size (bytes)."""
    dims = op.dims
    m, n, k = dims["m"], dims["n"], dims["k"]
    operand = max(op.inputs, key=lambda tensor: tensor.stored_numel)
    in_bytes = DTYPE_BITS[operand.dtype] / 8
    out_bytes = DTYPE_BITS[op.outputs[0].dtype] / 8 if op.outputs else in_bytes
    a = m * k * in_bytes
    b_op = k * n * in_bytes
    c = m * n * out_bytes
    return a, b_op, c, in_bytes


def tiled_matrix_bytes(op: OpNode, tile_m: int, tile_n: int) -> float:
    """Bytes a level serves when the level in front of it holds ``tile_m x tile_n`` outputs."""
    dims = op.dims
    batch, m, n = dims["b"], dims["m"], dims["n"]
    a, b_op, c, _ = _operand_bytes(op)
    tiled = batch * (a * math.ceil(n / tile_n) + b_op * math.ceil(m / tile_m) + c)
    return max(float(op.bytes_total), tiled)


def capacity_matrix_bytes(op: OpNode, capacity_bytes: float) -> float:
    """Bytes a level serves when the level in front of it holds ``capacity_bytes``."""
    a, b_op, c, element = _operand_bytes(op)
    if a + b_op + c <= capacity_bytes or min(a, b_op) <= capacity_bytes / 2:
        return float(op.bytes_total)
    side = max(1, int(math.sqrt(capacity_bytes / max(element, 0.5))))
    return tiled_matrix_bytes(op, side, side)


def _matrix_passes(op: OpNode, capacity_bytes: float) -> tuple[int, int]:
    """How often A and B cross a level whose front holds ``capacity_bytes`` (C: once)."""
    a, b_op, c, element = _operand_bytes(op)
    if a + b_op + c <= capacity_bytes or min(a, b_op) <= capacity_bytes / 2:
        return 1, 1
    side = max(1, int(math.sqrt(capacity_bytes / max(element, 0.5))))
    return math.ceil(op.dims["n"] / side), math.ceil(op.dims["m"] / side)


def matrix_operand(op: OpNode, tensor: TensorSpec) -> str | None:
    """Which operand of a matrix op an input is: ``"a"`` (m x k), ``"b"`` (k x n) or None."""
    dims = op.dims
    batch, m, n, k = dims.get("b", 1), dims["m"], dims["n"], dims["k"]
    if tensor.numel in (batch * m * k, m * k):
        return "a"
    if tensor.numel in (batch * k * n, k * n):
        return "b"
    return None


def resident_operands(op: OpNode) -> tuple[bool, bool, bool]:
    """Whether A, B and C of a matrix op stay on chip (`OpNode.resident`)."""
    if True not in op.resident:
        return False, False, False
    flags = op.resident
    inputs = [matrix_operand(op, t) for t, kept in zip(op.inputs, flags, strict=False) if kept]
    output = any(flags[len(op.inputs) :])
    return "a" in inputs, "b" in inputs, output


def on_chip_bytes(op: OpNode, capacity_bytes: float) -> float:
    """Bytes of ``op`` a level beyond the holding level no longer serves: its resident
    tensors (``OpNode.resident``), each GEMM operand times the passes the tiling makes
    over it when the level in front holds ``capacity_bytes``."""
    if True not in op.resident:
        return 0.0
    tensors = (*op.inputs, *op.outputs)
    if not (op.category.is_matrix and "m" in op.dims):
        return float(sum(t.nbytes for t, kept in zip(tensors, op.resident, strict=True) if kept))
    passes = _matrix_passes(op, capacity_bytes)
    saved = 0.0
    for position, (tensor, kept) in enumerate(zip(tensors, op.resident, strict=True)):
        if not kept:
            continue
        operand = matrix_operand(op, tensor) if position < len(op.inputs) else None
        factor = passes[0] if operand == "a" else passes[1] if operand == "b" else 1
        saved += tensor.nbytes * factor
    return saved


def level_traffic(op: OpNode, hw: HardwareSpec) -> dict[str, float]:
    """Bytes served by each memory level (nearest first) for one op."""
    compulsory = float(op.bytes_total)
    matrix = op.category.is_matrix and "m" in op.dims
    holder = holder_level(hw) if True in op.resident else None
    traffic: dict[str, float] = {}
    for index, level in enumerate(hw.memory):
        if index == 0:
            traffic[level.name] = compulsory
            continue
        front = hw.memory[index - 1].capacity  # one instance's share
        served = capacity_matrix_bytes(op, front) if matrix else compulsory
        if holder is not None and index > holder:
            served = max(0.0, served - on_chip_bytes(op, front))
        traffic[level.name] = served
    return traffic
