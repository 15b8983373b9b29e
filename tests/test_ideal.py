"""The ideal bound (`perfsim.hardware.ideal`): datasheet peaks, labelled, never above the
achieved estimate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from perfsim.cache import GraphStore
from perfsim.cli import cli
from perfsim.hardware import load_hardware
from perfsim.hardware.ideal import ACHIEVED_FIELDS, ideal_hardware
from perfsim.pipeline import simulate
from perfsim.scenario import Scenario

HWCONFIGS = sorted((Path(__file__).resolve().parent.parent / "hwconfigs").glob("*.yaml"))


def _has_achieved_field(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    return any(f"{field.rsplit('.', 1)[-1]}:" in text for field in ACHIEVED_FIELDS)


@pytest.mark.parametrize("path", HWCONFIGS, ids=lambda p: p.stem)
@pytest.mark.parametrize("engine", ["roofline", "cycle"])
def test_ideal_never_above_achieved(path: Path, engine: str, store: GraphStore) -> None:
    hw = load_hardware(path)
    scenario = Scenario("bert-tiny", batch=4, seq=128)
    achieved = simulate(scenario, hw, engine=engine, store=store)
    ideal = simulate(scenario, hw, engine=engine, store=store, ideal=True)
    assert ideal.hw.name == f"{hw.name} (ideal)"
    assert ideal.latency_s <= achieved.latency_s * (1 + 1e-12)
    for bound, estimate in zip(ideal.costs, achieved.costs, strict=True):
        assert bound.latency_s <= estimate.latency_s * (1 + 1e-12), bound.op
    if not _has_achieved_field(path):  # nothing to strip: the bound is the estimate
        assert ideal.latency_s == pytest.approx(achieved.latency_s, rel=1e-12)


def test_ideal_strips_every_achieved_field() -> None:
    hw = ideal_hardware(load_hardware(Path(HWCONFIGS[0]).parent / "a100.yaml"))
    assert hw.tdp is None
    assert hw.compute.matrix is not None and hw.compute.matrix.library_tiles is None
    assert ideal_hardware(hw).name == hw.name  # labelled once


def test_cli_ideal_is_labelled_and_faster() -> None:
    runner = CliRunner()
    args = ["run", "-m", "bert-tiny", "--hw", "a100", "-b", "32", "--format", "json"]
    achieved = json.loads(runner.invoke(cli, args).output)
    ideal = json.loads(runner.invoke(cli, [*args, "--ideal"]).output)
    assert (achieved["hw"], ideal["hw"]) == ("a100", "a100 (ideal)")
    assert ideal["latency_s"] <= achieved["latency_s"]
