"""First touches of freshly mapped outputs: the allocator's share of an eager CPU op.

An op that allocates an output at least as large as the host's mmap threshold gets fresh
pages from the OS on every call and faults on each as its kernel first writes it
(`perfsim.hardware.components.FreshPages`). Both engines add these seconds to the op's
busy time: the faults stop the threads that write.
"""

from __future__ import annotations

from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpNode


def writes_in_place(op: OpNode) -> bool:
    """True for an aten in-place overload (``aten.add_.Tensor``): it allocates nothing."""
    parts = op.target.split(".")
    return len(parts) > 1 and parts[0] == "aten" and parts[1].endswith("_")


def fresh_output_s(op: OpNode, hw: HardwareSpec) -> float:
    """Seconds of first touches of ``op``'s freshly allocated outputs, 0 where the file
    has no ``fresh_pages``.

    Every output the op writes to memory counts; an in-place op's output is its input's
    memory, and an output a fused group keeps on chip (its write dropped,
    `perfsim.whatif.fusion`) is never allocated.
    """
    if hw.fresh_pages is None or writes_in_place(op):
        return 0.0
    return sum(
        hw.fresh_pages_s(tensor.nbytes)
        for tensor in op.outputs
        if tensor.nbytes <= op.bytes_written
    )
