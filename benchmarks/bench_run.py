"""Wall time of perfsim itself: `perfsim run` cold and cached, and tracing bert-large.

    python benchmarks/bench_run.py [--repeats 5]

Each figure is the median of fresh processes (what a user waits for), printed as a table
and written to results/benchmarks/run.json. Targets on a 2-core machine (issue #2): a
cached `perfsim run --model bert-base` under 1 s, a cold one under 5 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = [sys.executable, "-m", "perfsim", "run", "--model", "bert-base", "--hw", "npu"]
TRACE_LARGE = (
    "from perfsim.workload import load_workload; from perfsim.trace import trace_workload; "
    "import time; w = load_workload('bert-large', batch=8, seq=512); t = time.perf_counter(); "
    "g = trace_workload(w); print(time.perf_counter() - t, len(g))"
)


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cold, cached, trace_in_process, trace_process = [], [], [], []
    for index in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            command = [*RUN, "--cache-dir", cache]
            cold.append(wall(command))
            cached.append(wall(command))
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", TRACE_LARGE],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        trace_process.append(time.perf_counter() - started)
        trace_in_process.append(float(out.stdout.split()[0]))
        print(
            f"repeat {index + 1}/{args.repeats}: cold {cold[-1]:.2f} s, cached {cached[-1]:.2f} s, "
            f"trace bert-large b8 s512 {trace_in_process[-1]:.2f} s",
            file=sys.stderr,
        )
    figures = {
        "run_bert_base_cold_s": statistics.median(cold),
        "run_bert_base_cached_s": statistics.median(cached),
        "trace_bert_large_b8_s512_s": statistics.median(trace_in_process),
        "trace_bert_large_b8_s512_process_s": statistics.median(trace_process),
        "repeats": args.repeats,
    }
    for key, value in figures.items():
        print(f"{key:40s} {value:.3f}" if isinstance(value, float) else f"{key:40s} {value}")
    out_dir = ROOT / "results" / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "run.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
