"""Has this machine moved since its file was calibrated? One calibration figure, timed again.

A validation compares a file measured once with runs measured now. On a virtual machine
the two can disagree for a reason no model holds: the host's own state. In issue 13's
session 9 one batch of validations ran a DRAM-bound case (bert-small, batch 1, 32 tokens:
its GEMMs stream 50 MB of weights a forward) 30% slower than the batch before, with the
same predictions, while every calibration still found the fast state. So ``perfsim
validate`` times the figure such cases hang on, the rate at which a GEMM brings its weight
in from DRAM (``compute.matrix.weight_packing_bandwidth``, the calibration's own probe:
`perfsim.calibration.eager.packing_ladder`), before and after the cases, and says how far
it is from the file's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Final

from perfsim.hardware.spec import HardwareSpec

ROUNDS: Final = 5  # best of 5, as calibrate plans: the machine's state now, not one unlucky loop
# a busy host can hide the DRAM cost in every rung of one ladder (timing noise above the
# weight stream's microseconds); the probe runs again rather than report nothing
ATTEMPTS: Final = 3
# a move worth a warning: five quiet calibrations of session 9 held this figure within
# 23.5-24.6 GB/s, and this probe read 24.5-25.3 GB/s four times in a row against a file
# of 23.5 (+4% to +8%); batch B's DRAM-bound GEMMs ran 32% slower. 15% is the machine.
NOTICE: Final = 0.15


@dataclass(frozen=True, slots=True)
class Drift:
    """A calibrated figure and the same figure now, bytes/s."""

    label: str
    calibrated: float
    now: float

    @property
    def change(self) -> float:
        """``now / calibrated - 1``: -0.24 is 24% slower than when calibrated."""
        return self.now / self.calibrated - 1.0


def pool_bytes(hw: HardwareSpec) -> int:
    """Twice the largest on-chip level (all instances): each weight comes from DRAM, as
    in `perfsim.calibration.cpu.weight_pool_bytes`."""
    caches = [hw.level_capacity(level) for level in hw.memory[:-1]] or [2**20]
    return int(2 * max(caches))


def weight_stream_drift(hw: HardwareSpec) -> Drift | None:
    """The file's weight packing bandwidth against the same probe now, at the threads it
    was calibrated at (``compute.units``; about two seconds an attempt); None for files
    without that figure (GPU and datasheet files), or where `ATTEMPTS` ladders in a row
    showed no cost above the timing noise."""
    matrix = hw.compute.matrix
    if hw.kind != "cpu" or matrix is None or matrix.weight_packing_bandwidth is None:
        return None
    from perfsim.calibration.cpu import threaded
    from perfsim.calibration.eager import packing_bandwidth, packing_ladder
    from perfsim.calibration.rounds import interleave
    from perfsim.calibration.timing import effort

    how = replace(effort(quick=False), rounds=ROUNDS, max_rounds=ROUNDS, tolerance=None)
    pool = pool_bytes(hw)
    for _ in range(ATTEMPTS):
        measurement = threaded(hw.compute.units, partial(packing_ladder, how, pool, quick=False))
        ladder = measurement.finish(interleave(measurement.probes, how))
        rate, _ = packing_bandwidth(ladder, pool)
        if rate is not None:
            return Drift("GEMM weights from DRAM", matrix.weight_packing_bandwidth, rate)
    return None


def drift_line(before: Drift, after: Drift) -> str:
    """One line for the console: the figure before and after the cases against the file,
    and what a move means for the comparison."""
    changes = (before.change, after.change)
    if min(changes) < -NOTICE:
        meaning = (
            "this machine is slower than when it was calibrated: cases that stream weights "
            "from DRAM (few tokens) will measure slower than predicted; recalibrate to "
            "compare like with like"
        )
    elif max(changes) > NOTICE:
        meaning = "this machine is faster than when it was calibrated; recalibrate"
    else:
        meaning = "within the calibration's own repeatability"
    return (
        f"machine against the file, {before.label}: {before.now / 1e9:.3g} GB/s before the "
        f"cases, {after.now / 1e9:.3g} after, {before.calibrated / 1e9:.3g} in the file "
        f"({before.change:+.0%}, {after.change:+.0%}): {meaning}"
    )
