"""The sweep's batched paths give the reference numbers: random design points, both ways.

- `batch_metrics` (the roofline vectorized over devices) equals `point_metrics` bit for
  bit, and the cycle engine's batch equals it too (vector ops and systolic GEMMs as
  arrays over devices, tile-engine GEMMs point by point);
- what-if points on their transformed graph (`perfsim.sweep.placed`) equal the full
  pipeline's `result_metrics` to 1e-12 (totals summed per placement, not in op order);
- `patched` builds the very spec `override_many` builds, and fails where it fails;
- ``results.csv`` is byte for byte what ``DataFrame.to_csv`` writes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from perfsim.cache import GraphStore
from perfsim.engines.residency import cached_lifetimes, holder_level
from perfsim.errors import PerfsimError
from perfsim.hardware import HardwareSpec
from perfsim.ir import OpGraph
from perfsim.pipeline import cost_scenario_graph
from perfsim.precision import apply_precision
from perfsim.scenario import Scenario
from perfsim.sweep import Workers, group_graph, point_metrics, run_sweep
from perfsim.sweep.batch import batch_metrics
from perfsim.sweep.fast import result_metrics
from perfsim.sweep.override import override_many, resolve_path
from perfsim.sweep.patch import patched
from perfsim.sweep.placed import placed_batch, prepare
from perfsim.sweep.store import write_csv
from perfsim.whatif import parse_whatifs
from perfsim.workload import resolve_model
from tests.shipped_hardware import shipped

DEVICES = ("npu", "a100", "xeon-8380", "t4", "edge-npu")
_base = shipped  # each shipped file loaded once


# one design point: scales of the nearest level's capacity, DRAM bandwidth, the clock (or
# a systolic array's rows), and the power limit (None: the file's)
_POINT = st.tuples(
    st.floats(0.02, 20.0),
    st.floats(0.05, 10.0),
    st.floats(0.3, 3.0),
    st.one_of(st.none(), st.floats(1.05, 6.0)),
)


def _device(base: HardwareSpec, point: tuple[float, float, float, float | None]) -> HardwareSpec:
    sram, dram, compute, tdp = point
    values: dict[str, Any] = {
        "memory.sram.capacity": base.memory[0].capacity * sram,
        "memory.dram.bandwidth": base.dram.bandwidth * dram,
    }
    matrix = base.compute.matrix
    if matrix is not None and matrix.type == "systolic" and matrix.rows is not None:
        values["matrix.rows"] = max(1, round(matrix.rows * compute))
    else:
        values["clock"] = base.compute.clock * compute
    if tdp is not None and base.energy.static_power > 0:
        values["tdp"] = base.energy.static_power * tdp
    return override_many(base, values)


def _close(a: Any, b: Any, rel: float) -> bool:
    if a == b:
        return True
    return bool(abs(a - b) <= rel * max(abs(a), abs(b)))


@settings(max_examples=30, deadline=None)
@given(
    device=st.sampled_from(DEVICES),
    engine=st.sampled_from(("roofline", "cycle")),
    points=st.lists(_POINT, min_size=1, max_size=6),
)
def test_batch_rows_equal_point_rows(
    traced: Callable[..., OpGraph], device: str, engine: str, points: list[Any]
) -> None:
    base = _base(device)
    graph = apply_precision(traced("bert-tiny", batch=2, seq=64), base.native_precision)
    grouped = group_graph(graph)
    hws = [_device(base, point) for point in points]
    expected = [point_metrics(grouped, hw, engine) for hw in hws]
    found = batch_metrics(grouped, hws, engine)
    assert found == expected  # every key, every bit
    assert [list(row) for row in found] == [list(row) for row in expected]  # key order


@settings(max_examples=25, deadline=None)
@given(
    device=st.sampled_from(("npu", "a100", "edge-npu")),
    needs=st.lists(st.tuples(st.integers(0, 10_000), st.floats(0.9, 1.1)), min_size=2, max_size=9),
    throttle=st.one_of(st.none(), st.floats(0.05, 1.2)),
)
def test_residency_groupings_batched_together_equal_point_rows(
    traced: Callable[..., OpGraph],
    device: str,
    needs: list[tuple[int, float]],
    throttle: float | None,
) -> None:
    """Devices whose on-chip level keeps different activations (several residency
    groupings of one structure, costed side by side: `perfsim.sweep.stacked`) give the
    rows each device gets batched alone, bit for bit, at boost or throttled by a power
    limit (``throttle``: the limit's dynamic share of the boost clock's; below 1, the
    clock drops), and `point_metrics`'s rows: the batch takes each device's DVFS power
    with Python's ``**`` (`perfsim.engines.power_batch.python_power`), as the scalar path
    does; numpy's own power once made throttled energies differ in the last bit."""
    base = _base(device)
    graph = apply_precision(traced("bert-tiny", batch=2, seq=64), base.native_precision)
    grouped = group_graph(graph)
    thresholds = cached_lifetimes(grouped.source).thresholds
    level = holder_level(base)
    assume(thresholds and level is not None)
    name = base.memory[level].name
    per_unit = base.level_capacity(base.memory[level]) / base.memory[level].capacity
    static = base.energy.static_power
    hws = []
    for pick, scale in needs:  # capacities around the graph's residency thresholds
        capacity = max(1.0, thresholds[pick % len(thresholds)] * scale / per_unit)
        hw = override_many(base, {f"memory.{name}.capacity": capacity, "tdp": static * 1e3 + 1})
        if throttle is not None:
            boost_w = point_metrics(grouped, hw, "roofline")["average_power_w"]
            hw = override_many(hw, {"tdp": static + (boost_w - static) * throttle})
        hws.append(hw)
    expected = [batch_metrics(grouped, [hw], "roofline")[0] for hw in hws]
    found = batch_metrics(grouped, hws, "roofline")
    assert found == expected  # every key, every bit
    assert [list(row) for row in found] == [list(row) for row in expected]
    assert found == [point_metrics(grouped, hw, "roofline") for hw in hws]


SYSTOLIC = ("npu", "edge-npu", "eyeriss", "exynos2400-npu", "tpu-v1", "tpu-v3")


@settings(max_examples=20, deadline=None)
@given(device=st.sampled_from(SYSTOLIC), points=st.lists(_POINT, min_size=2, max_size=8))
def test_cycle_batch_of_systolic_arrays_equals_point_rows(
    traced: Callable[..., OpGraph], device: str, points: list[Any]
) -> None:
    """The systolic GEMMs of a cycle batch (`perfsim.sweep.cycle_gemm`: fold model and
    stalls of all arrays together) give every device's scalar row, bit for bit."""
    base = _base(device)
    graph = apply_precision(traced("bert-tiny", batch=2, seq=64), base.native_precision)
    grouped = group_graph(graph)
    hws = [_device(base, point) for point in points]
    expected = [point_metrics(grouped, hw, "cycle") for hw in hws]
    assert batch_metrics(grouped, hws, "cycle") == expected


_KNOBS = st.fixed_dictionaries(
    {
        "fusion": st.sampled_from(("none", "all", "attention", "epilogue+softmax", "layernorm")),
        "prune_ffn": st.sampled_from((0.0, 0.25, 0.5)),
        "instances": st.sampled_from((1, 2)),
        "quant": st.sampled_from(("none", "int8")),
    }
)


@settings(max_examples=30, deadline=None)
@given(
    device=st.sampled_from(DEVICES),
    engine=st.sampled_from(("roofline", "roofline", "cycle")),
    knobs=_KNOBS,
    points=st.lists(_POINT, min_size=1, max_size=4),
)
def test_whatif_rows_equal_the_full_pipeline(
    store: GraphStore, device: str, engine: str, knobs: dict[str, Any], points: list[Any]
) -> None:
    base = _base(device)
    scenario = Scenario(resolve_model("bert-tiny"), batch=2, seq=64, whatifs=parse_whatifs(knobs))
    scenario = scenario.but(precision=scenario.precision_on(base))
    from perfsim.pipeline import scenario_graph

    graph = scenario_graph(scenario, base, store)
    hws = [_device(base, point) for point in points]
    try:
        expected = [result_metrics(cost_scenario_graph(graph, scenario, hw, engine)) for hw in hws]
    except PerfsimError:
        assume(False)  # a knob the device cannot take (e.g. int8 without int8 units)
    prepared = prepare(graph, scenario.whatifs, scenario.precision)
    assert prepared is not None
    rows = placed_batch(prepared, hws, engine, scenario.runtime)
    for row, want in zip(rows, expected, strict=True):
        assert row is not None and list(row) == list(want)
        for key, value in want.items():
            assert _close(row[key], value, 1e-12), key


@settings(max_examples=40, deadline=None)
@given(
    device=st.sampled_from(DEVICES),
    point=_POINT,
    bad=st.sampled_from((None, "capacity", "tdp", "rows")),
)
def test_patched_spec_equals_override_many(
    device: str, point: tuple[float, float, float, float | None], bad: str | None
) -> None:
    base = _base(device)
    values: dict[str, Any] = {
        "memory.sram.capacity": base.memory[0].capacity * point[0],
        "memory.dram.bandwidth": base.dram.bandwidth * point[1],
        "clock": base.compute.clock * point[2],
    }
    if bad == "capacity":
        values["memory.sram.capacity"] = -1.0  # rejected by the schema
    elif bad == "tdp":
        values["tdp"] = base.energy.static_power / 2  # below static power: rejected
    elif bad == "rows" and base.compute.matrix is not None:
        values["matrix.rows"] = 0
    dumped = base.model_dump()
    resolved = {path: resolve_path(base, path) for path in values}
    try:
        want: Any = override_many(base, values, dumped=dumped, resolved=resolved)
    except PerfsimError as error:
        want = str(error)
    try:
        got: Any = patched(base, values, dumped=dumped, resolved=resolved, memo={})
    except PerfsimError as error:
        got = str(error)
    assert got == want
    if isinstance(want, HardwareSpec):
        assert got.model_dump() == want.model_dump()
        _assert_fields_set(got, want, base)
        again = patched(base, values, dumped=dumped, resolved=resolved, memo={})
        assert again == want  # a second point on a fresh memo: the same spec


def _assert_fields_set(got: Any, want: Any, base: Any) -> None:
    """Each model ``got`` builds anew (not shared with the ``base`` spec) has the fields
    set full validation gives ``want``'s."""
    if got is base:
        return
    if isinstance(got, tuple):
        for a, b, c in zip(got, want, base, strict=True):
            _assert_fields_set(a, b, c)
    if isinstance(got, BaseModel):
        assert got.model_fields_set == want.model_fields_set, type(got).__name__
        for name in type(got).model_fields:
            _assert_fields_set(getattr(got, name), getattr(want, name), getattr(base, name))


def test_csv_is_byte_identical_to_pandas(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "f": [1e16, 1e-5, -0.0, float("inf"), float("nan"), 0.1 + 0.2],
            "s": ["a,b", 'x"y', "line\nbreak", None, "", "ok"],
            "b": [True, False] * 3,
            "i": [1, 2, 3, 4, 5, -6],
            "o": [1, "x", 2.5, None, True, float("nan")],
        }
    )
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    write_csv(frame, tmp_path / "ours.csv")
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


_CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.sampled_from('ab ,"\n\r;x=.'), max_size=8),
)


@settings(max_examples=60, deadline=None)
@given(
    floats=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=6),
    cells=st.lists(_CELLS, min_size=6, max_size=6),
    texts=st.lists(
        st.text(alphabet=st.sampled_from('ab ,"\n\r'), max_size=6), min_size=6, max_size=6
    ),
)
def test_csv_is_byte_identical_to_pandas_on_any_cells(
    tmp_path_factory: pytest.TempPathFactory,
    floats: list[float],
    cells: list[Any],
    texts: list[str],
) -> None:
    size = len(floats)
    frame = pd.DataFrame(
        {"f": floats, "o": cells[:size], "s": texts[:size], "i": list(range(size))},
        columns=["f", "o", "s", "i"],
    )
    folder = tmp_path_factory.mktemp("csv")
    frame.to_csv(folder / "pandas.csv", index=False)
    write_csv(frame, folder / "ours.csv")
    assert (folder / "ours.csv").read_bytes() == (folder / "pandas.csv").read_bytes()
    alone = frame[["s"]]  # one column: an empty cell alone on its line is quoted
    alone.to_csv(folder / "pandas1.csv", index=False)
    write_csv(alone, folder / "ours1.csv")
    assert (folder / "ours1.csv").read_bytes() == (folder / "pandas1.csv").read_bytes()


SPEC = """\
version: 1
name: cluster
base: {model: bert-tiny, hw: npu, batch: 2, seq: 64}
axes:
  memory.sram.capacity: ["1 MiB", "16 MiB"]
  memory.dram.bandwidth: ["300 GB/s", "1.2 TB/s"]
  whatif.fusion: [none, all]
  engine: [roofline, cycle]
"""


def test_dask_local_cluster_with_two_worker_processes(graph_cache: Path, tmp_path: Path) -> None:
    """Batches travel to two separate worker processes (pickled graphs, prepared what-ifs)
    and come back with the numbers of this process."""
    distributed = pytest.importorskip("distributed")
    path = tmp_path / "cluster.yaml"
    path.write_text(SPEC, encoding="utf-8")
    store = GraphStore(graph_cache)
    local = run_sweep(path, workers=Workers(jobs=1), write=False, store=store).frame
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        outcome = run_sweep(
            path,
            workers=Workers(dask_address=cluster.scheduler_address),
            out_dir=tmp_path / "dask",
            store=store,
        )
    assert outcome.computed == len(local) == 16
    pd.testing.assert_frame_equal(outcome.frame, local, check_exact=False, rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(device=st.sampled_from(DEVICES), point=_POINT)
def test_path_reader_reads_what_read_path_reads(
    device: str, point: tuple[float, float, float, float | None]
) -> None:
    """`path_reader`, its steps found on the base spec, reads every leaf of an override
    as `read_path` does."""
    from perfsim.sweep.override import path_reader, read_path

    base = _base(device)
    hw = _device(base, point)
    for name in ("memory.sram.capacity", "memory.dram.bandwidth", "matrix.rows", "clock", "tdp"):
        try:
            keys = resolve_path(base, name)
        except PerfsimError:
            continue
        assert path_reader(base, keys)(hw) == read_path(hw, keys)
