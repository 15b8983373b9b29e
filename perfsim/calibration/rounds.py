"""Rounds taken in turn: every figure's round 1, then every figure's round 2, and so on.

Why (issue 13): on a 2-core VM the machine's own speed moves for seconds at a time (its
host's clock, a neighbour VM), and a figure whose rounds all ran back to back, within a
second or two, could sit inside one slow stretch: all its rounds slow, and the best of
them too (two calibrations a minute apart gave 2-thread vector rates 1.26 vs 2.40 FLOP per
cycle, per-op framework times 18.2 vs 21.6 us). Taken in turn, a figure's ``rounds``
rounds lie a whole pass over the calibration apart (seconds to tens of seconds), so a slow
stretch shorter than that meets at most one or two of them, and best-of-N keeps the others.

The rule per figure is `perfsim.calibration.timing`'s: the best round, trusted when the
fastest third (at least two, at most three) agree within ``Effort.tolerance``. After the
planned passes, figures that have not settled get further passes (only they, still in
turn) up to ``Effort.max_rounds``; then the widest one stops the run
(`UnsettledFigureError`).

A calibration is a list of steps; each builds its `Measurement` (its probes, sized and
warmed, and what to make of their figures) before any round runs (`run_interleaved`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from perfsim.calibration.timing import (
    Call,
    Effort,
    Figure,
    Probe,
    Progress,
    UnsettledFigureError,
    slope_figure,
    slope_probe,
    timed_probe,
)

T = TypeVar("T")
R = TypeVar("R", covariant=True)  # a step's result: a Measurement[GemmResult] is one of object
Figures = tuple[tuple[Figure, ...], ...]  # per probe, one figure per label


@dataclass(frozen=True, slots=True)
class Measurement(Generic[R]):
    """A step's probes, and ``finish``: its result from their figures (one tuple per
    probe, in order)."""

    probes: tuple[Probe, ...]
    finish: Callable[[Figures], R]


Step = tuple[str, Callable[[], Measurement[object]]]


def best_times(
    calls: Sequence[tuple[str, Call]], how: Effort, finish: Callable[[tuple[float, ...]], T]
) -> Measurement[T]:
    """One `timed_probe` per (label, call); ``finish`` gets their best seconds per call,
    in order."""
    probes = tuple(timed_probe(label, call, how) for label, call in calls)
    return Measurement(probes, lambda figures: finish(tuple(f.best for (f,) in figures)))


Sizes = tuple[str, tuple[Call, float], tuple[Call, float]]  # label, (call, work) small, large


def slope_rates(
    sizes: Sequence[Sizes], how: Effort, finish: Callable[[tuple[float, ...]], T]
) -> Measurement[T]:
    """One `slope_probe` per (label, small, large); ``finish`` gets their rates
    (`slope_figure`), in order."""
    probes = tuple(slope_probe(label, lo, hi, how) for label, lo, hi in sizes)

    def rates(figures: Figures) -> T:
        return finish(
            tuple(
                slope_figure(label, small, large, (lo[1], hi[1])).best
                for (label, lo, hi), (small, large) in zip(sizes, figures, strict=True)
            )
        )

    return Measurement(probes, rates)


def _unsettled(rounds: list[tuple[float, ...]], probe: Probe, tolerance: float) -> bool:
    return any(
        Figure(label, column, probe.higher_is_better).spread > tolerance
        for label, column in zip(probe.labels, zip(*rounds, strict=True), strict=True)
    )


def interleave(
    probes: Sequence[Probe],
    how: Effort,
    progress: Progress | None = None,
    give_up: Callable[[], bool] | None = None,
) -> Figures:
    """Rounds of all ``probes`` in turn: ``how.rounds`` passes over every probe, then
    passes over the unsettled ones only, up to ``how.max_rounds`` rounds each. Each figure
    goes to ``how.record``.

    ``progress(label, fraction)`` is called before each round: the fraction of the planned
    rounds done (further rounds report 1.0, their label says how many are left at most).
    ``give_up()`` is asked once, after the planned passes, where some figure is unsettled:
    True stops there (the caller knows further rounds cannot help, e.g. a neighbour
    appeared that the plan did not allow for).

    Raises:
        UnsettledFigureError: with a tolerance, the widest figure still unsettled at
            ``max_rounds``, or after the planned passes where ``give_up()``.
    """
    rounds: list[list[tuple[float, ...]]] = [[] for _ in probes]
    planned = max(1, how.rounds)

    def take(index: int, label: str, fraction: float) -> None:
        if progress is not None:
            progress(label, fraction)
        rounds[index].append(tuple(probes[index].one_round()))

    for r in range(planned):
        for i, probe in enumerate(probes):
            done = (r * len(probes) + i) / (planned * len(probes))
            take(i, f"{probe.labels[0]}: round {r + 1} of {planned}", done)
    tolerance = how.tolerance
    for r in range(planned, how.max_rounds if tolerance is not None else planned):
        assert tolerance is not None
        again = [i for i, probe in enumerate(probes) if _unsettled(rounds[i], probe, tolerance)]
        if again and r == planned and give_up is not None and give_up():
            break
        for i in again:
            extra = f"extra round {r + 1} of at most {how.max_rounds}, {len(again)} unsettled"
            take(i, f"{probes[i].labels[0]}: {extra}", 1.0)
        if not again:
            break
    figures = tuple(
        tuple(
            Figure(label, column, probe.higher_is_better)
            for label, column in zip(probe.labels, zip(*taken, strict=True), strict=True)
        )
        for probe, taken in zip(probes, rounds, strict=True)
    )
    flat = [figure for group in figures for figure in group]
    if tolerance is not None:
        widest = max(flat, key=lambda figure: figure.spread, default=None)
        if widest is not None and widest.spread > tolerance:
            raise UnsettledFigureError(widest, tolerance)
    if how.record is not None:
        for figure in flat:
            how.record(figure)
    return figures


def run_interleaved(
    steps: Sequence[Step],
    how: Effort,
    progress: Progress | None,
    give_up: Callable[[], bool] | None = None,
) -> list[object]:
    """Build every step's `Measurement` (in order), take all their probes' rounds in turn
    (`interleave`, with ``give_up``), and return each step's result.

    ``progress(label, fraction)``: 0 while the steps are built (sizing loops, warming up;
    the label names the step), then one unit per planned round, then ``("done", 1.0)``;
    rounds beyond the plan hold the bar just short of the end.
    """
    built: list[Measurement[object]] = []
    for index, (name, build) in enumerate(steps):
        if progress is not None:
            progress(f"setting up {name} ({index + 1} of {len(steps)})", 0.0)
        built.append(build())
    probes = [probe for measurement in built for probe in measurement.probes]
    share = len(probes) * max(1, how.rounds) / (len(probes) * max(1, how.rounds) + 1)

    def in_rounds_progress(label: str, fraction: float) -> None:
        if progress is not None:
            progress(label, fraction * share)

    figures = interleave(probes, how, in_rounds_progress, give_up)
    results, start = [], 0
    for measurement in built:
        end = start + len(measurement.probes)
        results.append(measurement.finish(figures[start:end]))
        start = end
    if progress is not None:
        progress("done", 1.0)
    return results


# ---- one figure alone, its rounds back to back (tests, and callers with one figure) -------
def in_joint_rounds(
    labels: Sequence[str],
    one_round: Callable[[], Sequence[float]],
    how: Effort,
    higher_is_better: bool = False,
) -> tuple[Figure, ...]:
    """`interleave` of one probe: quantities timed together, rounds back to back."""
    probe = Probe(tuple(labels), lambda: tuple(one_round()), higher_is_better)
    return interleave((probe,), how)[0]


def in_rounds(
    label: str, one_round: Callable[[], float], how: Effort, *, higher_is_better: bool = False
) -> Figure:
    """`in_joint_rounds` of one quantity."""
    (figure,) = in_joint_rounds((label,), lambda: (one_round(),), how, higher_is_better)
    return figure


def best_time(label: str, call: Call, how: Effort) -> Figure:
    """Seconds per call of ``call``, its rounds back to back (`timed_probe`)."""
    (figure,) = interleave((timed_probe(label, call, how),), how)[0]
    return figure


def best_time_s(label: str, call: Call, how: Effort) -> float:
    """`best_time`'s best round, seconds per call."""
    return best_time(label, call, how).best


def slope_rate(label: str, lo: tuple[Call, float], hi: tuple[Call, float], how: Effort) -> Figure:
    """`slope_figure` of `slope_probe`, its rounds back to back; the two timed sizes are
    the figures given to ``how.record``."""
    small, large = interleave((slope_probe(label, lo, hi, how),), how)[0]
    return slope_figure(label, small, large, (lo[1], hi[1]))
