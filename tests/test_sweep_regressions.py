"""Regressions of issue 11: bugs that came from assembling the pipeline in several places.

1. A sweep whose base is a mixed-precision training step ended with ``InternalError:
   ValueError: training graph traced in fp32, asked for fp16``: the sweep traced every graph
   in fp32. It now takes its graphs from `perfsim.pipeline.scenario_graph`.
2. ``sweep/output.point_result`` dropped the point's what-ifs, so the charts of selected
   designs were costed without their knobs. It now runs `perfsim.pipeline.simulate` on the
   point's scenario.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perfsim.cache import GraphStore
from perfsim.pipeline import simulate
from perfsim.scenario import Scenario
from perfsim.sweep import Workers, run_sweep
from perfsim.sweep.output import point_result
from perfsim.sweep.plan import plan
from perfsim.sweep.spec import load_sweep_spec
from perfsim.whatif import parse_whatifs


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> GraphStore:
    return GraphStore(tmp_path_factory.mktemp("graphs"))


def _spec(folder: Path, text: str) -> Path:
    path = folder / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_training_sweep_in_half_precision_runs_and_equals_simulate(
    tmp_path: Path, store: GraphStore, precision: str
) -> None:
    # the case, smaller: a training step in half precision, one hardware axis
    hw = "a100"  # runs both fp16 and bf16
    spec = _spec(
        tmp_path,
        "version: 1\nname: train-half\n"
        f"base: {{model: bert-tiny, batch: 8, seq: 64, precision: {precision}, "
        f"mode: training, engine: roofline, hw: {hw}}}\n"
        'axes:\n  memory.dram.bandwidth: ["1 TB/s", "2 TB/s"]\n',
    )
    frame = run_sweep(spec, workers=Workers(jobs=1), write=False, store=store).frame
    assert list(frame["precision"]) == [precision, precision]
    # the sweep's fast path gives what the one pipeline gives at the shipped bandwidth...
    scenario = Scenario("bert-tiny", batch=8, seq=64, mode="training", precision=precision)
    point = plan(load_sweep_spec(spec))[0]
    whole = simulate(scenario, point.hw, store=store)
    assert frame["latency_s"].iloc[0] == pytest.approx(whole.latency_s, rel=1e-9)
    assert frame["energy_j"].iloc[0] == pytest.approx(whole.energy_j, rel=1e-9)
    # ... and the step is the mixed-precision one (fp32 master weights: the optimizer
    # reads more than the half-precision model's parameters)
    assert whole.graph.meta.precision == precision
    # more DRAM bandwidth never makes the step slower
    assert frame["latency_s"].iloc[1] <= frame["latency_s"].iloc[0]


def test_selected_designs_are_costed_with_their_knobs(tmp_path: Path, store: GraphStore) -> None:
    spec = _spec(
        tmp_path,
        "version: 1\nname: fusion\n"
        "base: {model: bert-tiny, batch: 4, seq: 128, engine: roofline, hw: a100}\n"
        "axes:\n  whatif.fusion: [none, all]\n",
    )
    frame = run_sweep(spec, workers=Workers(jobs=1), write=False, store=store).frame
    points = plan(load_sweep_spec(spec))
    unfused, fused = (point_result(point, store) for point in points)
    # the per-op result behind a design's charts is the design the table row describes
    for point, result in zip(points, (unfused, fused), strict=True):
        row = frame[frame["point"] == point.index].iloc[0]
        assert result.latency_s == pytest.approx(row["latency_s"], rel=1e-9)
        assert result.summary()["whatifs"] == point.whatifs.applied()
    # fusion removes intermediate tensors: fewer bytes, no more FLOPs, and it is what
    # simulate gives for the knob
    knobs = parse_whatifs({"fusion": "all"})
    direct = simulate(Scenario("bert-tiny", batch=4, whatifs=knobs), "a100", store=store)
    assert fused.latency_s == pytest.approx(direct.latency_s, rel=1e-12)
    fused_bytes = sum(c.bytes_read + c.bytes_written for c in fused.costs)
    unfused_bytes = sum(c.bytes_read + c.bytes_written for c in unfused.costs)
    assert fused_bytes < unfused_bytes
    assert fused.flops == unfused.flops
    assert fused.latency_s < unfused.latency_s
