"""Wall-clock timing for microbenchmarks: rounds of loop-averaged batches, best of N.

Every figure is measured in **rounds**. A round times ``batches`` loops of calls, each
long enough (``target_s``) that the clock's resolution does not matter, and keeps their
median (one preempted loop does not move it). The figure is the **best round** (the
fastest time, the highest rate): on a shared machine anything else running only ever
*adds* time to a kernel (a descheduled thread, an OpenMP barrier waiting for it, a
neighbour's traffic in the shared L3 and DRAM), never removes it, so the fastest round is
the least disturbed one and the closest to what the hardware does alone, the capability
the hardware file describes. NB: a part that slows down under sustained load (a laptop's
turbo budget) is then described at its short-run speed.

A best round is trusted only when it repeats: the fastest third of the rounds (at least
two, at most three) must agree within ``Effort.tolerance`` (`Figure.spread`). Where they
do not, more rounds are run, up to ``max_rounds``; a figure still unsettled then stops the
run (`UnsettledFigureError`), and the calibration refuses to write a file
(`UnstableCalibrationError`).

This module builds each figure's **probe** (`Probe`: its loops sized, one round as a thunk);
`perfsim.calibration.rounds` runs the rounds, every figure's first round, then every
figure's second, and so on, so a figure's rounds span the whole calibration.

Rates of small operations come from the *difference* between two sizes, so a fixed
per-call cost (framework dispatch, thread fork/join) cancels:
``rate = (work_hi - work_lo) / (t_hi - t_lo)``.

The clock is injected (`Timer`), so tests can feed a noisy or scripted one.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Protocol

logger = logging.getLogger(__name__)

Call = Callable[[], object]
Progress = Callable[[str, float], None]  # (step name, fraction done)

# the fastest third of the rounds (at least two, at most three) must agree within this,
# as a fraction
STABLE_SPREAD: Final = 0.10
# ... but never more than this many rounds need to (`settled_spread`)
MAX_AGREEING: Final = 3


class Timer(Protocol):
    """Seconds per call of ``call``, averaged over ``calls`` back-to-back calls."""

    def __call__(self, call: Call, calls: int) -> float: ...


def clock_timer(clock: Callable[[], float]) -> Timer:
    """A `Timer` reading ``clock`` (seconds) before and after the loop."""

    def timer(call: Call, calls: int) -> float:
        start = clock()
        for _ in range(calls):
            call()
        return (clock() - start) / calls

    return timer


wall_timer: Final[Timer] = clock_timer(time.perf_counter)


class UnsettledFigureError(RuntimeError):
    """A figure's best rounds still disagreed after ``max_rounds``: no point measuring on."""

    def __init__(self, figure: Figure, tolerance: float) -> None:
        super().__init__(f"{figure.label}: best rounds {figure.spread:.0%} apart")
        self.figure = figure
        self.tolerance = tolerance


class UnstableCalibrationError(RuntimeError):
    """Some figure's best rounds did not agree: the machine is too busy to calibrate.

    ``foreign_share`` is others' share of the host's CPU time during the attempt (None:
    unknown), which decides whether a retry with fewer threads may help.
    """

    def __init__(self, message: str, foreign_share: float | None = None) -> None:
        super().__init__(message)
        self.foreign_share = foreign_share


@dataclass(frozen=True, slots=True)
class Effort:
    """How hard to measure one figure, and with which clock.

    Each round times up to ``batches`` loops of about ``target_s`` each (fewer, but at least
    ``min_batches``, where that would take longer than ``budget_s``); ``rounds`` rounds,
    more (up to ``max_rounds``) while the best ones disagree by more than ``tolerance``
    (None: never more, and never refuse).
    """

    batches: int
    target_s: float  # length of one timed loop
    budget_s: float  # seconds one round of a figure may take, roughly
    min_batches: int = 5
    max_calls: int = 1_000_000
    rounds: int = 1
    max_rounds: int = 1
    tolerance: float | None = None
    timer: Timer = field(default=wall_timer, compare=False, repr=False)
    # called with every `Figure` measured, so the caller can judge them all at the end
    record: Callable[[Figure], None] | None = field(default=None, compare=False, repr=False)

    def batches_for(self, batch_s: float) -> int:
        """Batches that fit the budget when one batch takes ``batch_s`` seconds."""
        fitting = int(self.budget_s / max(batch_s, 1e-9))
        return max(self.min_batches, min(self.batches, fitting))


def effort(quick: bool, timer: Timer = wall_timer) -> Effort:
    """The full effort (about a minute on a 2-core host) or the quick one (seconds, tests).

    Full: 5 rounds, up to 15 while the best third disagree by more than `STABLE_SPREAD`.
    Quick: 2 rounds and no stability check (tiny sizes are not representative anyway).
    """
    if quick:
        return Effort(3, 0.0005, 0.01, min_batches=3, rounds=2, max_rounds=2, timer=timer)
    return Effort(
        batches=9,
        target_s=0.005,
        budget_s=0.3,
        min_batches=3,
        rounds=5,
        max_rounds=15,
        tolerance=STABLE_SPREAD,
        timer=timer,
    )


def contended(how: Effort) -> Effort:
    """``how`` for a busy machine: twice the rounds, three times the ceiling, and loops half
    as long, so more of them land in the moments the neighbours leave the CPUs alone."""
    return replace(
        how,
        rounds=2 * how.rounds,
        max_rounds=3 * how.max_rounds,
        target_s=how.target_s / 2,
    )


@dataclass(frozen=True, slots=True)
class Figure:
    """The rounds of one measured quantity and the best of them.

    ``rounds`` are seconds per call (``higher_is_better`` False) or a rate, work per
    second (True).
    """

    label: str
    rounds: tuple[float, ...]
    higher_is_better: bool = False

    @property
    def best(self) -> float:
        """The fastest round: least time, or highest rate."""
        return max(self.rounds) if self.higher_is_better else min(self.rounds)

    @property
    def spread(self) -> float:
        """How far the fastest third of the rounds (at least two, at most three) lie from the
        best, as a fraction of the best's time: 0 means the best repeated exactly
        (`settled_spread`)."""
        return settled_spread(self.rounds, higher_is_better=self.higher_is_better)


def settled_spread(values: Sequence[float], *, higher_is_better: bool = False) -> float:
    """``(t_k - t_1) / t_1`` over times sorted fastest first, ``k = max(2, ceil(n / 3))``
    capped at 3: the best must repeat, not a fixed share of the rounds (on a quiet 2-core VM
    the fastest 5 of 15 rounds of a 2-thread GEMM still spread 12%, while the fastest 3
    agree; contention is caught by the load detector, `perfsim.calibration.contention`).

    Rates are compared as times per unit of work (``1 / rate``). A non-positive value
    (no rate measured) counts as infinitely slow. One round has nothing to disagree with: 0.
    """
    if len(values) < 2:
        return 0.0
    times = sorted((1.0 / v if v > 0 else math.inf) if higher_is_better else v for v in values)
    k = min(MAX_AGREEING, max(2, math.ceil(len(times) / 3)))
    if times[0] <= 0 or math.isinf(times[0]):
        return math.inf
    return (times[k - 1] - times[0]) / times[0]


@dataclass(frozen=True, slots=True)
class Probe:
    """Quantities timed together, ready to be measured: ``one_round`` times one round of
    them and returns one value per label (seconds per call, or a rate where
    ``higher_is_better``). Its tensors and loop sizes are fixed when it is built, so its
    rounds can be taken at any time, in turn with other probes'
    (`perfsim.calibration.rounds`)."""

    labels: tuple[str, ...]
    one_round: Callable[[], tuple[float, ...]] = field(compare=False, repr=False)
    higher_is_better: bool = False


def calls_per_batch(call: Call, how: Effort) -> tuple[int, float]:
    """(calls that fill one timed loop of ``how.target_s``, seconds per call); warms up."""
    call()
    once = max(how.timer(call, 3), 1e-9)
    return max(1, min(how.max_calls, round(how.target_s / once))), once


def timed_probe(label: str, call: Call, how: Effort) -> Probe:
    """Seconds per call of ``call``: a round is the median of its batches (sized now)."""
    calls, once = calls_per_batch(call, how)
    batches = how.batches_for(calls * once)

    def one_round() -> tuple[float]:
        # one untimed call first: rounds are taken in turn with other figures', whose data
        # and thread count evicted this one's caches and parked its threads
        call()
        return (statistics.median(how.timer(call, calls) for _ in range(batches)),)

    return Probe((label,), one_round)


def slope_probe(label: str, lo: tuple[Call, float], hi: tuple[Call, float], how: Effort) -> Probe:
    """The two sizes of `slope_figure`, timed in the same rounds: ``(label (small), label
    (large))``. Within a round, batches alternate the two sizes, so slow drift (clock,
    neighbours) hits both; each size's round value is the median of its batches."""
    (call_lo, _), (call_hi, _) = lo, hi
    (calls_lo, once_lo), (calls_hi, once_hi) = (
        calls_per_batch(call_lo, how),
        calls_per_batch(call_hi, how),
    )
    batches = how.batches_for(calls_lo * once_lo + calls_hi * once_hi)

    def one_round() -> tuple[float, float]:
        call_hi()  # warm, as in `timed_probe`
        call_lo()
        small, large = [], []
        for _ in range(batches):
            large.append(how.timer(call_hi, calls_hi))
            small.append(how.timer(call_lo, calls_lo))
        return statistics.median(small), statistics.median(large)

    return Probe((f"{label} (small)", f"{label} (large)"), one_round)


def slope_figure(label: str, small: Figure, large: Figure, work: tuple[float, float]) -> Figure:
    """Work per second from the best times of two sizes: ``(work_hi - work_lo) / (t_hi -
    t_lo)`` (pure but for a warning). ``work`` is (small, large) in bytes or FLOPs.

    Each time is checked for agreement, not the difference (a small difference of two
    times magnifies their noise). Without noise the slope is at least ``work_hi / t_hi``
    (the fixed cost only adds time), so the larger of the two is returned. NB: where the
    large size was not slower than the small one (noise larger than the signal), the
    result is ``work_hi / t_hi``, a lower bound that includes the fixed per-call cost,
    with a warning.

    Returns:
        The rate as a one-round `Figure` (``higher_is_better``).
    """
    (work_lo, work_hi), t_lo, t_hi = work, small.best, large.best
    naive = work_hi / t_hi
    if t_hi > t_lo and work_hi > work_lo:
        rate = max((work_hi - work_lo) / (t_hi - t_lo), naive)
    else:
        logger.warning(
            "%s: timing noise hid the size difference; using work/time at the larger size",
            label,
        )
        rate = naive
    return Figure(label, (rate,), higher_is_better=True)


QUIET_MACHINE_ADVICE: Final = (
    "rerun: no other process was busy, so this machine's own speed moved (a virtual "
    "machine's host, frequency scaling)"
)
BUSY_MACHINE_ADVICE: Final = "rerun on a quieter machine"


def refusal(figure: Figure, tolerance: float, load: str, quiet: bool = False) -> str:
    """The one-line reason a calibration whose ``figure`` did not settle writes nothing.

    ``quiet``: no other process was busy before or during the attempt, so the advice is
    not to find a quieter machine (there is none) but to run again.
    """
    k = min(MAX_AGREEING, max(2, math.ceil(len(figure.rounds) / 3)))
    advice = QUIET_MACHINE_ADVICE if quiet else BUSY_MACHINE_ADVICE
    return (
        f"no stable figures: {figure.label}: its fastest {k} of {len(figure.rounds)} rounds "
        f"differ by {figure.spread:.0%} (at most {tolerance:.0%} allowed); {load}; nothing "
        f"written, {advice}"
    )


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
