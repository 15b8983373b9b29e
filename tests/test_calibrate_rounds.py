"""Calibration on a busy machine: best-of-N rounds, the contention detector, adapting to
it, refusing when figures do not settle, and a file that depends only on what was measured.

Every clock and load reading is injected (`Instruments`, `Effort.timer`); nothing here
asserts how long anything really takes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from perfsim.calibration import (
    Instruments,
    UnstableCalibrationError,
    calibration_yaml,
    measure_host,
)
from perfsim.calibration.contention import (
    BUSY_CPUS,
    adapt,
    foreign_cpus,
    free_cpus,
    sample_foreign_cpus,
)
from perfsim.calibration.rounds import best_time, in_rounds, slope_rate
from perfsim.calibration.timing import (
    Call,
    Effort,
    Figure,
    UnsettledFigureError,
    effort,
    refusal,
    settled_spread,
)
from perfsim.cli import cli

ROUNDS = Effort(batches=1, target_s=1e-3, budget_s=1.0, min_batches=1, rounds=3, max_rounds=3)


def scripted(values: list[float]) -> Callable[[Call, int], float]:
    """A timer that returns ``values`` in turn (seconds per call), never running the call."""
    feed = iter(values)
    return lambda _call, _calls: next(feed)


def noisy(seed: int) -> Callable[[Call, int], float]:
    """A timer whose every reading is 10 us times a random factor in [1, 4)."""
    rng = random.Random(seed)
    return lambda _call, _calls: 1e-5 * (1.0 + 3.0 * rng.random())


def steady(seconds: float = 1e-5) -> Callable[[Call, int], float]:
    return lambda _call, _calls: seconds


def quiet_tools(timer: Callable[[Call, int], float]) -> Instruments:
    """No foreign load, a clock that ticks 1 s per reading, no sleeping."""
    ticks: Iterator[float] = iter(float(n) for n in range(10**6))
    return Instruments(
        timer=timer,
        clock=lambda: next(ticks),
        cpu_seconds=lambda: (0.0, 0.0),
        own_seconds=lambda: 0.0,
        sleep=lambda _s: None,
        load_average=lambda: None,
    )


def checked(timer: Callable[[Call, int], float], tolerance: float | None = 0.1) -> Effort:
    """The quick effort (tiny sizes) with the full run's agreement check."""
    return replace(effort(True, timer), rounds=3, max_rounds=4, tolerance=tolerance)


# ---- best of N ---------------------------------------------------------------------------
def test_best_time_keeps_the_fastest_round() -> None:
    # the first reading sizes the loop; then one batch per round: 5, 2, 3 ms
    how = replace(ROUNDS, timer=scripted([1e-3, 5e-3, 2e-3, 3e-3]))
    figure = best_time("gemm", lambda: None, how)
    assert figure.rounds == (5e-3, 2e-3, 3e-3)
    assert figure.best == 2e-3
    # the fastest third, at least two rounds: 2 and 3 ms -> (3 - 2) / 2
    assert figure.spread == pytest.approx(0.5)


def test_a_round_is_the_median_of_its_batches() -> None:
    # 3 batches per round: medians 2 ms and 4 ms (a 9 ms outlier does not move them)
    how = replace(ROUNDS, batches=3, min_batches=3, rounds=2, max_rounds=2)
    how = replace(how, timer=scripted([1e-3, 1e-3, 2e-3, 9e-3, 4e-3, 4e-3, 5e-3]))
    assert best_time("x", lambda: None, how).rounds == (2e-3, 4e-3)


def test_unsettled_rounds_run_again_until_the_best_agree() -> None:
    # 1, 2, 3 s disagree (the best two 100% apart): a fourth round, 1.05 s, settles it
    values = iter([1.0, 2.0, 3.0, 1.05, 1.0])
    how = replace(ROUNDS, max_rounds=6, tolerance=0.1)
    figure = in_rounds("x", lambda: next(values), how)
    assert figure.rounds == (1.0, 2.0, 3.0, 1.05)
    assert figure.best == 1.0 and figure.spread == pytest.approx(0.05)


def test_rounds_stop_at_the_ceiling_and_the_run_stops() -> None:
    values = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    how = replace(ROUNDS, max_rounds=5, tolerance=0.1)
    with pytest.raises(UnsettledFigureError) as caught:
        in_rounds("gemm fp32", lambda: next(values), how)
    figure = caught.value.figure
    # 5 rounds; the fastest 2 (ceil(5 / 3)) are 1 and 2 s apart: 100%
    assert figure.rounds == (1.0, 2.0, 3.0, 4.0, 5.0) and figure.spread == pytest.approx(1.0)
    message = refusal(figure, 0.1, "other processes: quiet")
    assert message == (
        "no stable figures: gemm fp32: its fastest 2 of 5 rounds differ by 100% (at most 10% "
        "allowed); other processes: quiet; nothing written, rerun on a quieter machine"
    )
    # nobody else was busy: the advice is to run again, not to find a quieter machine
    assert refusal(figure, 0.1, "other processes: quiet", quiet=True).endswith(
        "nothing written, rerun: no other process was busy, so this machine's own speed "
        "moved (a virtual machine's host, frequency scaling)"
    )
    # without a tolerance nothing is judged: the figure is returned as measured
    values = iter([1.0, 2.0, 3.0])
    assert in_rounds("x", lambda: next(values), replace(ROUNDS)).best == 1.0


def test_settled_spread_of_rates_compares_times() -> None:
    # rates 100 and 80 per s: times 10 and 12.5 ms -> 25%
    assert settled_spread([100.0, 80.0, 50.0], higher_is_better=True) == pytest.approx(0.25)
    assert settled_spread([7.0]) == 0.0
    assert Figure("r", (100.0, 80.0), higher_is_better=True).best == 100.0


def test_slope_rate_uses_the_best_time_of_each_size() -> None:
    # per round: large then small size; rounds (large, small): (4, 2), (3.5, 1.5), (5, 3) ms
    values = [1e-3, 1e-3, 4e-3, 2e-3, 3.5e-3, 1.5e-3, 5e-3, 3e-3]
    recorded: list[Figure] = []
    how = replace(ROUNDS, timer=scripted(values), record=recorded.append)
    rate = slope_rate("add", (lambda: None, 1000.0), (lambda: None, 3000.0), how)
    # best small 1.5 ms, best large 3.5 ms: (3000 - 1000) / 2 ms = 1e6 per s
    assert rate.best == pytest.approx(1e6)
    assert [f.label for f in recorded] == ["add (small)", "add (large)"]
    assert recorded[0].best == 1.5e-3 and recorded[1].best == 3.5e-3


# ---- noticing other processes ------------------------------------------------------------
def test_foreign_cpus_from_proc_stat_readings() -> None:
    # 4 CPUs; across the window 300 of 400 CPU-seconds were busy, 100 of them ours
    assert foreign_cpus((100.0, 1000.0), (400.0, 1400.0), own_s=100.0, cpus=4) == 2.0
    assert foreign_cpus(None, (1.0, 2.0), own_s=0.0, cpus=4) is None


def test_sample_foreign_cpus_reads_across_an_idle_window() -> None:
    readings = iter([(10.0, 100.0), (11.2, 102.0)])  # 1.2 busy of 2 CPU-seconds
    own = iter([5.0, 5.2])  # of which 0.2 ours
    slept: list[float] = []
    tools = Instruments(
        cpu_seconds=lambda: next(readings), own_seconds=lambda: next(own), sleep=slept.append
    )
    # others: 1.0 of 2 CPU-seconds = half of 2 CPUs = 1 CPU
    assert sample_foreign_cpus(tools, cpus=2, window_s=0.25) == pytest.approx(1.0)
    assert slept == [0.25]


def test_sample_foreign_cpus_falls_back_to_the_load_average() -> None:
    tools = Instruments(cpu_seconds=lambda: None, own_seconds=lambda: 0.0, sleep=lambda _s: None)
    # load 2.5 less our one thread
    assert sample_foreign_cpus(replace(tools, load_average=lambda: 2.5), 4) == 1.5
    assert sample_foreign_cpus(replace(tools, load_average=lambda: 0.5), 4) == 0.0
    assert sample_foreign_cpus(replace(tools, load_average=lambda: None), 4) is None


# ---- adapting --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cpus", "foreign", "free"), [(2, 0.0, 2), (2, 0.5, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 3.0, 1)]
)
def test_free_cpus(cpus: int, foreign: float, free: int) -> None:
    assert free_cpus(cpus, foreign) == free


def test_quiet_host_measures_as_planned() -> None:
    how = effort(False)
    for foreign in (None, 0.0, BUSY_CPUS / 2):
        chosen = adapt(2, 2, foreign, how, fixed_threads=False)
        assert (chosen.units, chosen.how, chosen.note) == (2, how, "")


def test_busy_host_gets_more_rounds() -> None:
    how = effort(False)
    chosen = adapt(1, 2, 0.8, how, fixed_threads=False)  # one thread, one CPU free
    assert chosen.units == 1
    assert chosen.how.rounds == 2 * how.rounds and chosen.how.max_rounds == 3 * how.max_rounds
    assert chosen.how.target_s < how.target_s
    assert "10-45 rounds per figure" in chosen.note


def test_oversubscribed_host_refuses_unless_the_threads_were_asked_for() -> None:
    how = effort(False)
    chosen = adapt(2, 2, 1.0, how, fixed_threads=False)
    assert chosen.refusal.startswith("other processes kept 1.0 of 2 CPUs busy, so 2-thread")
    assert "nothing written" in chosen.refusal and "--threads 1" in chosen.refusal
    assert "\n" not in chosen.refusal
    fixed = adapt(2, 2, 1.0, how, fixed_threads=True)
    assert fixed.units == 2 and fixed.how.rounds == 2 * how.rounds and not fixed.refusal
    # a neighbour on half a CPU of 8 leaves all 8 to us: more rounds, no refusal
    roomy = adapt(8, 8, 0.5, how, fixed_threads=False)
    assert roomy.units == 8 and not roomy.refusal and roomy.how.rounds == 2 * how.rounds


def _busy_tools(timer: Callable[[Call, int], float], foreign: float) -> Instruments:
    """``quiet_tools`` whose first window shows ``foreign`` busy CPUs of 2 (1 s window)."""
    import os

    cpus = os.cpu_count() or 1
    readings = iter([(0.0, 0.0), (foreign, float(cpus))])
    return replace(quiet_tools(timer), cpu_seconds=lambda: next(readings, (foreign, float(cpus))))


def test_a_busy_run_adapts_and_says_so() -> None:
    import torch

    cpus = len(__import__("os").sched_getaffinity(0))
    free = free_cpus(cpus, 1.0)
    threads = min(torch.get_num_threads(), free)  # the CPUs left free: no refusal
    cal = measure_host(quick=True, tools=_busy_tools(steady(), foreign=1.0), threads=threads)
    assert cal.units == threads
    assert "rounds per figure" in cal.adaptation
    assert "Adapted to a busy host" in calibration_yaml(cal)
    # quick: 2 rounds planned, doubled on a busy host
    assert "each the best of 4 rounds" in cal.rounds


def test_an_oversubscribed_run_refuses_with_one_line() -> None:
    # one CPU of two kept busy by another process, all threads asked for (the default)
    cpus = len(__import__("os").sched_getaffinity(0))
    with pytest.raises(UnstableCalibrationError) as caught:
        measure_host(quick=True, tools=_busy_tools(steady(), foreign=1.0), threads=None)
    if free_cpus(cpus, 1.0) >= __import__("torch").get_num_threads():
        pytest.skip("this host has CPUs to spare beside one busy neighbour")
    message = str(caught.value)
    assert "\n" not in message and "nothing written" in message


def test_cli_refuses_an_oversubscribed_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    cpus = len(__import__("os").sched_getaffinity(0))
    foreign = float(cpus)  # every CPU busy with someone else's work: never enough free
    if torch.get_num_threads() <= free_cpus(cpus, foreign):
        pytest.skip("one thread asked for: it always has a CPU")
    monkeypatch.setattr(
        "perfsim.calibration.host.Instruments", lambda: _busy_tools(steady(), foreign=foreign)
    )
    out = tmp_path / "host.yaml"
    result = CliRunner().invoke(cli, ["calibrate", "--quick", "--out", str(out)])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("calibrate: other processes kept")
    assert not out.exists() and list(tmp_path.iterdir()) == []


# ---- refusing, and a file that depends only on the measurements -------------------------
def test_noisy_timer_refuses_with_one_line() -> None:
    with pytest.raises(UnstableCalibrationError) as caught:
        measure_host(quick=True, tools=quiet_tools(noisy(1)), how=checked(noisy(1)))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("no stable figures:")
    assert "nothing written" in message and "(at most 10% allowed)" in message


def test_a_refusal_on_an_idle_host_says_to_run_again() -> None:
    # /proc/stat readable and idle (no busy CPU time passes), yet the figures jitter
    ticks = iter(float(n) for n in range(0, 10**6, 2))
    tools = replace(quiet_tools(noisy(1)), cpu_seconds=lambda: (0.0, next(ticks)))
    with pytest.raises(UnstableCalibrationError) as caught:
        measure_host(quick=True, tools=tools, how=checked(noisy(1)), threads=1)
    message = str(caught.value)
    assert "0.0 of" in message and "0% of the CPU time during" in message
    assert message.endswith(
        "nothing written, rerun: no other process was busy, so this "
        "machine's own speed moved (a virtual machine's host, frequency scaling)"
    )


def test_steady_timer_passes_the_same_check() -> None:
    cal = measure_host(quick=True, tools=quiet_tools(steady()), how=checked(steady()))
    assert "within 10%" in cal.rounds and "widest 0.0%" in cal.rounds


def test_cli_refusal_exits_1_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timer = noisy(2)
    monkeypatch.setattr("perfsim.calibration.host.effort", lambda quick, _timer: checked(timer))
    monkeypatch.setattr("perfsim.calibration.host.Instruments", lambda: quiet_tools(timer))
    out = tmp_path / "host.yaml"
    result = CliRunner().invoke(cli, ["calibrate", "--quick", "--out", str(out)])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("calibrate: no stable figures:")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file either


def test_same_measurements_give_the_same_file() -> None:
    def run() -> str:
        timer = noisy(7)  # the same sequence of readings each time
        tools = quiet_tools(timer)
        return calibration_yaml(measure_host(quick=True, tools=tools, threads=1), name="h")

    first, second = run(), run()
    assert first == second
    assert "run in 1 s" in first  # the injected clock, not the real one


def test_load_during_a_failed_attempt_gets_a_second_adapted_one() -> None:
    """Quiet before, a neighbour during attempt 1 (noisy; it stops after its planned rounds,
    as others were busy): attempt 2 adapts to the load seen and settles."""
    state = {"busy": 0.0, "total": 0.0, "reads": 0}
    rng = random.Random(3)

    def timer(_call: Call, _calls: int) -> float:
        noise = 3.0 * rng.random() if state["reads"] < 4 else 0.0
        return 1e-5 * (1.0 + noise)

    def cpu_seconds() -> tuple[float, float]:
        # readings: 1-2 the idle window (quiet); 3 as attempt 1 starts, 4 after its planned
        # rounds (others busy half the CPU time: it stops), 5 as it ends; 6-7 around
        # attempt 2 (quiet); 2 CPU-seconds pass between readings
        state["reads"] += 1
        state["total"] += 2.0
        state["busy"] += 1.0 if state["reads"] == 4 else 0.0
        return state["busy"], state["total"]

    tools = replace(quiet_tools(timer), cpu_seconds=cpu_seconds)
    # one thread asked for: half the CPUs busy leaves it a CPU on any host (all threads
    # would be refused: test_an_oversubscribed_run_refuses_with_one_line)
    cal = measure_host(quick=True, tools=tools, how=checked(timer), threads=1)
    assert state["reads"] == 7  # two attempts
    assert "rounds per figure" in cal.adaptation
    assert "each the best of 6 rounds" in cal.rounds  # 3 planned, doubled when busy


def test_a_jittery_figure_on_a_quiet_host_is_measured_again_with_more_rounds() -> None:
    """No foreign load before or during, yet attempt 1 stops at an unsettled figure (a
    few-microsecond GEMM's own jitter): attempt 2 allows more rounds instead of refusing."""
    total = {"s": 0.0, "reads": 0}
    rng = random.Random(5)

    def timer(_call: Call, _calls: int) -> float:
        # /proc/stat is read twice around the idle window, once as attempt 1 starts, once
        # after its planned rounds (nobody else busy: its further rounds run), once as it
        # ends unsettled; then twice around attempt 2
        noise = 3.0 * rng.random() if total["reads"] <= 3 else 0.0  # attempt 1 jitters
        return 1e-5 * (1.0 + noise)

    def cpu_seconds() -> tuple[float, float]:  # nobody else busy: 0 of 2 CPU-seconds
        total["reads"] += 1
        total["s"] += 2.0
        return 0.0, total["s"]

    how = checked(timer)
    tools = replace(quiet_tools(timer), cpu_seconds=cpu_seconds)
    cal = measure_host(quick=True, tools=tools, how=how)
    assert total["reads"] == 7  # two attempts
    assert "a quiet machine, a jittery figure: up to" in cal.adaptation
    assert f"up to {how.max_rounds} rounds" not in cal.adaptation  # more than planned
