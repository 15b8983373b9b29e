"""What the framework refill moved: committed host measurements re-costed with and without it.

    python results/validation/host-2threads-s9/refill_effect.py

This session's three roofline runs (and the three of its first batch, ``batch-a/``, taken
with a first calibration before the refill's estimator became the median of same-round
differences) and session 8's five, each costed with this session's
``cal-1.yaml`` and with session 8's (which had no refill), each file without a
``framework_refill`` block and with this session's; against each case's median run (the
measurements are not re-taken).
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from perfsim.hardware import HardwareSpec, resolve_hardware
from perfsim.pipeline import simulate
from perfsim.scenario import Scenario
from perfsim.validation.validate import host_hardware, measured_scenario
from perfsim.workload import load_workload

HERE = Path(__file__).resolve().parent
S8 = HERE.parent / "host-2threads-s8"
THREE = ("roofline", "roofline-run2", "roofline-run3")
RUNS = {
    HERE: THREE,
    HERE / "batch-a": THREE,
    S8: (*THREE, "roofline-flash-run1", "roofline-flash-run2"),
}


def median_runs(folder: Path) -> dict[tuple[str, int, int, int], float]:
    """Each case's median measured seconds over the folder's runs."""
    seconds: dict[tuple[str, int, int, int], list[float]] = {}
    for run in RUNS[folder]:
        with open(folder / run / "validation.csv", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                key = (row["model"], int(row["batch"]), int(row["seq"]), int(row["threads"]))
                seconds.setdefault(key, []).append(float(row["measured_s"]))
    return {key: statistics.median(values) for key, values in seconds.items()}


def summary(hw: HardwareSpec, measured: dict[tuple[str, int, int, int], float]) -> str:
    """Median and worst error of ``hw``'s predictions (roofline, as validate costs them)."""
    errors = []
    for (model, batch, seq, threads), seconds in measured.items():
        workload = load_workload(model, batch=batch, seq=seq, precision="fp32")
        scenario = measured_scenario(Scenario.from_workload(workload), "auto")
        predicted = simulate(scenario, host_hardware(hw, threads)).latency_s
        errors.append((predicted / seconds - 1, f"{model} b{batch} s{seq}"))
    worst = max(errors, key=lambda error: abs(error[0]))
    middle = statistics.median(abs(error) for error, _ in errors)
    return f"median |error| {middle:.1%}, worst {worst[0]:+.1%} ({worst[1]})"


def main() -> None:
    ours = resolve_hardware(HERE / "cal-1.yaml")
    theirs = resolve_hardware(S8 / "cal-1.yaml")
    refill = ours.framework_refill
    files = {"session 9 cal-1": ours, "session 8 cal-1": theirs}
    labels = ("session 9's 3 runs", "session 9's first 3 runs (batch-a)", "session 8's 5 runs")
    for runs, label in zip(RUNS, labels, strict=True):
        measured = median_runs(runs)
        for name, hw in files.items():
            for state, update in (("without", None), ("with", refill)):
                costed = hw.model_copy(update={"framework_refill": update})
                print(f"{label}, {name} {state} the refill: {summary(costed, measured)}")


if __name__ == "__main__":
    main()
