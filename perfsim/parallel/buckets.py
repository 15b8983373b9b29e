"""How a data-parallel step splits its work: the micro-batch each device runs, and the
gradient buckets DDP exchanges (`perfsim.parallel.data_parallel` times them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from perfsim.errors import WorkloadError
from perfsim.ir import DTYPE_BITS

DDP_BUCKET_BYTES = 25 * 2**20  # torch/nn/parallel/distributed.py: _DEFAULT_BUCKET_CAP_MB = 25 (MiB)
DDP_FIRST_BUCKET_BYTES = 2**20  # torch.distributed._DEFAULT_FIRST_BUCKET_BYTES = 1 MiB


def micro_batch(global_batch: int, devices: int, grad_accum: int) -> int:
    """Samples per device per micro-step.

    Raises:
        WorkloadError: a non-positive count, or a global batch that does not split evenly.
    """
    for name, value in (("--batch", global_batch), ("--devices", devices)):
        if value <= 0:
            raise WorkloadError(f"{name}: expected a positive integer, got {value}")
    if grad_accum <= 0:
        raise WorkloadError(f"--grad-accum: expected a positive integer, got {grad_accum}")
    if global_batch % (devices * grad_accum):
        raise WorkloadError(
            f"--batch: global batch {global_batch} does not split into {devices} devices x "
            f"{grad_accum} accumulation steps (needs a multiple of {devices * grad_accum})"
        )
    return global_batch // (devices * grad_accum)


def gradient_buckets(
    grad_ready: Sequence[Sequence[Any]], bucket_bytes: int, first_bucket_bytes: int
) -> list[tuple[int, int, int, str]]:
    """``[op_index, numel, dtype]`` per gradient → ``(last_op, n_grads, bytes, dtype)`` per
    bucket, in gradient-ready order (DDP's size-capped assignment, see module docstring)."""
    buckets: list[tuple[int, int, int, str]] = []
    last_op, count, size, dtype = -1, 0, 0, ""
    for op_index, numel, grad_dtype in grad_ready:
        if count and grad_dtype != dtype:
            buckets.append((last_op, count, size, dtype))
            last_op, count, size = -1, 0, 0
        nbytes = (int(numel) * DTYPE_BITS[str(grad_dtype)] + 7) // 8
        last_op, count, size, dtype = (
            max(last_op, int(op_index)),
            count + 1,
            size + nbytes,
            grad_dtype,
        )
        if size >= (first_bucket_bytes if not buckets else bucket_bytes):
            buckets.append((last_op, count, size, dtype))
            last_op, count, size = -1, 0, 0
    if count:
        buckets.append((last_op, count, size, dtype))
    return buckets
