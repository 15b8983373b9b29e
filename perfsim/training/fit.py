"""The largest batch whose step fits in a device's memory.

A step's footprint is nearly affine in the batch, ``F(b) = fixed + per_sample * b``:
weights, gradients and optimizer state do not depend on it, activations grow with it. Not
quite: at small batches the peak may be the optimizer's temporaries (LAMB on the word
embedding), which do not grow, so ``F`` is flat there. Hence the search: measure ``F`` at
batches 1 and 2 (two traces); while the line through the last two points is flat, double
the batch; otherwise jump to the largest whole ``b`` the line allows. Once a batch that does
not fit is known, the same interpolation runs between the bounds (bisecting when it stalls).
The answer is always verified by traces: ``b`` fits and ``b + 1`` does not (or ``b`` is
``max_batch``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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
    low, previous, batch = 1, 1, min(2, max_batch)
    high = None
    while high is None:  # grow until a batch does not fit
        if batch == low:
            return result(low)
        if at(batch) > capacity_bytes:
            high = batch
            break
        low = batch
        if batch == max_batch:
            return result(low)
        guess = _solve(previous, at(previous), batch, at(batch), capacity_bytes)
        previous, batch = batch, min(max(guess or 2 * batch, batch + 1), max_batch)
    interpolate = True  # alternate with bisection, so a curved footprint cannot stall it
    while high - low > 1:
        guess = _solve(low, at(low), high, at(high), capacity_bytes) if interpolate else None
        guess = min(max(guess or (low + high) // 2, low + 1), high - 1)
        if at(guess) <= capacity_bytes:
            low = guess
            if guess + 1 < high and at(guess + 1) > capacity_bytes:  # verify the answer
                high = guess + 1
        else:
            high = guess
        interpolate = not interpolate
    return result(low)


def _solve(b1: int, f1: int, b2: int, f2: int, capacity: float) -> int | None:
    """Largest whole ``b`` on the line through ``(b1, f1)`` and ``(b2, f2)`` under capacity.

    None when the line is flat (it says nothing about where capacity is reached).
    """
    slope = (f2 - f1) / (b2 - b1)
    if slope <= 0:
        return None
    return int((capacity - f1) // slope) + b1


def fit_summary(
    answer: FitResult,
    *,
    model: str,
    hw: str,
    seq: int,
    mode: str,
    lengths: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``perfsim fit --format json``: the answer for ``model`` on ``hw`` as one JSON object
    (with ``seq_lengths``, the ``--seq-lengths`` spec and padding, when they were given)."""
    extra = {} if lengths is None else {"seq_lengths": lengths}
    return {
        "model": model,
        "hw": hw,
        "seq": seq,
        "mode": mode,
        "max_batch": answer.batch,
        "fits": answer.fits,
        "footprint_bytes": answer.footprint_bytes,
        "capacity_bytes": answer.capacity_bytes,
        "traced_batches": [batch for batch, _ in answer.measured],
        **extra,
    }


def fit_message(answer: FitResult, *, model: str, hw: str) -> str:
    """``perfsim fit``'s answer as one sentence (footprint and capacity in human units)."""
    from perfsim.units import format_quantity

    needed = format_quantity(answer.footprint_bytes, "B")
    capacity = format_quantity(answer.capacity_bytes, "B")
    if not answer.fits:
        return f"{model} does not fit on {hw} even at batch 1: it needs {needed} of {capacity}"
    traced = ", ".join(str(batch) for batch, _ in answer.measured)
    return f"largest batch: {answer.batch} ({needed} of {capacity}; traced at batches {traced})"
