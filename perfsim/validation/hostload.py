"""Others' share of the host's CPUs while a measurement ran, from ``/proc/stat``.

NB: `perfsim.calibration.probe.contention` answers the same question for calibration
against the ticks ``/proc/stat`` counts (idle included) rather than wall time x CPUs; the
two are kept apart so recorded figures do not move.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def cpu_clock() -> tuple[float, float, float] | None:
    """(wall, all CPUs' busy seconds, this process's CPU seconds); None without /proc/stat.

    Busy is user + nice + system + irq + softirq + steal (time the hypervisor gave to
    other guests counts against us too).
    """
    try:
        fields = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    own = os.times()
    busy = (user + nice + system + irq + softirq + steal) / ticks
    return time.perf_counter(), busy, own.user + own.system


def foreign_load_between(
    before: tuple[float, float, float] | None, after: tuple[float, float, float] | None
) -> float | None:
    """Share of all CPUs' time used by others between two `cpu_clock` readings."""
    if before is None or after is None:
        return None
    wall = after[0] - before[0]
    capacity = wall * (os.cpu_count() or 1)
    others = (after[1] - before[1]) - (after[2] - before[2])
    return min(max(others / capacity, 0.0), 1.0) if capacity > 0 else None
