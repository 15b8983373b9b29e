"""The eager framework time of a CPU host for one workload: ``op_overhead`` plus the refill
of the interpreter's cached state that the workload's own traffic evicts.

A host file's ``op_overhead`` is measured on a model that fits in a core's cache; its
``framework_refill`` (`perfsim.hardware.components.FrameworkRefill`) says how much more
framework time each op costs when every encoder layer streams a given number of bytes
between two runs of the same Python. The bytes are the workload's own: what one layer's
forward ops read and write (weights and activations), averaged over its layers — the
traffic between two consecutive runs of a layer's code. Both engines charge the resulting
per-op time, since both read ``op_overhead``.
"""

from __future__ import annotations

from collections.abc import Iterable

from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpNode


def layer_stream_bytes(ops: Iterable[OpNode]) -> float:
    """Bytes the forward ops of one encoder layer read and write, the mean over layers;
    0 for a graph without an encoder layer stack."""
    layers: set[int] = set()
    total = 0
    for op in ops:
        if op.layer >= 0 and op.phase == "forward":
            layers.add(op.layer)
            total += op.bytes_read + op.bytes_written
    return total / len(layers) if layers else 0.0


def with_framework_refill(hw: HardwareSpec, ops: Iterable[OpNode]) -> HardwareSpec:
    """``hw`` with its refill at the layer traffic of ``ops`` (`refilled_at`); ``hw`` itself
    where the file has no refill (the ops are then not read)."""
    if hw.framework_refill is None:
        return hw
    return refilled_at(hw, layer_stream_bytes(ops))


def refilled_at(hw: HardwareSpec, layer_bytes: float) -> HardwareSpec:
    """``hw`` with ``op_overhead`` raised by its ``framework_refill`` at ``layer_bytes`` (a
    graph's `layer_stream_bytes`, computed once for many devices), the refill then dropped
    (applying it twice changes nothing); ``hw`` itself where the file has no refill."""
    refill = hw.framework_refill
    if refill is None:
        return hw
    extra = refill.seconds(layer_bytes)
    return hw.model_copy(update={"op_overhead": hw.op_overhead + extra, "framework_refill": None})
