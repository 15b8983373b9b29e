"""How fast each engine re-costs a cached graph: design points per second.

    python benchmarks/bench_engines.py [--model bert-base] [--hw npu] [--repeats 20]

Traces once (cached), then times `estimate_graph` for every registered engine; prints the
median seconds per design point and points per second, and writes
results/benchmarks/engines.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from perfsim.cache import GraphStore
from perfsim.engines import available
from perfsim.estimate import estimate_graph
from perfsim.hardware import resolve_hardware
from perfsim.precision import apply_precision
from perfsim.workload import load_workload

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="bert-base")
    parser.add_argument("--hw", default="npu")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    hw = resolve_hardware(args.hw)
    workload = load_workload(args.model)
    graph = apply_precision(GraphStore().graph(workload), hw.native_precision)
    figures: dict[str, float | int | str] = {"model": args.model, "hw": args.hw, "ops": len(graph)}
    for engine in available():
        estimate_graph(graph, hw, engine)  # warm-up
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            estimate_graph(graph, hw, engine)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        figures[f"{engine}_s_per_point"] = median
        figures[f"{engine}_points_per_s"] = 1.0 / median
        print(f"{engine:10s} {median * 1e3:8.2f} ms per point  {1 / median:8.1f} points/s")
    out = ROOT / "results" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "engines.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
