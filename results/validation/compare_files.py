"""Predictions of two hardware files for the 17 validation cases, against each other.

    python results/validation/compare_files.py A.yaml B.yaml

Each case of ``workloads/validation-cases.yaml`` at fp32 (roofline, eager with torch's
fused attention, as `perfsim validate` costs it: `measured_scenario`) with both files;
prints the median and the worst relative difference (B / A - 1). Issue 13's "two
calibrations in a row" check.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from perfsim.hardware import resolve_hardware
from perfsim.pipeline import simulate
from perfsim.scenario import Scenario
from perfsim.validation.cases import load_cases
from perfsim.validation.validate import measured_scenario
from perfsim.workload import load_workload

ROOT = Path(__file__).resolve().parents[2]


def differences(first: str, second: str) -> list[tuple[float, str]]:
    """(B / A - 1, case label) for every validation case."""
    a, b = resolve_hardware(first), resolve_hardware(second)
    rows = []
    for case in load_cases(ROOT / "workloads" / "validation-cases.yaml"):
        model, batch, seq = case["model"], case["batch"], case["seq"]
        workload = load_workload(model, batch=batch, seq=seq, precision="fp32")
        scenario = measured_scenario(Scenario.from_workload(workload), "auto")
        ratio = simulate(scenario, b).latency_s / simulate(scenario, a).latency_s
        rows.append((ratio - 1, f"{model} b{batch} s{seq}"))
    return rows


def main() -> None:
    rows = differences(sys.argv[1], sys.argv[2])
    worst = max(rows, key=lambda row: abs(row[0]))
    median = statistics.median(abs(diff) for diff, _ in rows)
    print(
        f"{len(rows)} cases: median |difference| {median:.1%}, worst {worst[0]:+.1%} ({worst[1]})"
    )


if __name__ == "__main__":
    main()
