"""`perfsim.pipeline`: the sweep's fast path equals `simulate`, and `Scenario.check` refuses
the combinations no pipeline runs."""

from __future__ import annotations

import pytest

from perfsim.cache import GraphStore
from perfsim.engines import available
from perfsim.errors import SpecError, WorkloadError
from perfsim.hardware import load_hardware
from perfsim.pipeline import run, simulate, simulate_parallel, typed_graph
from perfsim.scenario import Parallelism, Scenario, SequenceLengths, TrainingOptions
from perfsim.sweep.fast import group_graph, point_metrics, result_metrics
from perfsim.whatif import parse_whatifs
from perfsim.whatif.lengths import LengthsError
from tests.conftest import HWCONFIGS

SCENARIOS = {
    "tiny-native": Scenario("bert-tiny", batch=2, seq=64),
    "mini-fp32": Scenario("bert-mini", batch=1, seq=128, precision="fp32"),
    "tiny-training": Scenario(
        "bert-tiny", batch=2, seq=32, mode="training", training=TrainingOptions(optimizer="adamw")
    ),
    # a batch of real lengths, padded: derived from two probe traces, then typed
    "tiny-lengths": Scenario("bert-tiny", batch=3, seq=64, lengths=SequenceLengths((9, 33, 60))),
}
PACKED = Scenario("bert-tiny", batch=3, seq=64, lengths=SequenceLengths((9, 33, 60), "packed"))
DEVICES = ["npu", "a100", "xeon-8380"]


def _close(a: float, b: float) -> bool:
    return a == pytest.approx(b, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("engine", available())
@pytest.mark.parametrize("name", SCENARIOS)
def test_sweep_fast_path_equals_simulate(
    store: GraphStore, name: str, engine: str, device: str
) -> None:
    scenario = SCENARIOS[name]
    hw = load_hardware(HWCONFIGS / f"{device}.yaml")
    result = simulate(scenario, hw, engine=engine, store=store)
    row = point_metrics(group_graph(typed_graph(scenario, hw, store)), hw, engine)
    full = result_metrics(result)
    assert row.keys() == full.keys()
    for key, value in full.items():
        assert _close(row[key], value), key
    # and against the summary a user reads
    summary = result.summary()
    for key in ("latency_s", "flops", "energy_j", "n_ops"):
        assert _close(row[key], summary[key]), key
    for level, value in summary["memory_traffic_bytes"].items():
        assert _close(row[f"traffic_{level}_bytes"], value), level
    # the fast path saw the graph simulate costed, op for op
    assert row["n_ops"] == len(result.graph.ops)


def test_packed_lengths_leave_the_fast_path(store: GraphStore) -> None:
    # packed lengths run attention per sequence as parts of one kernel (`kernel_parts`),
    # which pay no launch: the grouped fast path does not know them, so the sweep costs
    # such graphs through simulate (perfsim.sweep.runner); on a device without launch
    # overhead both ways still agree
    npu, a100 = (load_hardware(HWCONFIGS / f"{name}.yaml") for name in ("npu", "a100"))
    assert typed_graph(PACKED, a100, store).meta.kernel_parts
    for engine in available():
        result = simulate(PACKED, npu, engine=engine, store=store)
        row = point_metrics(group_graph(typed_graph(PACKED, npu, store)), npu, engine)
        assert _close(row["latency_s"], result.latency_s)
        assert _close(row["energy_j"], result.energy_j)


def test_run_picks_simulate_or_simulate_parallel(store: GraphStore) -> None:
    single = Scenario("bert-tiny", batch=8, seq=32, mode="training")
    assert run(single, "a100", store=store).summary() == (
        simulate(single, "a100", store=store).summary()
    )
    spread = single.but(parallel=Parallelism(devices=4))
    step = run(spread, "a100", store=store)
    assert step.summary() == simulate_parallel(spread, "a100", store=store).summary()
    # each of the 4 devices runs a micro-batch of 2 samples
    assert step.summary()["micro_batch"] == 2


DATA_PARALLEL = Parallelism(devices=2)
QUANT = parse_whatifs({"quant": "int8"})


@pytest.mark.parametrize(
    ("scenario", "error", "message"),
    [
        # data parallelism carries only training-step what-ifs (fusion, mlm_positions)
        (
            Scenario("bert-tiny", mode="training", whatifs=QUANT, parallel=DATA_PARALLEL),
            SpecError,
            "--whatif quant: not available with --devices/--grad-accum",
        ),
        # devices (or gradient accumulation) need a training step
        (
            Scenario("bert-tiny", parallel=DATA_PARALLEL),
            WorkloadError,
            "--devices/--grad-accum: data parallelism needs --mode training",
        ),
        (
            Scenario("bert-tiny", parallel=Parallelism(grad_accum=2)),
            WorkloadError,
            "needs --mode training",
        ),
        (
            Scenario("bert-tiny", lengths=SequenceLengths((5, 7), "ragged")),
            LengthsError,
            "--padding: expected one of",
        ),
    ],
    ids=[
        "parallel-whatif",
        "devices-inference",
        "grad-accum-inference",
        "bad-padding",
    ],
)
def test_scenario_check_refuses(
    store: GraphStore, scenario: Scenario, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("-", r"\-")):
        scenario.check()
    # every entry point checks before tracing or costing anything
    with pytest.raises(error, match=message.replace("-", r"\-")):
        run(scenario, "a100", store=store)


def test_valid_scenarios_pass_check_unchanged() -> None:
    for scenario in SCENARIOS.values():
        assert scenario.check() is scenario
    spread = Scenario("bert-tiny", mode="training", parallel=Parallelism(devices=8, grad_accum=2))
    assert spread.check() is spread
