"""Wall-clock timing for microbenchmarks: loop-averaged batches, medians, two-size slopes.

Every figure is a median over batches, and every batch times a loop of calls long enough
(``target_s``) that the clock's resolution does not matter; short loops and many batches
keep each batch inside one "regime" of a shared host (a busy neighbour, a clock change).
Rates of small operations come from the *difference* between two sizes, so a fixed
per-call cost (framework dispatch, thread fork/join) cancels:
``rate = (work_hi - work_lo) / (t_hi - t_lo)``.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

Call = Callable[[], object]
Progress = Callable[[str, float], None]  # (step name, fraction done)


@dataclass(frozen=True, slots=True)
class Effort:
    """How hard to measure one figure.

    Up to ``batches`` timed loops of about ``target_s`` each, fewer (but at least
    ``min_batches``) where that would take longer than ``budget_s``.
    """

    batches: int
    target_s: float  # length of one timed loop
    budget_s: float  # seconds one figure may take, roughly
    min_batches: int = 5
    max_calls: int = 1_000_000

    def batches_for(self, batch_s: float) -> int:
        """Batches that fit the budget when one batch takes ``batch_s`` seconds."""
        fitting = int(self.budget_s / max(batch_s, 1e-9))
        return max(self.min_batches, min(self.batches, fitting))


def effort(quick: bool) -> Effort:
    """The full effort (under a minute on a 2-core host) or the quick one (seconds, tests)."""
    if quick:
        return Effort(batches=3, target_s=0.0005, budget_s=0.01, min_batches=3)
    return Effort(batches=61, target_s=0.005, budget_s=1.5)


def loop_time_s(call: Call, calls: int) -> float:
    """Seconds per call, averaged over ``calls`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls


def calls_per_batch(call: Call, how: Effort) -> tuple[int, float]:
    """(calls that fill one timed loop of ``how.target_s``, seconds per call); warms up."""
    call()
    once = max(loop_time_s(call, 3), 1e-9)
    return max(1, min(how.max_calls, round(how.target_s / once))), once


def median_time_s(call: Call, how: Effort) -> float:
    """Median over the batches of the seconds per call."""
    calls, once = calls_per_batch(call, how)
    batches = how.batches_for(calls * once)
    return statistics.median(loop_time_s(call, calls) for _ in range(batches))


def slope_rate(lo: tuple[Call, float], hi: tuple[Call, float], how: Effort) -> float:
    """Work per second from two sizes of one kernel: ``(work_hi - work_lo) / (t_hi - t_lo)``.

    ``lo`` and ``hi`` are (call, work per call), work in bytes or FLOPs. Batches alternate
    the two sizes, and the median of the per-batch differences is used, so slow drift
    (clock, neighbours) hits both. Without noise the slope is at least ``work_hi / t_hi``
    (the fixed cost only adds time), so the larger of the two is returned. NB: where the
    median difference is not positive (noise larger than the signal), ``work_hi / t_hi``
    is returned, a lower bound that includes the fixed per-call cost, with a warning.
    """
    (call_lo, work_lo), (call_hi, work_hi) = lo, hi
    (calls_lo, once_lo), (calls_hi, once_hi) = (
        calls_per_batch(call_lo, how),
        calls_per_batch(call_hi, how),
    )
    diffs, totals = [], []
    for _ in range(how.batches_for(calls_lo * once_lo + calls_hi * once_hi)):
        t_hi = loop_time_s(call_hi, calls_hi)
        t_lo = loop_time_s(call_lo, calls_lo)
        diffs.append(t_hi - t_lo)
        totals.append(t_hi)
    delta = statistics.median(diffs)
    naive = work_hi / statistics.median(totals)
    if delta > 0 and work_hi > work_lo:
        return max((work_hi - work_lo) / delta, naive)
    logger.warning("timing noise hid the size difference; using work/time at the larger size")
    return naive


def run_steps(
    steps: list[tuple[str, Callable[[], object]]], progress: Progress | None
) -> list[object]:
    """Run the steps in order, reporting ``(name, fraction done)`` before each, then ``done``."""
    results = []
    for done, (name, step) in enumerate(steps):
        if progress is not None:
            progress(name, done / len(steps))
        results.append(step())
    if progress is not None:
        progress("done", 1.0)
    return results
