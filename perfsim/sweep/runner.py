"""Run a sweep: plan → trace once per workload → cost batches of points → journal → table.

Batches of points run in this process (``Workers(jobs=1)``), in local worker processes
(``Workers(jobs=N)``; by default one per core once the costing is long enough to repay
starting them, `AUTO_PARALLEL_SECONDS`), or on a Dask cluster
(``Workers(dask_address=...)``). Workers get the sweep's grouped graphs (and prepared
what-if graphs) once, when they start (a Dask cluster: scattered once), so they never
trace, never touch the graph cache and never import torch, and a batch carries only its
points; the three ways run the same function on the same inputs and give the same table.
Each finished batch is appended to the journal before the next is awaited.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfsim.cache import GraphStore
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpGraph
from perfsim.pipeline import cost_scenario_graph, scenario_graph
from perfsim.precision import apply_precision
from perfsim.scenario import Scenario
from perfsim.sweep.batch import batch_tables
from perfsim.sweep.block import Block, blocks_of, by_id
from perfsim.sweep.fast import GroupedGraph, group_graph, result_metrics
from perfsim.sweep.placed import WhatIfGraph, placed_batch, prepare
from perfsim.sweep.plan import Point, plan
from perfsim.sweep.spec import SweepSpec, load_sweep_spec
from perfsim.sweep.store import Journal, append_journal, read_journal, trim_journal, write_table
from perfsim.sweep.table import assemble, check_expressions, derive

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
# jobs=None starts worker processes only when the costing alone would take this long in
# this process: a spawned worker costs about 0.5-1 s to start (a fresh interpreter importing
# numpy, pydantic and perfsim's costing modules), and planning, journaling and writing the
# table stay in this process whatever the workers do
AUTO_PARALLEL_SECONDS = 4.0
# seconds of costing per point in this process, roughly (bert-base on one core; see
# results/benchmarks/sweep.json): batched roofline, cycle engine, what-if points
BATCH_SECONDS = 0.5
_POINT_SECONDS = {"roofline": 5e-5, "cycle": 4e-4, "whatif": 1e-3}
Item = tuple[str, HardwareSpec, str, Scenario]  # point id, device, engine, scenario
Cost = Callable[[Any, Sequence[Item]], list[Block]]  # a batch of points -> their blocks
Task = tuple[Cost, Any, list[Item]]


@dataclass(frozen=True, slots=True)
class Workers:
    """Where a sweep's batches run: ``jobs`` local processes (None: one per core when at
    least `AUTO_PARALLEL_SECONDS` of costing are left, else this process), or a Dask
    cluster at ``dask_address`` (None: the spec's ``dask.address``, if any)."""

    jobs: int | None = None
    dask_address: str | None = None


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep produced: the table, where it went, and how much was (re)computed."""

    frame: pd.DataFrame
    out_dir: Path | None
    computed: int
    reused: int
    files: tuple[Path, ...] = ()


def cost_batch(grouped: GroupedGraph, items: Sequence[Item]) -> list[Block]:
    """Cost points on one grouped graph (no what-ifs): ``[item] -> [block]`` (runs in
    workers).

    Points are costed together per engine (`perfsim.sweep.batch.batch_tables`: the
    roofline vectorized over devices, its rows as columns), each row equal to
    `point_metrics`'s.
    """
    by_engine: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_engine.setdefault(item[2], []).append(index)
    blocks = []
    for engine, members in by_engine.items():
        for table in batch_tables(grouped, [items[i][1] for i in members], engine):
            ids = tuple(items[members[k]][0] for k in table.members)
            blocks.append(Block(ids, table.columns))
    return blocks


@dataclass(frozen=True, slots=True)
class WhatIfGraphs:
    """What a batch of what-if points of one setting needs: the untyped graph (the full
    pipeline's input) and its prepared transform (None: the full pipeline for all)."""

    graph: OpGraph
    prepared: WhatIfGraph | None


def cost_whatif_batch(graphs: WhatIfGraphs, items: Sequence[Item]) -> list[Block]:
    """Cost what-if points of one setting: on its transformed graph, placement by
    placement (`perfsim.sweep.placed`), else the whole pipeline on the untyped graph
    (`perfsim.pipeline.cost_scenario_graph`)."""
    graph, prepared = graphs.graph, graphs.prepared
    found: list[dict[str, Any] | None] = [None] * len(items)
    if prepared is not None:  # one setting: engine and runtime vary only with the spec's axes
        by_kind: dict[tuple[str, str | None], list[int]] = {}
        for index, (_, _, engine, scenario) in enumerate(items):
            by_kind.setdefault((engine, scenario.runtime), []).append(index)
        for (engine, runtime), members in by_kind.items():
            hws = [items[index][1] for index in members]
            batch = placed_batch(prepared, hws, engine, runtime)
            for index, row in zip(members, batch, strict=True):
                found[index] = row
    rows = []
    for (point_id, hw, engine, scenario), row in zip(items, found, strict=True):
        if row is None:
            row = result_metrics(cost_scenario_graph(graph, scenario, hw, engine))
        rows.append({"point_id": point_id, **row})
    return blocks_of(rows)


def _graphs(points: Sequence[Point], store: GraphStore) -> dict[tuple[Any, ...], Any]:
    """Per distinct graph key, the typed grouped graph, or the untyped one for points that
    take the whole pipeline (what-ifs, or a kernel split in parts)."""
    graphs: dict[tuple[Any, ...], Any] = {}
    for point in points:
        if point.graph_key in graphs:
            continue
        graph = scenario_graph(point.scenario, point.hw, store)
        fast = point.fast and not graph.meta.kernel_parts
        graphs[point.graph_key] = (
            group_graph(apply_precision(graph, point.precision)) if fast else graph
        )
    return graphs


def _tasks(points: Sequence[Point], graphs: Mapping[tuple[Any, ...], Any], size: int) -> list[Task]:
    """Batches of at most ``size`` points that share one graph (and one what-if setting)."""
    by_graph: dict[tuple[Any, ...], list[Point]] = {}
    for point in points:
        key = point.graph_key
        if not isinstance(graphs[key], GroupedGraph):  # what-ifs: one batch per setting
            key = (*key, point.whatifs, point.precision)
        by_graph.setdefault(key, []).append(point)
    tasks: list[Task] = []
    for members in by_graph.values():
        first = members[0]
        graph = graphs[first.graph_key]
        function: Cost = cost_batch
        if not isinstance(graph, GroupedGraph):
            prepared = prepare(graph, first.whatifs, first.precision)
            graph = WhatIfGraphs(graph, prepared)
            function = cost_whatif_batch
        for start in range(0, len(members), size):
            items = [
                (p.point_id, p.hw, p.engine, p.scenario) for p in members[start : start + size]
            ]
            tasks.append((function, graph, items))
    return tasks


def _serial(tasks: Sequence[Task]) -> Iterator[list[Block]]:
    for function, graph, items in tasks:
        yield function(graph, items)


# In a worker process only: the graphs of the sweep it serves, installed once when the
# worker starts (`_install`), so a batch carries a key instead of a pickled graph and the
# worker's caches (residency lifetimes, groupings per device) stay warm across batches.
_WORKER_GRAPHS: dict[int, Any] = {}


def _install(graphs: dict[int, Any]) -> None:
    _WORKER_GRAPHS.clear()
    _WORKER_GRAPHS.update(graphs)


def _run_installed(function: Cost, key: int, items: list[Item]) -> list[Block]:
    return function(_WORKER_GRAPHS[key], items)


def _processes(tasks: Sequence[Task], jobs: int) -> Iterator[list[Block]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    graphs = {id(graph): graph for _, graph, _ in tasks}
    # spawn: clean workers that import only perfsim's costing modules (never torch)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_install, initargs=(graphs,)
    ) as pool:
        futures = [
            pool.submit(_run_installed, function, id(graph), items)
            for function, graph, items in tasks
        ]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _dask(tasks: Sequence[Task], address: str) -> Iterator[list[Block]]:
    from distributed import Client, as_completed

    with Client(address, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        shared: dict[int, Any] = {}
        futures = []
        for function, graph, items in tasks:
            if id(graph) not in shared:  # each graph travels to the cluster once
                shared[id(graph)] = client.scatter(graph, broadcast=True)
            futures.append(client.submit(function, shared[id(graph)], items, pure=False))
        try:
            with client.as_current():  # as_completed finds the client here, not in a global
                for future in as_completed(futures):  # type: ignore[no-untyped-call]
                    yield future.result()
        except BaseException:
            client.cancel(futures)
            raise


def _costing_seconds(points: Sequence[Point]) -> float:
    """A rough estimate of the seconds ``points`` take to cost in this process."""
    seconds = 0.0
    for point in points:
        engine = "cycle" if point.engine == "cycle" else "roofline"
        seconds += _POINT_SECONDS[engine] + (0.0 if point.fast else _POINT_SECONDS["whatif"])
    return seconds


def _batch_size(points: Sequence[Point], jobs: int, parallel: bool) -> int:
    """At most about `BATCH_SECONDS` of costing per batch and at least 4 batches (each batch
    is one journal write and one progress step; bigger batches amortize the batched
    roofline's per-batch work), or, on workers, 8 batches per worker to balance them."""
    per_point = _costing_seconds(points) / max(1, len(points))
    by_time = int(BATCH_SECONDS / per_point) if per_point else len(points)
    return max(16, min(by_time, len(points) // (8 * jobs if parallel else 4)))


def run_sweep(
    spec: SweepSpec | str | Path,
    *,
    out_dir: Path | None = None,
    workers: Workers | None = None,
    store: GraphStore | None = None,
    progress: Progress | None = None,
    write: bool = True,
) -> SweepOutcome:
    """Run (or resume) a sweep and return its table; with ``write``, journal and files too.

    Args:
        spec: a `SweepSpec` or the path of a sweep YAML file.
        out_dir: where results go [default: ``results/<spec name>``].
        workers: local processes or a Dask cluster (`Workers`) [default: `Workers()`].
        store: where traced graphs are kept [default: the user's cache folder].
        progress: called with ``(points done, points in the sweep)`` as batches finish.
        write: False keeps everything in memory (no journal, no resume).
    """
    with _collector_paused():
        return _run_sweep(spec, out_dir, workers, store, progress, write)


@contextlib.contextmanager
def _collector_paused() -> Generator[None, None, None]:
    """Pause Python's cyclic garbage collector for the call, restoring its state after.

    A sweep allocates a few hundred thousand short-lived, acyclic objects per thousand
    points (row dicts, floats, validated specs); reference counting frees them all, but
    each allocation burst also triggers generational passes that walk the ever-growing set
    of live points: 10-15% of a roofline sweep's wall-clock (results/benchmarks/sweep.json).
    NB: process-wide while it runs; cyclic garbage made meanwhile (by any thread) is only
    collected once the sweep returns.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _run_sweep(
    spec: SweepSpec | str | Path,
    out_dir: Path | None,
    workers: Workers | None,
    store: GraphStore | None,
    progress: Progress | None,
    write: bool,
) -> SweepOutcome:

    if not isinstance(spec, SweepSpec):
        spec = load_sweep_spec(spec)
    check_expressions(spec)
    points = plan(spec)
    out = out_dir or Path("results") / spec.name
    journal = read_journal(out) if write else Journal()
    finished = journal.finished()
    reused = sum(1 for p in points if p.point_id in finished)
    todo: list[Point] = []
    seen = set(finished)
    for point in points:  # points with equal ids (equal designs) are costed once
        if point.point_id not in seen:
            seen.add(point.point_id)
            todo.append(point)
    graphs = _graphs(todo, store or GraphStore())
    where = workers or Workers()
    address = where.dask_address or (spec.dask.address if spec.dask else None)
    jobs = where.jobs
    if jobs is None:  # worker start-up (about a second each) only pays off on big sweeps
        jobs = (os.cpu_count() or 1) if _costing_seconds(todo) >= AUTO_PARALLEL_SECONDS else 1
    parallel = bool(address) or jobs > 1
    tasks = _tasks(todo, graphs, _batch_size(todo, 1 if address else jobs, parallel))
    if address:
        batches = _dask(tasks, address)
    elif jobs > 1 and len(tasks) > 1:
        batches = _processes(tasks, min(jobs, len(tasks)))
    else:
        batches = _serial(tasks)
    count = reused
    total = reused + len(todo)
    if progress:
        progress(count, total)
    if write:
        trim_journal(out, journal.size)  # a record torn by a kill would hide the new ones
    for blocks in batches:
        if write:
            append_journal(out, blocks)
        finished.update(by_id(blocks))
        count += sum(map(len, blocks))
        if progress:
            progress(count, total)
    frame = derive(assemble(points, finished), spec)
    files: tuple[Path, ...] = ()
    if write:
        spec_text = (
            Path(spec.source).read_text(encoding="utf-8")
            if spec.source
            else (spec.model_dump_json(indent=2, exclude={"source"}))
        )
        files = tuple(write_table(out, frame, spec_text))
    return SweepOutcome(frame, out if write else None, len(todo), reused, files)
