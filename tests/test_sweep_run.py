"""Running sweeps: local, worker processes and a Dask LocalCluster agree; resume; CLI; plots."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from perfsim.cache import GraphStore
from perfsim.cli import main
from perfsim.errors import SpecError
from perfsim.sweep import Workers, load_sweep_spec, plan, read_table, run_sweep
from perfsim.sweep.output import point_result
from perfsim.sweep.store import JOURNAL, read_journal

SPEC = """\
version: 1
name: tiny
base: {model: bert-tiny, hw: npu, batch: 2, seq: 64}
axes:
  matrix.rows: [32, 128]
  matrix.cols: [32, 128]
  memory.sram.capacity: ["1 MiB", "4 MiB", "16 MiB"]
  memory.dram.bandwidth: ["300 GB/s", "1.2 TB/s"]
  engine: [roofline, cycle]
zip: [[matrix.rows, matrix.cols]]
metrics: {latency_us: "latency_s * 1e6"}
constraints: ["on_chip_bytes <= 4 MiB"]
"""
N_POINTS = 2 * 3 * 2 * 2


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, graph_cache: Path) -> pd.DataFrame:
    """The sweep run in this process, in memory: what every other way must reproduce."""
    path = tmp_path_factory.mktemp("reference") / "tiny.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return run_sweep(
        path, workers=Workers(jobs=1), write=False, store=GraphStore(graph_cache)
    ).frame


def test_table_has_a_row_per_point_with_inputs_outputs_categories(
    reference: pd.DataFrame, spec_path: Path, graph_cache: Path
) -> None:
    frame = reference
    assert len(frame) == N_POINTS
    assert frame["point"].tolist() == list(range(N_POINTS))
    for column in (
        "model",
        "hw",
        "batch",
        "seq",
        "precision",
        "engine",
        "matrix.rows",
        "memory.sram.capacity",
        "memory.dram.bandwidth",
        "latency_s",
        "energy_j",
        "latency_gemm_s",
        "latency_softmax_s",
        "dram_bytes",
        "perf_per_w",
        "energy_per_inference_j",
        "flops_utilization",
        "latency_us",
        "feasible",
    ):
        assert column in frame.columns, column
    assert set(frame["memory.sram.capacity"]) == {2**20, 4 * 2**20, 16 * 2**20}
    # constraint: VMEM <= 4 MiB
    assert frame["feasible"].tolist() == (frame["on_chip_bytes"] <= 4 * 2**20).tolist()
    assert frame["latency_us"].tolist() == pytest.approx((frame["latency_s"] * 1e6).tolist())
    # derived: energy per inference = energy / batch; perf/W = inferences per joule
    assert frame["energy_per_inference_j"].tolist() == pytest.approx(
        (frame["energy_j"] / 2).tolist()
    )
    assert frame["perf_per_w"].tolist() == pytest.approx((2 / frame["energy_j"]).tolist())
    # every row is exactly what estimate_graph gives for that design
    points = plan(load_sweep_spec(spec_path))
    for index in (0, 7, N_POINTS - 1):
        result = point_result(points[index], GraphStore(graph_cache))
        summary = result.summary()
        row = frame.iloc[index]
        assert row["latency_s"] == pytest.approx(summary["latency_s"], rel=1e-9)
        assert row["energy_j"] == pytest.approx(summary["energy_j"], rel=1e-9)
        gemm = summary["by_category"]["gemm"]["latency_s"]
        assert row["latency_gemm_s"] == pytest.approx(gemm, rel=1e-9)
    # a bigger array is never slower on the roofline (same SRAM, same bandwidth)
    roof = frame[frame["engine"] == "roofline"]
    small = roof[roof["matrix.rows"] == 32].set_index(
        ["memory.sram.capacity", "memory.dram.bandwidth"]
    )
    large = roof[roof["matrix.rows"] == 128].set_index(
        ["memory.sram.capacity", "memory.dram.bandwidth"]
    )
    assert (large["latency_s"] <= small["latency_s"]).all()


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_exact=False, rtol=1e-12
    )


def test_worker_processes_give_the_same_table(
    reference: pd.DataFrame, spec_path: Path, graph_cache: Path, tmp_path: Path
) -> None:
    outcome = run_sweep(
        spec_path, workers=Workers(jobs=2), out_dir=tmp_path / "out", store=GraphStore(graph_cache)
    )
    assert outcome.computed == N_POINTS and outcome.reused == 0
    _same(outcome.frame, reference)
    _same(read_table(tmp_path / "out"), reference)
    _same(read_table(tmp_path / "out" / "results.csv")[reference.columns], reference)
    assert (tmp_path / "out" / "spec.yaml").read_text(encoding="utf-8") == SPEC


def test_dask_local_cluster_gives_the_same_table(
    reference: pd.DataFrame, spec_path: Path, graph_cache: Path, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        outcome = run_sweep(
            spec_path,
            workers=Workers(dask_address=cluster.scheduler_address),
            out_dir=tmp_path / "dask",
            store=GraphStore(graph_cache),
        )
    assert outcome.computed == N_POINTS
    _same(outcome.frame, reference)


class Interrupt(Exception):
    pass


def test_interrupted_sweep_resumes_without_recomputing_or_losing_points(
    reference: pd.DataFrame, spec_path: Path, graph_cache: Path, tmp_path: Path
) -> None:
    out = tmp_path / "resume"
    seen: list[int] = []

    def stop_after_first_batch(done: int, total: int) -> None:
        seen.append(done)
        if done > 0:
            raise Interrupt  # as a Ctrl-C between batches would

    with pytest.raises(Interrupt):
        run_sweep(
            spec_path,
            workers=Workers(jobs=1),
            out_dir=out,
            store=GraphStore(graph_cache),
            progress=stop_after_first_batch,
        )
    finished = read_journal(out).finished()
    assert 0 < len(finished) < N_POINTS  # some points kept, the table not yet written
    assert not (out / "results.parquet").exists()
    # a kill in the middle of a write leaves a torn last record: it is dropped, not fatal
    whole = (out / JOURNAL).read_bytes()
    with (out / JOURNAL).open("ab") as stream:
        stream.write(whole[: len(whole) // 2])
    outcome = run_sweep(
        spec_path, workers=Workers(jobs=1), out_dir=out, store=GraphStore(graph_cache)
    )
    assert outcome.reused == len(finished)
    assert outcome.computed == N_POINTS - len(finished)
    _same(outcome.frame, reference)
    again = run_sweep(
        spec_path, workers=Workers(jobs=1), out_dir=out, store=GraphStore(graph_cache)
    )
    assert again.computed == 0 and again.reused == N_POINTS
    _same(again.frame, reference)
    assert len(read_journal(out).finished()) == N_POINTS
    assert read_journal(out).size == (out / JOURNAL).stat().st_size  # the torn half gone


def test_changed_axes_reuse_the_points_they_share(
    spec_path: Path, graph_cache: Path, tmp_path: Path
) -> None:
    out = tmp_path / "grow"
    run_sweep(spec_path, workers=Workers(jobs=1), out_dir=out, store=GraphStore(graph_cache))
    spec_path.write_text(SPEC.replace('"1.2 TB/s"]', '"1.2 TB/s", "2.4 TB/s"]'), encoding="utf-8")
    outcome = run_sweep(
        spec_path, workers=Workers(jobs=1), out_dir=out, store=GraphStore(graph_cache)
    )
    assert outcome.reused == N_POINTS and outcome.computed == N_POINTS // 2


@pytest.fixture
def cli_env(graph_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(graph_cache.parent / "xdg"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out, captured.err


def test_cli_sweep_writes_table_spec_plots_and_index(
    spec_path: Path,
    graph_cache: Path,
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
    reference: pd.DataFrame,
) -> None:
    code, out, err = _run(
        ["sweep", str(spec_path), "--jobs", "1", "--cache-dir", str(graph_cache)], capsys
    )
    assert code == 0, err
    folder = cli_env / "results" / "tiny"  # the default: results/<sweep name>
    assert f"tiny: {N_POINTS} points ({N_POINTS} computed, 0 from earlier runs)" in out
    _same(read_table(folder), reference)
    for name in (
        "index.html",
        "pareto.html",
        "heatmap.html",
        "breakdown.html",
        "roofline.html",
        "line_matrix-rows.html",
        "line_memory-sram-capacity.html",
        "line_memory-dram-bandwidth.html",
        "plotly.min.js",
        "spec.yaml",
    ):
        assert (folder / name).exists(), name
    assert not (folder / "line_matrix-cols.html").exists()  # zipped to matrix.rows
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert "pareto.html" in index and "roofline.html" in index
    # the plots carry the data: every feasible design's label and latency
    pareto = (folder / "pareto.html").read_text(encoding="utf-8")
    feasible = reference[reference["feasible"]]
    for design in feasible["design"]:
        assert json.dumps(design)[1:-1].replace("/", "\\u002f") in pareto
    assert "Pareto front" in pareto


def test_cli_sweep_bad_spec_exits_2_with_one_line_and_no_output(
    tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        SPEC.replace("matrix.rows: [32, 128]", "matrix.rowz: [32, 128]").replace(
            "rows, matrix", "rowz, matrix"
        ),
        encoding="utf-8",
    )
    code, _, err = _run(["sweep", str(path), "--out", str(tmp_path / "never")], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("SpecError: ")
    assert "matrix.rowz" in err and "unknown hardware field 'rowz'" in err
    assert not (tmp_path / "never").exists()
    path.write_text(
        SPEC.replace("memory.sram.capacity: [", "memory.sram.capacity: ['0 B', "), encoding="utf-8"
    )
    code, _, err = _run(["sweep", str(path), "--out", str(tmp_path / "never")], capsys)
    assert code == 2 and "memory.sram.capacity='0 B': rejected by the hardware schema" in err
    assert not (tmp_path / "never").exists()


def test_plan_rejects_unknown_metric_columns(spec_path: Path, graph_cache: Path) -> None:
    spec_path.write_text(SPEC.replace("latency_s * 1e6", "latncy_s * 1e6"), encoding="utf-8")
    with pytest.raises(SpecError, match=r"metrics\.latency_us: unknown column 'latncy_s'"):
        run_sweep(spec_path, workers=Workers(jobs=1), write=False, store=GraphStore(graph_cache))


WHATIF_SPEC = """\
version: 1
name: knobs
base: {model: bert-tiny, hw: npu, seq: 64}
axes:
  whatif.fusion: [none, all]
  whatif.quant: [none, int8]
  memory.dram.bandwidth: ["300 GB/s", "1.2 TB/s"]
"""


def test_whatif_axes_pass_through_estimate_whatif(
    tmp_path: Path, graph_cache: Path, traced: Any
) -> None:
    from perfsim.whatif import estimate_whatif, parse_whatifs

    path = tmp_path / "knobs.yaml"
    path.write_text(WHATIF_SPEC, encoding="utf-8")
    frame = run_sweep(
        path, workers=Workers(jobs=1), write=False, store=GraphStore(graph_cache)
    ).frame
    assert len(frame) == 8
    points = plan(load_sweep_spec(path))
    graph = traced("bert-tiny", 1, 64)
    for point, row in zip(points, frame.to_dict("records"), strict=True):
        knobs = {"fusion": row["whatif.fusion"], "quant": row["whatif.quant"]}
        expected = estimate_whatif(
            graph, point.hw, precision="bf16", engine="roofline", whatifs=parse_whatifs(knobs)
        ).summary()
        assert row["latency_s"] == pytest.approx(expected["latency_s"], rel=1e-9)
        assert row["energy_j"] == pytest.approx(expected["energy_j"], rel=1e-9)
    # fusing removes DRAM round trips: never slower, strictly less DRAM traffic
    base = frame[frame["whatif.fusion"] == "none"].reset_index(drop=True)
    fused = frame[frame["whatif.fusion"] == "all"].reset_index(drop=True)
    assert (fused["latency_s"] <= base["latency_s"]).all()
    assert (fused["dram_bytes"] < base["dram_bytes"]).all()


def test_bad_whatif_value_names_the_axis(tmp_path: Path) -> None:
    path = tmp_path / "knobs.yaml"
    path.write_text(WHATIF_SPEC.replace("[none, int8]", "[none, int3]"), encoding="utf-8")
    with pytest.raises(SpecError, match=r"point 2 \(.*whatif\.quant='int3'.*\): whatif\.quant: "):
        plan(load_sweep_spec(path))
