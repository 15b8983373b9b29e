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

NB: each op starts and ends in the farthest level (unfused kernels, as in eager PyTorch,
the setting "Demystifying BERT" measured); residency across ops is a fusion what-if.
"""

from __future__ import annotations

import math

from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import DTYPE_BITS, OpNode


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


def level_traffic(op: OpNode, hw: HardwareSpec) -> dict[str, float]:
    """Bytes served by each memory level (nearest first) for one op."""
    compulsory = float(op.bytes_total)
    if not (op.category.is_matrix and "m" in op.dims):
        return {level.name: compulsory for level in hw.memory}
    traffic: dict[str, float] = {}
    for index, level in enumerate(hw.memory):
        if index == 0:
            traffic[level.name] = compulsory
        else:
            front = hw.memory[index - 1]
            traffic[level.name] = capacity_matrix_bytes(op, front.capacity)  # one instance's share
    return traffic
