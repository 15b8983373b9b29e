"""Noticing other processes on the host, and adapting the calibration to them.

Before measuring, the host's CPU counters are read across a short idle window (this
process sleeps, so whatever ran was someone else's): that is the **foreign load**, in busy
CPUs. `adapt` then decides how to measure:

* quiet (foreign load under `BUSY_CPUS`): as planned;
* busy: more rounds per figure and shorter loops (`perfsim.calibration.timing.contended`),
  so best-of-N finds the moments the neighbours leave the CPUs alone;
* oversubscribed (our threads plus the foreign load exceed the CPUs): **refuse**, unless
  the caller fixed the thread count. A thread that shares its CPU with a busy neighbour
  stalls every OpenMP barrier of the others, so all-thread figures measured then are the
  neighbour's, not the machine's; and a file for the fewer CPUs left free describes
  another machine (its predictions of all-thread runs were 62% off a quiet file's, in
  results/validation/README.md, session 4). The refusal says how to go on: calibrate
  again when the machine is quieter, or ask for the free CPUs with ``--threads``.

Every reading goes through `Instruments`, so tests inject scripted clocks and loads.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from perfsim.calibration import probe
from perfsim.calibration.timing import Effort, Timer, contended, wall_timer

BUSY_CPUS: Final = 0.25  # foreign load, in busy CPUs, above which the host counts as busy
WINDOW_S: Final = 0.5  # idle window over which the foreign load is read before measuring


def _host_cpu_seconds() -> tuple[float, float] | None:
    return probe.cpu_seconds(Path("/"))


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


@dataclass(frozen=True, slots=True)
class Instruments:
    """Where a calibration reads time and load (defaults: this host); tests replace them.

    Attributes:
        timer: seconds per call of a loop of calls (`perfsim.calibration.timing.Timer`).
        clock: wall seconds, for the run's length.
        cpu_seconds: (busy, total) CPU seconds of the whole host so far (``/proc/stat``).
        own_seconds: this process's CPU seconds so far.
        sleep: waits the idle window.
        load_average: the 1-minute load average, where ``/proc/stat`` cannot be read.
    """

    timer: Timer = field(default=wall_timer)
    clock: Callable[[], float] = field(default=time.perf_counter)
    cpu_seconds: Callable[[], tuple[float, float] | None] = field(default=_host_cpu_seconds)
    own_seconds: Callable[[], float] = field(default=time.process_time)
    sleep: Callable[[float], None] = field(default=time.sleep)
    load_average: Callable[[], float | None] = field(default=_load_average)


def foreign_cpus(
    before: tuple[float, float] | None,
    after: tuple[float, float] | None,
    own_s: float,
    cpus: int,
) -> float | None:
    """Busy CPUs that were not ours between two ``cpu_seconds`` readings (pure).

    ``probe.contention`` gives others' share of the host's CPU time; times ``cpus``
    (the CPUs ``/proc/stat`` counts) that is busy CPUs. None where unreadable.
    """
    share = probe.contention(before, after, own_s)
    return None if share is None else share * cpus


def sample_foreign_cpus(tools: Instruments, cpus: int, window_s: float = WINDOW_S) -> float | None:
    """Foreign busy CPUs over an idle window of ``window_s`` seconds.

    Without ``/proc/stat``: the 1-minute load average less the one thread of ours that was
    running before (importing torch), at least 0; None where neither can be read.
    """
    before, own = tools.cpu_seconds(), tools.own_seconds()
    tools.sleep(window_s)
    measured = foreign_cpus(before, tools.cpu_seconds(), tools.own_seconds() - own, cpus)
    if measured is not None:
        return measured
    load = tools.load_average()
    return None if load is None else max(0.0, load - 1.0)


@dataclass(frozen=True, slots=True)
class Adaptation:
    """How a calibration measures, given the foreign load it saw (`adapt`)."""

    units: int  # threads the file is calibrated for
    how: Effort
    foreign_cpus: float | None
    note: str  # one line for the file's header and the user; "" when nothing changed
    refusal: str = ""  # why not to calibrate at all (one line); "" to go on


def free_cpus(cpus: int, foreign: float) -> int:
    """CPUs left to us by ``foreign`` busy CPUs: ``floor(cpus - foreign + 0.5)``, at least 1
    (a neighbour using half a CPU or less leaves it to us)."""
    return max(1, math.floor(cpus - foreign + 0.5))


def adapt(
    units: int, cpus: int, foreign: float | None, how: Effort, *, fixed_threads: bool
) -> Adaptation:
    """The thread count and effort to calibrate with (pure; see the module docstring).

    Args:
        units: threads asked for (the hardware file's ``compute.units``).
        cpus: CPUs this process may run on.
        foreign: others' busy CPUs before measuring (None: unknown, taken as quiet).
        how: the planned effort.
        fixed_threads: the caller chose ``units``; then it is never lowered.
    """
    if foreign is None or foreign < BUSY_CPUS:
        return Adaptation(units, how, foreign, "")
    busier = contended(how)
    rounds = f"{busier.rounds}-{busier.max_rounds} rounds per figure"
    seen = f"other processes kept {foreign:.1f} of {cpus} CPUs busy"
    free = free_cpus(cpus, foreign)
    if units > free and not fixed_threads:
        refusal = (
            f"{seen}, so {units}-thread figures measured now would be theirs, not this "
            f"machine's: nothing written; calibrate again when it is quieter, or pass "
            f"--threads {free} to calibrate the CPU(s) left free"
        )
        return Adaptation(units, busier, foreign, f"{seen}: {rounds}", refusal)
    return Adaptation(units, busier, foreign, f"{seen}: {rounds}")
