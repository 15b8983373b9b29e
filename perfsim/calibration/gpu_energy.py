"""Energy per action, baseline power and the power limit of a CUDA device, read from NVML.

The method (after Antepara et al., "Benchmark-driven Models for Energy Analysis and
Attribution of GPU-Accelerated Supercomputing", SC'25: cuBLAS GEMMs and streaming kernels
with random data, read through the driver's power sensor), taken at a held clock so that
the power limit does not confound it:

- One large product per dtype (and one device copy) runs in short bursts with idle gaps,
  at several duty levels (`DUTY_LEVELS`). A burst is a few milliseconds, far shorter than
  the power controller's averaging window, so at low duty the SM clock stays at its top.
- Where the clock held, average power is a straight line in the work rate
  (`fit_line`): its slope is joules per MAC (per byte copied) at that clock, whole
  stack (arithmetic, operand delivery, issue, clocking and the on-chip traffic of the
  product), and its intercept the baseline power with the clocks up.
- At full duty the limit lowers the clock; the energy per action there, against the held
  clock's, gives how energy falls with the clock: ``E(f) = E(f_top) (f / f_top)^beta``
  (`dvfs_exponent`), the exponent `perfsim.engines.power` uses for this device.

The reader of the sensor is a `Meter` (NVML in `nvml_meter`; tests pass a simulated one).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

DUTY_LEVELS: Final = (0.0, 0.15, 0.3, 0.5, 1.0)
BURST_S: Final = 0.004  # work per burst: far below the power controller's averaging window
HELD_MARGIN_HZ: Final = 20e6  # a level "held" the clock if its lowest sample was this close
SAMPLE_S: Final = 0.01  # clock samples this often during a level


class Meter(Protocol):
    """The device's power sensor and clock, as NVML reports them."""

    def energy_j(self) -> float:
        """Energy the board has used since some fixed moment, joules."""
        ...

    def clock_hz(self) -> float:
        """The SM clock now, Hz."""
        ...

    def power_limit_w(self) -> float:
        """The power limit the driver enforces, watts."""
        ...


@dataclass(frozen=True, slots=True)
class Burst:
    """A few milliseconds of one kernel: ``run`` issues it and waits for it, ``seconds`` it
    takes at the top clock, ``actions`` (MACs or bytes) it does."""

    run: Callable[[], None]
    seconds: float
    actions: float


@dataclass(frozen=True, slots=True)
class DutyPoint:
    """One duty level: achieved actions per second, average watts, SM clock range (Hz)."""

    level: float
    actions_per_s: float
    power_w: float
    clock_min_hz: float
    clock_max_hz: float


@dataclass(frozen=True, slots=True)
class ActionEnergy:
    """One action's energy at the held clock, fitted over its duty levels.

    ``action`` is ``mac.<dtype>`` or ``dram.bytes``; ``joules`` per action at
    ``held_clock_hz``; ``baseline_w`` the fit's intercept (power at no work, clocks up);
    ``dvfs_exponent`` from the throttled full-duty point, None where the clock held there.
    """

    action: str
    joules: float
    baseline_w: float
    held_clock_hz: float
    dvfs_exponent: float | None
    points: tuple[DutyPoint, ...]

    def how(self) -> str:
        """One line: how the figure was measured."""
        held = [p for p in self.points if _held(p, self.held_clock_hz)]
        return (
            f"NVML energy over {len(self.points)} duty levels "
            f"({', '.join(f'{p.level:.0%}' for p in self.points)}); slope of watts against "
            f"actions/s over the {len(held)} levels that held {self.held_clock_hz / 1e6:.0f} MHz "
            f"(intercept {self.baseline_w:.0f} W)"
        )


@dataclass(frozen=True, slots=True)
class PowerCalibration:
    """What `measure_energy` found: per-action energies, the limit and the baseline."""

    actions: tuple[ActionEnergy, ...]
    power_limit_w: float

    @property
    def baseline_w(self) -> float:
        """Median intercept over the actions: the device's power with clocks up, no work."""
        return statistics.median(action.baseline_w for action in self.actions)

    @property
    def dvfs_exponent(self) -> float | None:
        """Median exponent over the MAC actions the limit throttled (None: none was)."""
        found = [
            a.dvfs_exponent
            for a in self.actions
            if a.action.startswith("mac.") and a.dvfs_exponent is not None
        ]
        return statistics.median(found) if found else None

    def joules(self, action: str) -> float | None:
        """Joules per ``action`` (e.g. ``mac.fp16``), None if not measured."""
        return next((a.joules for a in self.actions if a.action == action), None)


def fit_line(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of y over x."""
    if len(points) < 2:
        raise ValueError("a line needs two points")
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        raise ValueError("a line needs two different rates")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    return slope, mean_y - slope * mean_x


def dvfs_exponent(
    top_joules: float, top_hz: float, low_joules: float, low_hz: float
) -> float | None:
    """``beta`` in ``E(f) = E(f_top) (f / f_top)^beta``; None unless the clock fell 5%."""
    if low_hz >= 0.95 * top_hz or low_joules <= 0 or top_joules <= 0:
        return None
    return math.log(low_joules / top_joules) / math.log(low_hz / top_hz)


def _held(point: DutyPoint, top_hz: float) -> bool:
    return point.clock_min_hz >= top_hz - HELD_MARGIN_HZ


def fit_action(action: str, points: Sequence[DutyPoint]) -> ActionEnergy:
    """Joules per action from the levels that held the top clock (the idle level included).

    Raises:
        ValueError: fewer than two held levels with different rates.
    """
    top = max(point.clock_max_hz for point in points)
    held = [point for point in points if _held(point, top)]
    joules, baseline = fit_line([(p.actions_per_s, p.power_w) for p in held])
    busiest = max(points, key=lambda point: point.level)
    exponent = None
    if not _held(busiest, top) and busiest.actions_per_s > 0:
        clock = (busiest.clock_min_hz + busiest.clock_max_hz) / 2
        per_action = (busiest.power_w - baseline) / busiest.actions_per_s
        exponent = dvfs_exponent(joules, top, per_action, clock)
    return ActionEnergy(action, joules, baseline, top, exponent, tuple(points))


def duty_point(
    burst: Burst,
    level: float,
    window_s: float,
    meter: Meter,
    now: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> DutyPoint:
    """Average power and rate over ``window_s`` with ``burst`` busy ``level`` of the time.

    Between bursts the device idles so that bursts start every ``burst.seconds / level``.
    The clock is read once per burst and once per `SAMPLE_S` of idle.
    """
    clocks: list[float] = []
    bursts = 0
    start_j, start_s = meter.energy_j(), now()
    while now() - start_s < window_s:
        begun = now()
        if level > 0:
            burst.run()
            bursts += 1
            clocks.append(meter.clock_hz())
        deadline = begun + (burst.seconds / level if level > 0 else SAMPLE_S)
        while (left := deadline - now()) > 1e-6:  # a microsecond is below sleep's resolution
            sleep(min(left, SAMPLE_S))
            if level == 0:
                clocks.append(meter.clock_hz())
    elapsed = now() - start_s
    joules = meter.energy_j() - start_j
    return DutyPoint(
        level=level,
        actions_per_s=bursts * burst.actions / elapsed,
        power_w=joules / elapsed,
        clock_min_hz=min(clocks) if clocks else float("nan"),
        clock_max_hz=max(clocks) if clocks else float("nan"),
    )


def measure_action(
    action: str, burst: Burst, meter: Meter, window_s: float, levels: Sequence[float] = DUTY_LEVELS
) -> ActionEnergy:
    """`duty_point` at every level, then `fit_action`."""
    return fit_action(action, [duty_point(burst, level, window_s, meter) for level in levels])


class NvmlMeter:
    """`Meter` over NVML (the ``nvidia-ml-py`` package) for GPU 0."""

    def __init__(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)

    def energy_j(self) -> float:
        return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)) / 1e3

    def clock_hz(self) -> float:
        clock = self._nvml.nvmlDeviceGetClockInfo(self._handle, self._nvml.NVML_CLOCK_SM)
        return float(clock) * 1e6

    def power_limit_w(self) -> float:
        return float(self._nvml.nvmlDeviceGetEnforcedPowerLimit(self._handle)) / 1e3


def nvml_meter() -> Meter | None:
    """NVML's meter, or None where NVML or its energy counter is not available."""
    try:
        meter = NvmlMeter()
        meter.energy_j()
    except Exception:  # no package, no driver, or a board without an energy counter
        return None
    return meter
