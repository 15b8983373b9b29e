"""The allocator's share of an eager CPU op: what a freshly mapped output costs.

A large tensor's memory comes from the C library's ``malloc``; glibc maps requests at or
above its mmap threshold afresh and unmaps them on free (mallopt(3), ``M_MMAP_THRESHOLD``,
adapting upward to at most 32 MiB on 64-bit systems), so an op with such an output faults
on every page its kernel first writes while the OS zeroes it. Two fills of the same bytes,
one into a new tensor and one into a tensor kept from call to call, differ by exactly
that; timed at a few sizes, the smallest size that pays is the threshold, and the bytes
over the extra seconds at the sizes that pay is the bandwidth
(`perfsim.hardware.components.FreshPages`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Final

from perfsim.calibration.rounds import Measurement, best_times
from perfsim.calibration.timing import Call, Effort

MIB: Final = 2**20
# glibc's largest mmap threshold on 64-bit systems (mallopt(3): DEFAULT_MMAP_THRESHOLD_MAX
# = 4 * 1024 * 1024 * sizeof(long)); the dynamic threshold never rises above it
GLIBC_MMAP_THRESHOLD_MAX: Final = 32 * MIB
# output sizes, bytes: two below glibc's largest threshold and one above it; none at it,
# where a request can come from the heap or from a fresh map by the heap's state (a
# bimodal figure)
SIZES: Final[tuple[int, ...]] = (8 * MIB, 16 * MIB, 64 * MIB)
# a size pays when its extra time per byte is at least this share of the largest size's
PAYS: Final = 0.5


@dataclass(frozen=True, slots=True)
class FreshPagesResult:
    """Fresh-output cost: outputs of ``threshold`` bytes or more pay ``bandwidth`` bytes/s
    of first touches (both None where no size paid); ``how``: the measurement, for the
    file's source comment."""

    threshold: int | None
    bandwidth: float | None
    how: str


def fill_calls(size: int) -> tuple[Call, Call]:
    """(a fill of a new fp32 tensor of ``size`` bytes, the same fill of a kept one)."""
    import torch

    elements = size // 4
    kept = torch.empty(elements)
    return (lambda: torch.empty(elements).fill_(1.0)), partial(kept.fill_, 1.0)


def measure_fresh_pages(how: Effort) -> Measurement[FreshPagesResult]:
    """Best-round times of both fills at every size in `SIZES`, read by `fresh_pages`."""
    calls: list[tuple[str, Call]] = []
    for size in SIZES:
        fresh, kept = fill_calls(size)
        calls += [
            (f"fill of a new {size // MIB} MiB tensor", fresh),
            (f"fill of a kept {size // MIB} MiB tensor", kept),
        ]

    def finish(times: tuple[float, ...]) -> FreshPagesResult:
        return fresh_pages(SIZES, times[0::2], times[1::2])

    return best_times(calls, how, finish)


def fresh_pages(
    sizes: Sequence[int], fresh_s: Sequence[float], kept_s: Sequence[float]
) -> FreshPagesResult:
    """The threshold and bandwidth from fills of new and kept tensors of ``sizes`` bytes
    (ascending), seconds each; both None where the largest size does not pay (another
    allocator, or one that keeps large blocks mapped).

    A size pays when its extra seconds per byte reach `PAYS` of the largest size's (which
    must itself be positive); from the smallest paying size on every size pays; the
    bandwidth is the median over those sizes of bytes / extra seconds. The threshold is
    glibc's largest, `GLIBC_MMAP_THRESHOLD_MAX`, where it lies between the largest size
    that does not pay and the smallest that does; else that smallest paying size.
    """
    extra = [(new - kept) / size for size, new, kept in zip(sizes, fresh_s, kept_s, strict=True)]
    per_size = ", ".join(
        f"{size // MIB} MiB {new * 1e3:.3g} vs {kept * 1e3:.3g} ms"
        for size, new, kept in zip(sizes, fresh_s, kept_s, strict=True)
    )
    measured = (
        f"fill_ of a new fp32 tensor vs the same fill of a kept one, best round each: {per_size}"
    )
    if extra[-1] <= 0:
        return FreshPagesResult(None, None, f"{measured}; no size paid")
    paying = [value >= PAYS * extra[-1] for value in extra]
    first = len(paying)
    while first > 0 and paying[first - 1]:
        first -= 1
    bandwidth = statistics.median(1.0 / value for value in extra[first:])
    how = (
        f"{measured}; the extra time per byte from {sizes[first] // MIB} MiB on is at least "
        f"{PAYS:.0%} of the largest size's; bytes / extra seconds, median over those sizes"
    )
    below = sizes[first - 1] if first > 0 else 0
    if below < GLIBC_MMAP_THRESHOLD_MAX <= sizes[first]:
        how += (
            f"; threshold: glibc's largest mmap threshold, 32 MiB (mallopt(3), "
            f"DEFAULT_MMAP_THRESHOLD_MAX), between {below // MIB} MiB (no extra) and "
            f"{sizes[first] // MIB} MiB"
        )
        return FreshPagesResult(GLIBC_MMAP_THRESHOLD_MAX, bandwidth, how)
    return FreshPagesResult(sizes[first], bandwidth, how)
