"""How many design points per second a sweep costs: bert-base inference on the NPU.

    python benchmarks/bench_sweep.py [--model bert-base] [--hw npu] [--repeats 20]
                                     [--points 4000] [--cycle-points 1000]
                                     [--whatif-points 1000] [--jobs 2]

Figures per engine, each a median over repeats:

1. ``estimate_graph`` per point (the full per-op `Result`);
2. the scalar fast path per point (`perfsim.sweep.point_metrics` on a grouped graph: what
   a sweep ran per point before the batched path, the "old path"), on the shipped device
   and over the sweep's first devices;
3. the batched path per point (`perfsim.sweep.batch.batch_metrics` over those devices:
   the roofline vectorized over devices);
4. a whole ``run_sweep`` (Latin hypercube over array size, SRAM and DRAM bandwidth):
   planning and validating every overridden hardware spec, costing, journaling and
   writing the table, with ``jobs=1`` and ``jobs=N`` worker processes (their start-up
   included). Points per second = points / wall-clock seconds.

With ``--before COMMIT``, the same ``run_sweep`` (jobs=1) with perfsim as of COMMIT, in a
child process, for the ratio against the previous code on the same machine and specs.

And for what-if points (``whatif.fusion`` x ``whatif.prune_ffn`` x SRAM x DRAM bandwidth,
random points, roofline): the full pipeline per point (`cost_scenario_graph` then
`result_metrics`, what every what-if point ran before) and a whole ``run_sweep``.

The machine is shared: every figure is a median, CPU seconds of this process are
recorded next to wall-clock ones, and so are the load averages before and after. Writes
results/benchmarks/sweep.json. The graph is traced once (cached) before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perfsim.cache import GraphStore
from perfsim.estimate import estimate_graph
from perfsim.hardware import HardwareSpec, resolve_hardware
from perfsim.pipeline import cost_scenario_graph, scenario_graph
from perfsim.precision import apply_precision
from perfsim.scenario import Scenario
from perfsim.sweep import Workers, group_graph, load_sweep_spec, plan, point_metrics, run_sweep
from perfsim.sweep.batch import batch_metrics
from perfsim.sweep.fast import result_metrics
from perfsim.whatif import parse_whatifs
from perfsim.workload import load_workload, resolve_model

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

WHATIF_SPEC = """\
version: 1
name: bench-whatif
base: {{model: {model}, hw: {hw}, engine: roofline}}
axes:
  whatif.fusion: [none, all]
  whatif.prune_ffn: [0.0, 0.25, 0.5]
  memory.sram.capacity: {{min: "1 MiB", max: "64 MiB", log: true}}
  memory.dram.bandwidth: {{min: "100 GB/s", max: "4 TB/s", log: true}}
sampling: {{method: random, samples: {samples}, seed: 0}}
"""


def _median_time(function: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _sweep_seconds(spec_path: Path, jobs: int, repeats: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds (this process) of a whole ``run_sweep``."""
    times, cpu = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            started, started_cpu = time.perf_counter(), time.process_time()
            run_sweep(spec_path, workers=Workers(jobs=jobs), out_dir=Path(out))
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    return statistics.median(times), statistics.median(cpu)


_BEFORE = """\
import statistics, sys, tempfile, time
from pathlib import Path
from perfsim.sweep import Workers, run_sweep
spec, repeats = sys.argv[1], int(sys.argv[2])
run_sweep(spec, workers=Workers(jobs=1), out_dir=Path(tempfile.mkdtemp()))  # warm-up
times = []
for _ in range(repeats):
    started = time.perf_counter()
    run_sweep(spec, workers=Workers(jobs=1), out_dir=Path(tempfile.mkdtemp()))
    times.append(time.perf_counter() - started)
print(statistics.median(times))
"""


def _before_seconds(checkout: Path, spec_path: Path, repeats: int) -> float:
    """Median wall-clock seconds of ``run_sweep`` (jobs=1) with an earlier perfsim: a
    child process importing the ``checkout`` (a `git archive` of that commit)."""
    found = subprocess.run(
        [sys.executable, "-c", _BEFORE, str(spec_path), str(repeats)],
        env={**os.environ, "PYTHONPATH": str(checkout)},
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(found.stdout.split()[-1])


def _checkout(commit: str, folder: Path) -> Path:
    """``perfsim`` (and the shipped files it reads) as of ``commit``, under ``folder``."""
    archive = subprocess.run(
        ["git", "archive", commit, "perfsim", "hwconfigs", "workloads"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def _devices(spec_path: Path) -> list[HardwareSpec]:
    return [point.hw for point in plan(load_sweep_spec(spec_path))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="bert-base")
    parser.add_argument("--hw", default="npu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--points", type=int, default=4000, help="roofline sweep size")
    parser.add_argument("--cycle-points", type=int, default=1000, help="cycle sweep size")
    parser.add_argument("--whatif-points", type=int, default=1000, help="what-if sweep size")
    parser.add_argument("--sweep-repeats", type=int, default=3)
    parser.add_argument(
        "--before",
        metavar="COMMIT",
        help="also time run_sweep (jobs=1) with perfsim as of COMMIT, on the same specs",
    )
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
        # the machine may be shared: 1, 5 and 15-minute load averages before and after
        "load_average_start": os.getloadavg(),
    }
    checkout = None
    if args.before:
        checkout = _checkout(args.before, Path(tempfile.mkdtemp(prefix="perfsim-before-")))
        figures["before_commit"] = args.before
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
            devices = _devices(spec_path)[: 512 if engine == "roofline" else 64]
            batch_metrics(grouped, devices, engine)  # warm-up: residency groupings
            repeats = max(3, args.repeats // 4)
            batched = _median_time(
                lambda e=engine, d=devices: batch_metrics(grouped, d, e), repeats
            ) / len(devices)
            scalar = _median_time(
                lambda e=engine, d=devices: [point_metrics(grouped, hw, e) for hw in d], repeats
            ) / len(devices)
            serial, serial_cpu = _sweep_seconds(spec_path, 1, args.sweep_repeats)
            parallel, _ = _sweep_seconds(spec_path, args.jobs, args.sweep_repeats)
            before = _before_seconds(checkout, spec_path, args.sweep_repeats) if checkout else None
        row = {
            "estimate_graph_s_per_point": baseline,
            "fast_path_s_per_point": fast,
            "fast_path_speedup": baseline / fast,
            "fast_path_sweep_devices_s_per_point": scalar,
            "batch_s_per_point": batched,
            "batch_speedup_over_fast_path": scalar / batched,
            "sweep_points": samples,
            "sweep_jobs1_s": serial,
            "sweep_jobs1_points_per_s": samples / serial,
            "sweep_jobs1_cpu_points_per_s": samples / serial_cpu,
            f"sweep_jobs{args.jobs}_s": parallel,
            f"sweep_jobs{args.jobs}_points_per_s": samples / parallel,
        }
        if before is not None:
            row["before_commit"] = args.before
            row["before_sweep_jobs1_points_per_s"] = samples / before
            row["speedup_over_before"] = before / serial
            print(f"{engine:9s} before: {samples / before:7.0f}/s, x{before / serial:.1f}")
        figures[engine] = row
        print(
            f"{engine:9s} estimate_graph {baseline * 1e3:7.3f} ms/point ({1 / baseline:7.0f}/s)  "
            f"fast path {scalar * 1e3:7.3f} ms/point  batch {batched * 1e3:7.3f} ms/point "
            f"(x{scalar / batched:.1f})  run_sweep {samples} points: jobs=1 "
            f"{samples / serial:7.0f}/s (cpu {samples / serial_cpu:7.0f}/s), "
            f"jobs={args.jobs} {samples / parallel:7.0f}/s"
        )
    figures["whatif"] = _whatif_figures(args, hw)
    figures["load_average_end"] = os.getloadavg()
    out = ROOT / "results" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


def _whatif_figures(args: argparse.Namespace, hw: HardwareSpec) -> dict[str, object]:
    """What-if points: the full pipeline per point, and whole sweeps."""
    store = GraphStore()
    scenario = Scenario(
        resolve_model(args.model), whatifs=parse_whatifs({"fusion": "all", "prune_ffn": 0.25})
    )
    scenario = scenario.but(precision=scenario.precision_on(hw))
    untyped = scenario_graph(scenario, hw, store)
    full = _median_time(
        lambda: result_metrics(cost_scenario_graph(untyped, scenario, hw, "roofline")),
        max(3, args.repeats // 4),
    )
    samples = args.whatif_points
    with tempfile.TemporaryDirectory() as folder:
        spec_path = Path(folder) / "whatif.yaml"
        spec_path.write_text(WHATIF_SPEC.format(model=args.model, hw=args.hw, samples=samples))
        serial, serial_cpu = _sweep_seconds(spec_path, 1, args.sweep_repeats)
        parallel, _ = _sweep_seconds(spec_path, args.jobs, args.sweep_repeats)
    print(
        f"what-ifs  full pipeline {full * 1e3:7.3f} ms/point ({1 / full:5.0f}/s)  run_sweep "
        f"{samples} points: jobs=1 {samples / serial:7.0f}/s (cpu {samples / serial_cpu:7.0f}/s, "
        f"x{full * samples / serial:.0f}), jobs={args.jobs} {samples / parallel:7.0f}/s"
    )
    return {
        "knobs": "whatif.fusion [none, all] x whatif.prune_ffn [0, 0.25, 0.5] x SRAM x DRAM bw",
        "full_pipeline_s_per_point": full,
        "sweep_points": samples,
        "sweep_jobs1_s": serial,
        "sweep_jobs1_points_per_s": samples / serial,
        "sweep_jobs1_cpu_points_per_s": samples / serial_cpu,
        "speedup_over_full_pipeline": full * samples / serial,
        f"sweep_jobs{args.jobs}_s": parallel,
        f"sweep_jobs{args.jobs}_points_per_s": samples / parallel,
    }


if __name__ == "__main__":
    main()
