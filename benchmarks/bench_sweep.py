"""How many design points per second a sweep costs: bert-base inference on the NPU.

    python benchmarks/bench_sweep.py [--model bert-base] [--hw npu] [--repeats 20]
                                     [--points 4000] [--cycle-points 1000] [--jobs 2]

Three figures per engine, each a median over repeats:

1. ``estimate_graph`` per point (the baseline: the full per-op `Result`);
2. the sweep's fast path per point (`perfsim.sweep.point_metrics` on a grouped graph);
3. a whole ``run_sweep`` (Latin hypercube over array size, SRAM and DRAM bandwidth):
   planning and validating every overridden hardware spec, costing, journaling and
   writing the table, with ``jobs=1`` and ``jobs=N`` worker processes (their start-up
   included). Points per second = points / wall-clock seconds.

Writes results/benchmarks/sweep.json. The graph is traced once (cached) before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from perfsim.cache import GraphStore
from perfsim.estimate import estimate_graph
from perfsim.hardware import resolve_hardware
from perfsim.precision import apply_precision
from perfsim.sweep import Workers, group_graph, load_sweep_spec, point_metrics, run_sweep
from perfsim.workload import load_workload

ROOT = Path(__file__).resolve().parent.parent

SPEC = """\
version: 1
name: bench
base: {{model: {model}, hw: {hw}, engine: {engine}}}
axes:
  matrix.rows: {{min: 16, max: 512, integer: true, log: true}}
  memory.sram.capacity: {{min: "1 MiB", max: "64 MiB", log: true}}
  memory.dram.bandwidth: {{min: "100 GB/s", max: "4 TB/s", log: true}}
sampling: {{method: lhs, samples: {samples}, seed: 0}}
"""


def _median_time(function: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _sweep_seconds(spec_path: Path, jobs: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            run_sweep(spec_path, workers=Workers(jobs=jobs), out_dir=Path(out))
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="bert-base")
    parser.add_argument("--hw", default="npu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--points", type=int, default=4000, help="roofline sweep size")
    parser.add_argument("--cycle-points", type=int, default=1000, help="cycle sweep size")
    parser.add_argument("--sweep-repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    hw = resolve_hardware(args.hw)
    graph = apply_precision(GraphStore().graph(load_workload(args.model)), hw.native_precision)
    grouped = group_graph(graph)
    figures: dict[str, object] = {
        "model": args.model,
        "hw": args.hw,
        "ops": len(graph),
        "distinct_op_shapes": len(grouped.ops),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "jobs": args.jobs,
    }
    for engine, samples in (("roofline", args.points), ("cycle", args.cycle_points)):
        estimate_graph(graph, hw, engine)  # warm-up
        baseline = _median_time(
            lambda e=engine: estimate_graph(graph, hw, e).summary(), args.repeats
        )
        fast = _median_time(lambda e=engine: point_metrics(grouped, hw, e), args.repeats)
        with tempfile.TemporaryDirectory() as folder:
            spec_path = Path(folder) / "bench.yaml"
            spec_path.write_text(
                SPEC.format(model=args.model, hw=args.hw, engine=engine, samples=samples),
                encoding="utf-8",
            )
            load_sweep_spec(spec_path)
            serial = _sweep_seconds(spec_path, 1, args.sweep_repeats)
            parallel = _sweep_seconds(spec_path, args.jobs, args.sweep_repeats)
        row = {
            "estimate_graph_s_per_point": baseline,
            "fast_path_s_per_point": fast,
            "fast_path_speedup": baseline / fast,
            "sweep_points": samples,
            "sweep_jobs1_s": serial,
            "sweep_jobs1_points_per_s": samples / serial,
            f"sweep_jobs{args.jobs}_s": parallel,
            f"sweep_jobs{args.jobs}_points_per_s": samples / parallel,
        }
        figures[engine] = row
        print(
            f"{engine:9s} estimate_graph {baseline * 1e3:7.3f} ms/point ({1 / baseline:7.0f}/s)  "
            f"fast path {fast * 1e3:7.3f} ms/point ({1 / fast:7.0f}/s, x{baseline / fast:.1f})  "
            f"run_sweep {samples} points: jobs=1 {samples / serial:7.0f}/s, "
            f"jobs={args.jobs} {samples / parallel:7.0f}/s"
        )
    out = ROOT / "results" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
