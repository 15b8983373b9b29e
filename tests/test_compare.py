"""``perfsim compare``: one model on several devices (and several models on one)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from perfsim.cache import GraphStore
from perfsim.cli import main
from perfsim.compare import compare, compare_chart, display_records
from perfsim.pipeline import simulate
from perfsim.scenario import Scenario


def test_compare_rows_equal_single_runs(store: GraphStore) -> None:
    base = Scenario("bert-tiny", seq=64)
    frame = compare(["bert-tiny"], ["npu", "a100"], base, store=store)
    assert frame[["model", "hw"]].values.tolist() == [["bert-tiny", "npu"], ["bert-tiny", "a100"]]
    for row in frame.to_dict("records"):
        summary = simulate(base, row["hw"], store=store).summary()
        assert row["latency_s"] == summary["latency_s"]
        assert row["energy_j"] == summary["energy_j"]
        assert row["latency_gemm_s"] == summary["by_category"]["gemm"]["latency_s"]
        assert row["flops_utilization"] == pytest.approx(
            summary["achieved_flops_per_s"] / summary["peak_flops_per_s"]
        )
    chart = compare_chart(frame)
    # three panels (latency, energy, FLOP/s), one bar group per model, one bar per device
    assert len(chart.data) == 3 and list(chart.data[0].x) == ["npu", "a100"]
    assert list(chart.data[0].y) == pytest.approx((frame["latency_s"] * 1e3).tolist())


def test_compare_carries_the_die_area(store: GraphStore) -> None:
    # a file with an area estimate: its mm^2 and samples/s per mm^2; a calibrated one: None
    frame = compare(["bert-tiny"], ["npu", "host"], Scenario("bert-tiny", seq=64), store=store)
    npu, host = frame.to_dict("records")
    assert npu["area_mm2"] == pytest.approx(326.48, rel=1e-3)
    assert npu["perf_per_mm2"] == pytest.approx(npu["throughput_samples_per_s"] / 326.48, 1e-3)
    # None in the rows; a frame column with numbers beside it holds it as NaN
    assert math.isnan(host["area_mm2"]) and math.isnan(host["perf_per_mm2"])
    shown = display_records(frame)
    assert shown[0]["die area (mm^2)"] == "326.5" and shown[1]["die area (mm^2)"] == "-"


def test_several_models_on_one_device(store: GraphStore) -> None:
    frame = compare(["bert-tiny", "bert-mini"], ["npu"], Scenario("bert-tiny", seq=64), store=store)
    assert frame["model"].tolist() == ["bert-tiny", "bert-mini"]
    assert frame.loc[1, "flops"] > frame.loc[0, "flops"]  # 4 wider layers vs 2
    chart = compare_chart(frame)
    assert list(chart.data[0].x) == ["bert-tiny", "bert-mini"]


def test_cli_compare_json_csv_table_and_chart(
    graph_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "compare",
        "-m",
        "bert-tiny",
        "--hw",
        "npu",
        "--hw",
        "t4",
        "--seq",
        "64",
        "--cache-dir",
        str(graph_cache),
    ]
    with pytest.raises(SystemExit) as done:
        main([*base, "--format", "json", "--out", str(tmp_path / "bars.html")])
    assert done.value.code == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["hw"] for r in records] == ["npu", "t4"]
    assert "latency (ms)" in (tmp_path / "bars.html").read_text(encoding="utf-8")
    with pytest.raises(SystemExit):
        main([*base, "--format", "csv"])
    assert capsys.readouterr().out.splitlines()[0].startswith("model,hw,precision,engine")
    with pytest.raises(SystemExit):
        main(base)
    out = capsys.readouterr().out
    assert "│ npu │ bf16" in out and "│ t4  │ fp16" in out and "latency" in out
    with pytest.raises(SystemExit) as done:
        main(["compare", "-m", "bert-tiny", "--hw", "nope-hw", "--cache-dir", str(graph_cache)])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.startswith("SpecError: --hw: unknown hardware 'nope-hw'")
