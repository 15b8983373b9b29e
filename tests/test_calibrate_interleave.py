"""Rounds taken in turn across figures (`perfsim.calibration.rounds`, issue 13).

Every clock is injected: probes return scripted values, or a `Timer` reads a virtual clock
that only the timed calls advance. Nothing here runs or times a real kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest

from perfsim.calibration.rounds import Measurement, interleave, run_interleaved
from perfsim.calibration.timing import (
    Call,
    Effort,
    Figure,
    Probe,
    UnsettledFigureError,
    refusal,
    timed_probe,
)

# 3 rounds planned, no agreement check (each test adds what it needs)
PLAN = Effort(batches=1, target_s=1e-3, budget_s=1.0, min_batches=1, rounds=3, max_rounds=3)


def logged(name: str, log: list[str], values: Iterator[float]) -> Probe:
    """A probe whose every round writes ``name`` to ``log`` and returns the next value."""

    def one_round() -> tuple[float]:
        log.append(name)
        return (next(values),)

    return Probe((name,), one_round)


def steady(value: float = 1.0) -> Iterator[float]:
    while True:
        yield value


# ---- (a) the order: round 1 of every figure, then round 2 ... ----------------------------
def test_rounds_go_round_robin_over_the_figures() -> None:
    log: list[str] = []
    probes = [logged(name, log, steady()) for name in ("gemm", "vector", "copy")]
    figures = interleave(probes, PLAN)
    assert log == ["gemm", "vector", "copy"] * 3
    assert [group[0].rounds for group in figures] == [(1.0, 1.0, 1.0)] * 3


def test_only_unsettled_figures_get_further_rounds_still_in_turn() -> None:
    log: list[str] = []
    # vector's 1, 2, 3 s disagree (best two 100% apart); its 4th round, 1.05 s, settles it;
    # copy's 1, 3, 3 then 1.02 s settle a round later
    probes = [
        logged("gemm", log, steady()),
        logged("vector", log, iter([1.0, 2.0, 3.0, 1.05, 9.0])),
        logged("copy", log, iter([1.0, 3.0, 3.0, 3.0, 1.02])),
    ]
    how = replace(PLAN, max_rounds=6, tolerance=0.1)
    figures = interleave(probes, how)
    assert log == ["gemm", "vector", "copy"] * 3 + ["vector", "copy", "copy"]
    assert figures[1][0].rounds == (1.0, 2.0, 3.0, 1.05)
    assert figures[2][0].best == 1.0 and figures[2][0].spread == pytest.approx(0.02)


def test_steps_are_built_before_any_round_and_finish_from_their_own_figures() -> None:
    log: list[str] = []

    def step(name: str, rounds: int) -> Measurement[object]:
        log.append(f"build {name}")
        probes = tuple(logged(f"{name}{i}", log, steady(float(i + 1))) for i in range(rounds))
        return Measurement(probes, lambda figures: [f.best for (f,) in figures])

    progress: list[tuple[str, float]] = []
    results = run_interleaved(
        [("a", lambda: step("a", 1)), ("b", lambda: step("b", 2))],
        replace(PLAN, rounds=2, max_rounds=2),
        lambda label, done: progress.append((label, done)),
    )
    assert log == ["build a", "build b"] + ["a0", "b0", "b1"] * 2
    assert results == [[1.0], [1.0, 2.0]]
    fractions = [done for _, done in progress]
    assert fractions == sorted(fractions) and progress[-1] == ("done", 1.0)
    # 3 probes x 2 rounds planned, and one unit for finishing: the last round starts at 5/7
    assert progress[-2] == ("b1: round 2 of 2", pytest.approx(5 / 7))
    assert progress[0] == ("setting up a (1 of 2)", 0.0)


# ---- (b) a slow stretch of the machine, on a virtual clock --------------------------------
@dataclass
class SlowStretch:
    """A `Timer` on a virtual clock: each call takes 1 ms, 2 ms while ``now`` is inside
    ``slow`` (start, end), seconds; only the timed calls advance ``now``."""

    now: float = 0.0
    slow: tuple[float, float] = (0.0, 0.0)

    def __call__(self, _call: Call, calls: int) -> float:
        start, end = self.slow
        seconds = 2e-3 if start <= self.now < end else 1e-3
        self.now += calls * seconds
        return seconds


def four_figures(how: Effort) -> list[Probe]:
    """Four 1 ms figures, sized now: one call per loop, 3 loops per round (a round takes
    3 ms, 6 ms inside the slow stretch)."""
    return [timed_probe(f"figure {n}", lambda: None, how) for n in range(4)]


def test_a_slow_stretch_no_longer_moves_the_best_of_n() -> None:
    clock = SlowStretch()
    how = Effort(3, 1e-3, 1.0, min_batches=3, rounds=5, max_rounds=5, tolerance=0.1, timer=clock)
    # rounds back to back (the old order): figure 0's 5 rounds take 30 ms, all inside a
    # slow stretch of 30 ms; they agree with each other, so nothing flags the 2x
    probes = four_figures(how)
    clock.slow = (clock.now, clock.now + 30e-3)
    burst = [interleave((probe,), how)[0][0] for probe in probes]
    assert burst[0].rounds == (2e-3,) * 5 and burst[0].spread == 0.0
    assert [figure.best for figure in burst[1:]] == [1e-3] * 3

    # in turn, the same 30 ms stretch: pass 1 (four slow rounds, 24 ms) and figure 0's
    # round 2 (24-30 ms); from there every round is fast
    clock = SlowStretch()
    how = replace(how, timer=clock)
    probes = four_figures(how)
    clock.slow = (clock.now, clock.now + 30e-3)
    turns = [group[0] for group in interleave(probes, how)]
    assert turns[0].rounds == (2e-3, 2e-3, 1e-3, 1e-3, 1e-3)
    assert turns[1].rounds == (2e-3, 1e-3, 1e-3, 1e-3, 1e-3)
    assert [figure.best for figure in turns] == [1e-3] * 4
    assert all(figure.spread == 0.0 for figure in turns)  # the fastest three agree


# ---- (c) a figure that never settles still stops the run ---------------------------------
def test_an_unsettled_figure_still_refuses_after_its_last_round() -> None:
    log: list[str] = []
    recorded: list[Figure] = []
    probes = [
        logged("gemm", log, steady()),
        logged("framework", log, iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
    ]
    how = replace(PLAN, max_rounds=5, tolerance=0.1, record=recorded.append)
    with pytest.raises(UnsettledFigureError) as caught:
        interleave(probes, how)
    # the planned 3 passes, then framework alone up to its 5th round
    assert log == ["gemm", "framework"] * 3 + ["framework"] * 2
    figure = caught.value.figure
    assert figure.label == "framework" and figure.rounds == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert recorded == []  # nothing is kept from a refused run
    assert refusal(figure, 0.1, "other processes: quiet").startswith(
        "no stable figures: framework: its fastest 2 of 5 rounds differ by 100%"
    )


def test_the_widest_of_several_unsettled_figures_is_named() -> None:
    log: list[str] = []
    probes = [logged("a", log, iter([1.0, 1.5, 2.0])), logged("b", log, iter([1.0, 3.0, 4.0]))]
    with pytest.raises(UnsettledFigureError) as caught:
        interleave(probes, replace(PLAN, tolerance=0.1))
    assert caught.value.figure.label == "b" and caught.value.figure.spread == pytest.approx(2.0)


def test_giving_up_after_the_planned_rounds_skips_the_further_ones() -> None:
    asked: list[bool] = []

    def neighbour_appeared() -> bool:
        asked.append(True)
        return True

    log: list[str] = []
    probes = [logged("gemm", log, steady()), logged("framework", log, iter([1.0, 2.0, 3.0]))]
    with pytest.raises(UnsettledFigureError) as caught:
        interleave(probes, replace(PLAN, max_rounds=9, tolerance=0.1), give_up=neighbour_appeared)
    assert log == ["gemm", "framework"] * 3 and asked == [True]
    assert caught.value.figure.rounds == (1.0, 2.0, 3.0)
    # all settled after the planned rounds: nobody is asked
    interleave(
        [logged("gemm", log, steady())], replace(PLAN, tolerance=0.1), give_up=neighbour_appeared
    )
    assert asked == [True]
