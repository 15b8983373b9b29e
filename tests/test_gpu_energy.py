"""GPU energy calibration (`perfsim.calibration.gpu_energy`) on a simulated device.

The simulated board spends ``BASE_W`` with clocks up, ``TOP_J`` per action at its top
clock and ``TOP_J (f / f_top)^BETA`` at a lower one; at full duty its power limit lowers
the clock to where ``BASE_W + TOP_J r^BETA x rate_top x r`` equals the limit (r = f / f_top).
The fit must give back exactly those figures.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.calibration.gpu_energy import (
    DUTY_LEVELS,
    Burst,
    duty_point,
    dvfs_exponent,
    fit_action,
    fit_line,
)

TOP_HZ = 1.98e9
BURST_S = 0.004
ACTIONS = 1e12  # per burst at the top clock: 2.5e14 actions/s


class SimulatedGpu:
    """A virtual-time board: `now`, `sleep`, one burst, and the `Meter` readings."""

    def __init__(self, top_j: float, base_w: float, beta: float, limit_w: float) -> None:
        self.top_j, self.base_w, self.beta, self.limit_w = top_j, base_w, beta, limit_w
        self.t = 0.0
        self.joules = 0.0
        self.ratio = 1.0

    def set_level(self, level: float) -> None:
        """The clock ratio the limit allows for back-to-back bursts at ``level``."""
        rate = ACTIONS / BURST_S
        self.ratio = 1.0
        if self.base_w + self.top_j * rate * level > self.limit_w:
            assert level == 1.0, "the simulation throttles only back-to-back bursts"
            budget = (self.limit_w - self.base_w) / (self.top_j * rate)
            self.ratio = budget ** (1.0 / (1.0 + self.beta))

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.joules += self.base_w * seconds

    def burst(self) -> None:
        seconds = BURST_S / self.ratio
        self.t += seconds
        self.joules += self.base_w * seconds + self.top_j * self.ratio**self.beta * ACTIONS

    def energy_j(self) -> float:
        return self.joules

    def clock_hz(self) -> float:
        return TOP_HZ * self.ratio

    def power_limit_w(self) -> float:
        return self.limit_w


def measure(gpu: SimulatedGpu) -> list:
    points = []
    for level in DUTY_LEVELS:
        gpu.set_level(level)
        points.append(
            duty_point(Burst(gpu.burst, BURST_S, ACTIONS), level, 0.2, gpu, gpu.now, gpu.sleep)
        )
    return points


def test_fit_gives_back_the_simulated_energy_baseline_and_exponent() -> None:
    # 3 pJ per MAC at the top clock, 125 W baseline: 875 W at full duty, over the limit
    gpu = SimulatedGpu(top_j=3e-12, base_w=125.0, beta=0.6, limit_w=700.0)
    fitted = fit_action("mac.fp16", measure(gpu))
    assert fitted.joules == pytest.approx(3e-12, rel=1e-6)
    assert fitted.baseline_w == pytest.approx(125.0, rel=1e-6)
    assert fitted.held_clock_hz == TOP_HZ
    assert fitted.dvfs_exponent == pytest.approx(0.6, rel=1e-6)
    # the full-duty point sits at the limit, below the top clock
    busiest = fitted.points[-1]
    assert busiest.power_w == pytest.approx(700.0, rel=1e-3)
    assert busiest.clock_max_hz < TOP_HZ


def test_no_exponent_where_the_clock_held_at_full_duty() -> None:
    gpu = SimulatedGpu(top_j=0.5e-12, base_w=100.0, beta=2.0, limit_w=700.0)  # 225 W of work
    fitted = fit_action("mac.int8", measure(gpu))
    assert fitted.dvfs_exponent is None
    assert fitted.joules == pytest.approx(0.5e-12, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5e-12, 3e-12), st.floats(50.0, 200.0), st.floats(0.3, 2.5), st.floats(0.1, 0.6))
def test_fit_recovers_any_simulated_board(
    top_j: float, base_w: float, beta: float, headroom: float
) -> None:
    # the limit between half duty's power and 80% of full duty's at the top clock, so
    # that the clock falls more than the 5% `dvfs_exponent` asks for
    rate = ACTIONS / BURST_S
    limit = base_w + top_j * rate * (0.5 + 0.5 * headroom)
    fitted = fit_action("mac.fp16", measure(SimulatedGpu(top_j, base_w, beta, limit)))
    assert fitted.joules == pytest.approx(top_j, rel=1e-6)
    assert fitted.baseline_w == pytest.approx(base_w, rel=1e-6)
    assert fitted.dvfs_exponent == pytest.approx(beta, rel=1e-4)


def test_fit_line_and_exponent_by_hand() -> None:
    assert fit_line([(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]) == pytest.approx((2.0, 1.0))
    # energy 0.83x at a 0.727x clock: beta = ln 0.83 / ln 0.727
    assert dvfs_exponent(1.0, 1980e6, 0.83, 1440e6) == pytest.approx(
        math.log(0.83) / math.log(1440 / 1980)
    )
    assert dvfs_exponent(1.0, 1980e6, 0.99, 1970e6) is None  # the clock barely moved
    with pytest.raises(ValueError):
        fit_line([(1.0, 1.0)])
