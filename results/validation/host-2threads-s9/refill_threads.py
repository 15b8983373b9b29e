"""Does the framework refill depend on the thread count? (issue 13)

    python results/validation/host-2threads-s9/refill_threads.py

``perfsim calibrate``'s refill measurement (`perfsim.calibration.framework_refill`) at 2
threads and at 1, twice each in turn, 6 rounds each; prints the points (MB a layer, extra
us per op). A 1-thread run charges the all-thread figure (`perfsim.hardware.threads`
swaps in only ``op_overhead`` and the rates), which this checks.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from perfsim.calibration.cpu import threaded
from perfsim.calibration.framework_refill import measure_refill
from perfsim.calibration.rounds import interleave
from perfsim.calibration.timing import effort


def main() -> None:
    how = replace(effort(quick=False), rounds=6, max_rounds=6, tolerance=None)
    for threads in (2, 1, 2, 1):
        measurement = threaded(threads, partial(measure_refill, how, quick=False))
        result = measurement.finish(interleave(measurement.probes, how))
        points = ", ".join(
            f"{size / 1e6:.1f} MB {extra * 1e6:.2f} us" for size, extra in result.points
        )
        print(f"{threads} thread(s): {points}", flush=True)


if __name__ == "__main__":
    main()
