"""The fused attention kernels of an inference fusion: the ops each kernel holds, and the
CTA grid of the kernel that runs them (`perfsim.hardware.attention_kernel`), written into
those ops' ``dims`` for the engines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from perfsim.hardware.attention_kernel import kernel_geometry
from perfsim.hardware.flash_blocks import FLASH_QK
from perfsim.ir import DTYPE_BITS, Category, OpNode

Kernel = tuple[int, Sequence[int]]  # (QKᵀ index, every op of the kernel)


def attention_kernels(groups: Sequence[Sequence[int]], roles: dict[int, int]) -> list[Kernel]:
    """(QKᵀ index, members) of each fused attention kernel among the fusion's ``groups``
    (``roles``: the kernels' products, FLASH_QK or FLASH_AV)."""
    kernels = []
    for group in groups:
        qk = next((index for index in group if roles.get(index) == FLASH_QK), None)
        if qk is not None:
            kernels.append((qk, group))
    return kernels


def mark_grids(
    ops: list[OpNode], kernels: Sequence[Kernel], roles: dict[int, int], kernel: str
) -> None:
    """Write each fused attention kernel's CTA grid into its ops' ``dims``, in place:
    ``ctas`` on every op of the kernel, ``cta_rows`` on its two products and, on its
    softmax, the bits of the products' operands (``product_bits``: the softmax converts the
    QKᵀ accumulators to float and its probabilities to the AV operand's type)."""
    for qk, members in kernels:
        rows, ctas = kernel_geometry(kernel, ops[qk].dims)
        bits = DTYPE_BITS[ops[qk].inputs[0].dtype] if ops[qk].inputs else 16
        for index in members:
            extra = {"ctas": ctas}
            if index in roles:
                extra["cta_rows"] = rows
            elif ops[index].category == Category.SOFTMAX:
                extra["product_bits"] = bits
            ops[index] = replace(ops[index], dims={**ops[index].dims, **extra})
