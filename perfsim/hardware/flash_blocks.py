"""The blocks torch's CPU flash-attention kernel multiplies, for a GEMM efficiency lookup.

Eager PyTorch runs ``scaled_dot_product_attention`` on a CPU as one fused kernel
(``cpu_flash_attention``) that walks the query rows in blocks and the keys in blocks, and
multiplies each pair of blocks with the CPU BLAS: ``S = Q_block Kᵀ_block`` (q-block rows,
kv-block columns, head-dim depth) and ``O += P_block V_block`` (q-block rows, head-dim
columns, kv-block depth). Its products are therefore GEMMs of the *block* shapes, not of
the whole ``s x s`` attention, and a CPU's BLAS runs short-row GEMMs well below peak (the
calibrated ``efficiency_grid``). The block sizes are the kernel's template arguments, chosen
by the query length: pytorch/pytorch ``aten/src/ATen/native/cpu/FlashAttentionKernel.cpp``,
``flash_attention_kernel_impl``: ``cpu_flash_attention<..., 256, 512>`` for
``q_seq_len >= 768``, ``<..., 64, 512>`` for ``>= 192``, else ``<..., 32, 512>`` (query
block, key block; a block is cut to the sequence where the sequence is shorter).

The attention fusion pass marks the two products of a fused attention kernel with
``dims["flash"]`` (`FLASH_QK`: keys along ``n``; `FLASH_AV`: keys along ``k``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

FLASH_QK: Final = 1  # S = Q Kᵀ: m query rows, n keys, k head dim
FLASH_AV: Final = 2  # O = P V: m query rows, n head dim, k keys
# (query length at least, query block rows), longest first; keys in blocks of KV_BLOCK
Q_BLOCKS: Final[tuple[tuple[int, int], ...]] = ((768, 256), (192, 64), (0, 32))
KV_BLOCK: Final = 512


def flash_block_dims(dims: Mapping[str, int]) -> dict[str, int]:
    """``dims`` of one block product where ``dims`` marks a fused attention product
    (``dims["flash"]``), else ``dims`` unchanged."""
    role = dims.get("flash")
    if role not in (FLASH_QK, FLASH_AV):
        return dict(dims)
    queries = dims["m"]
    rows = next(size for least, size in Q_BLOCKS if queries >= least)
    block = {**dims, "m": min(rows, queries)}
    keys_axis = "n" if role == FLASH_QK else "k"
    block[keys_axis] = min(KV_BLOCK, dims[keys_axis])
    return block
