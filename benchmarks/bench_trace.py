"""Wall time of tracing a training step: the fast trace against the full one.

    python benchmarks/bench_trace.py [--repeats 1]

The fast trace (`perfsim.trace.metacache`, the default) replays meta kernels per op
signature; the full trace (``trace_workload(..., fast=False)``) runs every kernel and
records the same graph (``tests/test_trace_fast.py``). Each scenario runs in a fresh
process and is traced twice there: *cold* is the first trace (it includes importing
``transformers``' model code, as a user's first ``perfsim run`` does), *warm* the second.
Wall seconds (``*_s``) and the process's own CPU seconds (``*_cpu_s``: on a machine shared
with other jobs the CPU time is the steadier figure; the trace is single-threaded) are
medians over repeats, printed and written to results/benchmarks/trace.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = [
    ("bert-base", 8, 128, "lamb", "fp32"),
    ("bert-base", 8, 128, "lamb", "fp16"),
    ("bert-large", 32, 128, "lamb", "fp32"),
    ("bert-large", 32, 128, "lamb", "fp16"),
]
CHILD = """
import json, sys, time
from perfsim.workload import load_workload
from perfsim.trace import trace_workload
model, batch, seq, optimizer, precision, fast = sys.argv[1:7]
workload = load_workload(model, batch=int(batch), seq=int(seq), mode="training",
                         optimizer=optimizer, precision=precision)
times, cpu = [], []
for _ in range(2):
    started, started_cpu = time.perf_counter(), time.process_time()
    graph = trace_workload(workload, fast=fast == "fast")
    times.append(time.perf_counter() - started)
    cpu.append(time.process_time() - started_cpu)
print(json.dumps({"cold_s": times[0], "warm_s": times[1], "cold_cpu_s": cpu[0],
                  "warm_cpu_s": cpu[1], "ops": len(graph)}))
"""


def trace_once(scenario: tuple[str, int, int, str, str], how: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, scenario), how],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for scenario in SCENARIOS:
        row: dict[str, object] = dict(
            zip(("model", "batch", "seq", "optimizer", "precision"), scenario, strict=True)
        )
        for how in ("full", "fast"):
            runs = [trace_once(scenario, how) for _ in range(args.repeats)]
            row["ops"] = runs[0]["ops"]
            for key in ("cold_s", "warm_s", "cold_cpu_s", "warm_cpu_s"):
                row[f"{how}_{key}"] = round(statistics.median(r[key] for r in runs), 2)
        for key in ("cold_cpu_s", "warm_cpu_s"):
            full, fast = float(row[f"full_{key}"]), float(row[f"fast_{key}"])  # type: ignore[arg-type]
            row[f"speedup_{key.removesuffix('_s')}"] = round(full / fast, 2)
        print(json.dumps(row), flush=True)
        rows.append(row)
    result = {
        "what": "seconds to trace one training step (fresh process: cold = first trace, "
        "including transformers imports; warm = second trace in that process); "
        "*_cpu_s: CPU seconds of the tracing process",
        "command": "python benchmarks/bench_trace.py --repeats " + str(args.repeats),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        "shared with other jobs while measured",
        "rows": rows,
    }
    path = ROOT / "results" / "benchmarks" / "trace.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
