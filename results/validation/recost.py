"""Re-cost committed validation measurements with today's cost models (no re-measuring).

The measurements in ``gpu-h100/`` and ``gpu-h200/`` were taken once on lent machines
(``perfsim validate --device cuda``, eager PyTorch, fp32, SDPA attention), those in
``host-2threads/`` on this 2-core host; the predictions beside them go stale whenever a
cost model or a hardware file changes. This script keeps the measured column and predicts
every case again, the way ``perfsim validate`` does (`perfsim.validation.validate`: the
workload at fp32 on the eager runtime through `perfsim.pipeline.simulate`, a CPU file at
the case's threads),
with the datasheet file of the GPU that was measured and the host's calibrated file::

    python results/validation/recost.py     # writes <folder>/recost-*.{csv,md}

Nothing here feeds a hardware file: the measurements are checks, never inputs.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from perfsim.hardware import resolve_hardware
from perfsim.pipeline import simulate
from perfsim.scenario import Scenario
from perfsim.validation.validate import host_hardware, measured_scenario
from perfsim.workload import load_workload

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# measured part -> (folder, the committed measurements, the hardware file to cost with)
PARTS = {
    "H100 80GB HBM3": ("gpu-h100", "summary-h100yaml.csv", "hwconfigs/h100.yaml"),
    "H200 141GB HBM3e": ("gpu-h200", "summary-h100yaml.csv", "hwconfigs/h200.yaml"),
    "this host, 2 threads, run 1": ("host-2threads", "validation-run1.csv", "hwconfigs/host.yaml"),
    "this host, 2 threads, run 2": ("host-2threads", "validation-run2.csv", "hwconfigs/host.yaml"),
    "this host, 2 threads, run 3": ("host-2threads", "validation-run3.csv", "hwconfigs/host.yaml"),
}


def recost(folder: str, measured_csv: str, hw_file: str) -> list[dict[str, object]]:
    """Every committed case of ``folder`` predicted again with ``hw_file``."""
    base = resolve_hardware(ROOT / hw_file)
    rows = []
    with open(HERE / folder / measured_csv, encoding="utf-8") as handle:
        for case in csv.DictReader(handle):
            batch, seq = int(case["batch"]), int(case["seq"])
            workload = load_workload(case["model"], batch=batch, seq=seq, precision="fp32")
            hw = host_hardware(base, int(case["threads"])) if case["device"] == "cpu" else base
            # as validate costs it: eager, attention fused as torch's SDPA ran it
            scenario = measured_scenario(Scenario.from_workload(workload), "auto")
            predicted = simulate(scenario, hw, engine=case["engine"]).latency_s
            measured = float(case["measured_s"])
            rows.append(
                {
                    "model": case["model"],
                    "batch": batch,
                    "seq": seq,
                    "hw": hw_file,
                    "engine": case["engine"],
                    "predicted_before_s": float(case["predicted_s"]),
                    "predicted_s": predicted,
                    "measured_s": measured,
                    "error": predicted / measured - 1,
                }
            )
    return rows


def markdown(part: str, rows: list[dict[str, object]]) -> str:
    lines = [
        f"# {part}: measured (eager PyTorch, fp32) vs re-costed",
        "",
        "    python results/validation/recost.py",
        "",
        "`before`: the prediction committed beside the measurement (for the GPUs made with"
        " `hwconfigs/h100.yaml` at the time); `now`: this tree, with the part's own file.",
        "",
        "| case | measured | before | error | now | error |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        measured = float(row["measured_s"])  # type: ignore[arg-type]
        before = float(row["predicted_before_s"])  # type: ignore[arg-type]
        now = float(row["predicted_s"])  # type: ignore[arg-type]
        lines.append(
            f"| {row['model']} b{row['batch']} s{row['seq']} | {measured * 1e3:.2f} ms "
            f"| {before * 1e3:.2f} ms | {before / measured - 1:+.0%} "
            f"| {now * 1e3:.2f} ms | {now / measured - 1:+.0%} |"
        )
    errors = [abs(float(r["error"])) for r in rows]  # type: ignore[arg-type]
    batched = [abs(float(r["error"])) for r in rows if int(r["batch"]) > 1]  # type: ignore[arg-type]
    single = [abs(float(r["error"])) for r in rows if int(r["batch"]) == 1]  # type: ignore[arg-type]
    lines += [
        "",
        f"All: median |error| {statistics.median(errors):.0%}, worst {max(errors):.0%}. "
        f"Batched: median {statistics.median(batched):.0%}, worst {max(batched):.0%}. "
        f"Batch 1: median {statistics.median(single):.0%}, worst {max(single):.0%}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    for part, (folder, measured_csv, hw_file) in PARTS.items():
        if not (ROOT / hw_file).exists():
            print(f"{part}: {hw_file} missing, skipped")
            continue
        rows = recost(folder, measured_csv, hw_file)
        stem = f"recost-{Path(measured_csv).stem}"
        with open(HERE / folder / f"{stem}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        text = markdown(part, rows)
        (HERE / folder / f"{stem}.md").write_text(text, encoding="utf-8")
        print(text)


if __name__ == "__main__":
    main()
