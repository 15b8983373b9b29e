"""The largest batch whose step fits in a device's memory.

A step's footprint is affine in the batch, ``F(b) = fixed + per_sample * b``: weights,
gradients and optimizer state do not depend on it, activations and workspace grow with it.
So: measure ``F`` at batches 1 and 2 (two traces), solve ``F(b) <= capacity`` for the
largest whole ``b``, then *verify* by tracing at that answer and the batch after it. When
the trace disagrees with the line (a footprint is only nearly affine: allocations rounded,
a shape that changes an op choice), the secant through the new point is solved again;
the answer returned is always a pair of traced batches ``b`` that fits and ``b + 1`` that
does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

MAX_ROUNDS = 12  # a secant search over a nearly affine function settles in two or three


@dataclass(frozen=True, slots=True)
class FitResult:
    """The answer of `largest_batch`.

    ``batch`` is 0 when even one sample does not fit. ``measured`` holds every
    ``(batch, footprint bytes)`` that was traced, in order.
    """

    batch: int
    capacity_bytes: float
    footprint_bytes: int
    measured: tuple[tuple[int, int], ...] = field(default=())

    @property
    def fits(self) -> bool:
        return self.batch > 0


def largest_batch(
    footprint_at: Callable[[int], int], capacity_bytes: float, max_batch: int = 1 << 20
) -> FitResult:
    """Largest ``b <= max_batch`` with ``footprint_at(b) <= capacity_bytes`` (see module doc).

    ``footprint_at`` must be non-decreasing in the batch.
    """
    measured: dict[int, int] = {}

    def at(batch: int) -> int:
        if batch not in measured:
            measured[batch] = footprint_at(batch)
        return measured[batch]

    def result(batch: int) -> FitResult:
        return FitResult(batch, capacity_bytes, at(max(batch, 1)), tuple(measured.items()))

    if at(1) > capacity_bytes:
        return result(0)
    low, high = 1, None  # low fits; high (when known) does not
    guess = _solve(1, at(1), 2, at(2), capacity_bytes, max_batch)
    for _ in range(MAX_ROUNDS):
        guess = min(max(guess, low), max_batch)
        if high is not None:
            guess = min(guess, high - 1)
        if at(guess) <= capacity_bytes:
            low = guess
            if guess == max_batch or (high is not None and high == guess + 1):
                return result(low)
            if at(guess + 1) > capacity_bytes:
                return result(guess)
            low = guess + 1
            guess = _solve(guess, at(guess), guess + 1, at(guess + 1), capacity_bytes, max_batch)
        else:
            high = guess
            guess = _solve(low, at(low), guess, at(guess), capacity_bytes, max_batch)
            if guess >= high:
                guess = (low + high) // 2
    # not settled by the secant: bisect between the bounds it left
    high = high if high is not None else max_batch + 1
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if at(middle) <= capacity_bytes else (low, middle)
    return result(low)


def _solve(b1: int, f1: int, b2: int, f2: int, capacity: float, max_batch: int) -> int:
    """Largest whole ``b`` on the line through ``(b1, f1)`` and ``(b2, f2)`` under capacity."""
    slope = (f2 - f1) / (b2 - b1)
    if slope <= 0:
        return max_batch
    return int((capacity - f1) // slope) + b1
