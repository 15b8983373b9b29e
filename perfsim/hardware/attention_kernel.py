"""The GPU kernel that runs a fused attention: how its CTAs divide the query rows.

The ``attention`` fusion pass (`perfsim.whatif.fusion`) runs QKᵀ, the score ops between
(scale, mask, softmax, dropout) and AV of one attention in one kernel. How that kernel
splits the work into CTAs decides how many units (SMs) it can occupy, which is what counts
when a batch has few sequences: the units a kernel leaves idle do none of its products and
none of its softmax. Two kernels, chosen by the ``attention_kernel`` what-if knob:

- ``flash2`` (the default): FlashAttention-2's forward, a CTA per block of
  `FLASH2_BLOCK_ROWS` query rows of one (sequence, head) (Dao-AILab/flash-attention
  ``csrc/flash_attn/src/flash_fwd_launch_template.h``, ``run_mha_fwd_hdim64`` /
  ``hdim128``: ``kBlockM = 128``; grid ``ceil(s / 128) x batch x heads``), which torch's
  scaled-dot-product attention runs on Ampere and Hopper.
- ``per_head``: one CTA per (sequence, head) that walks all its query rows, as TensorRT's
  fixed-length BERT plugin launches its fused multi-head attention (NVIDIA/TensorRT
  @8.4.3, ``plugin/bertQKVToContextPlugin``: ``CustomQKVToContextPluginDynamic`` version
  1, the one ``demo/BERT/builder.py`` and its ``inference_benchmark.sh`` build, runs
  ``fused_multihead_attention.h``'s ``TFusedMultiHeadAttentionXMMAKernel::run``:
  ``cuLaunchKernel(func, params.h, params.b, 1, threads, ...)``; at 384 tokens its 8 warps
  take the rows 16 at a time, ``qkvToContext.cu`` ``warps_m = 1, warps_n = 8``). At batch
  1 a BERT-large layer's attention therefore runs on 16 of an A100's 108 SMs.
- ``apex_fmha``: apex's fmhalib (``apex.contrib.fmha``, NVIDIA/apex 5c9b21d8, 2021), which
  NVIDIA's MLPerf Training v1.0 BERT runs: the same grid, one CTA per (sequence, head)
  walking its query rows 16 at a time (``dim3 grid(params.h, params.b)``, 8 warps), but
  every step multiplies by all 128 / 256 / 384 / 512 keys of the kernel the batch's
  longest sequence picks, and in training the probabilities go to memory and back
  (`perfsim.whatif.fmha`).

`kernel_geometry` gives the CTA rows and the grid; the fusion pass writes them into the
kernel's ops (``dims["cta_rows"]`` on the two products, ``dims["ctas"]`` on every op of
the kernel), where the engines read them (`perfsim.engines.gpu_gemm.flash_plan`,
`perfsim.engines.vector_work.kernel_units`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

FLASH2_BLOCK_ROWS: Final = 128
DEFAULT_KERNEL: Final = "flash2"
APEX_FMHA: Final = "apex_fmha"


def cta_rows(kernel: str, queries: int) -> int:
    """Query rows one CTA of ``kernel`` holds, for ``queries`` rows per (sequence, head)."""
    if kernel in ("per_head", APEX_FMHA):
        return queries
    return min(FLASH2_BLOCK_ROWS, queries)


def kernel_geometry(kernel: str, product_dims: Mapping[str, int]) -> tuple[int, int]:
    """(query rows per CTA, CTAs in the grid) of the fused attention whose QKᵀ product has
    ``product_dims`` (``b`` x ``passes`` instances of ``m`` query rows)."""
    queries = product_dims["m"]
    instances = product_dims.get("b", 1) * product_dims.get("passes", 1)
    rows = cta_rows(kernel, queries)
    return rows, instances * math.ceil(queries / rows)
