"""Evaluations inside a training run (`perfsim.parallel.evaluation`): the passes, the
representative lengths and the inference scenario by hand, a phase's time, throughput and
energy with them against independent `simulate` calls, the schedule field (inherited,
overridden, refused when bad), the MLPerf v1.0 schedule's figures from its log, and the
invariant that evaluating never makes a phase faster or cheaper."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.cache import GraphStore
from perfsim.cli import main
from perfsim.errors import SpecError
from perfsim.parallel.evaluation import Evaluation, evaluation_scenario, representative_lengths
from perfsim.parallel.schedule import load_schedule
from perfsim.parallel.training_run import PhaseResult, time_to_train
from perfsim.pipeline import simulate
from perfsim.scenario import Parallelism, Scenario
from perfsim.whatif.knobs import parse_whatifs
from perfsim.whatif.lengths import SequenceLengths

ROOT = Path(__file__).resolve().parent.parent

SCHEDULE = """\
version: 1
name: evaluated
model: bert-tiny
hw: a100
precision: fp16
optimizer: lamb
devices: 2
whatif:
  fusion: attention+qkv
  mlm_positions: 0.15
evaluation:
  every_samples: 20
  samples: 12
  batch: 2
phases:
  - name: first
    seq: 64
    global_batch: 8
    steps: 10
  - name: second
    seq: 128
    global_batch: 8
    steps: 5
    evaluation:
      every_samples: 40
      samples: 8
      batch: 4
  - name: third
    seq: 64
    global_batch: 8
    steps: 3
"""


@pytest.fixture
def schedule_file(tmp_path: Path) -> Path:
    path = tmp_path / "evaluated.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    return path


def test_passes_and_share_by_hand() -> None:
    # MLPerf v1.0's BERT: 10,000 sequences, 16 a GPU a pass, on 8 GPUs: ceil(10000 / 128)
    evaluation = Evaluation(every_samples=150_000, samples=10_000, batch=16)
    assert evaluation.passes(8) == 79
    assert evaluation.passes(1) == 625
    assert evaluation.per_step(448) == pytest.approx(448 / 150_000)
    assert evaluation.label() == "10000/150000@16"


def test_representative_lengths_are_the_mid_quantiles() -> None:
    lengths = list(range(100, 0, -1))  # 1..100, unsorted
    # (i + 0.5) / 4 of 100 sorted lengths: indexes 12, 37, 62, 87
    assert representative_lengths(lengths, 4) == (13, 38, 63, 88)
    assert representative_lengths([7], 3) == (7, 7, 7)


def test_evaluation_scenario_is_the_forward_of_one_devices_batch() -> None:
    training = Scenario(
        "bert-tiny",
        batch=64,
        seq=128,
        mode="training",
        precision="fp16",
        whatifs=parse_whatifs({"fusion": "attention+qkv", "mlm_positions": 0.15}),
        lengths=SequenceLengths(tuple(range(1, 65)), "packed"),
        parallel=Parallelism(8, 2),
    )
    scenario = evaluation_scenario(training, Evaluation(1000, 100, 4))
    assert scenario.mode == "inference"
    assert scenario.batch == 4
    assert scenario.parallel.is_single
    assert scenario.precision == "fp16" and scenario.seq == 128
    assert scenario.whatifs.fusion == ("attention", "qkv")
    assert scenario.whatifs.mlm_positions == 0.0  # no masked-LM head in a forward graph
    # lengths 1..64 sorted, indexes (i + 0.5) x 64 / 4 = 8, 24, 40, 56
    assert scenario.lengths == SequenceLengths((9, 25, 41, 57), "packed")


def test_phase_time_energy_and_throughput_by_hand(schedule_file: Path, tmp_path: Path) -> None:
    store = GraphStore(tmp_path / "graphs")
    schedule = load_schedule(schedule_file)
    run = time_to_train(schedule, store=store)
    first, second, third = run.phases
    # first phase: 10 steps of 8 over an evaluation every 20 samples: 4 evaluations, each
    # ceil(12 / (2 x 2)) = 3 passes of 2 sequences on each device
    one = simulate(
        Scenario(
            "bert-tiny",
            batch=2,
            seq=64,
            precision="fp16",
            whatifs=parse_whatifs({"fusion": "attention+qkv"}),
        ),
        "a100",
        store=store,
    )
    assert first.evaluations == pytest.approx(4.0)
    assert first.evaluation_s == pytest.approx(3 * one.latency_s)
    assert first.evaluation_energy_j == pytest.approx(3 * one.energy_j * 2)
    step = first.step.step_time_s
    assert first.time_s == pytest.approx(10 * step + 4 * 3 * one.latency_s)
    assert first.energy_j == pytest.approx(10 * first.step.energy_j * 2 + 4 * 3 * one.energy_j * 2)
    row = first.row()
    assert row["throughput_samples_per_s"] == pytest.approx(80 / first.time_s)
    assert row["step_time_s"] == step  # the training step itself is unchanged
    assert "evaluation=12/20@2" in row["whatif"]
    # second phase: its own block, 5 x 8 / 40 = 1 evaluation of ceil(8 / (4 x 2)) = 1 pass
    assert second.evaluations == pytest.approx(1.0)
    assert second.phase.evaluation == Evaluation(40, 8, 4)
    # third phase: the schedule's block, 3 x 8 / 20 = 1.2 evaluations (amortized)
    assert third.evaluations == pytest.approx(1.2)
    assert third.time_s == pytest.approx(3 * third.step.step_time_s + 1.2 * first.evaluation_s)
    assert run.total_time_s == pytest.approx(sum(phase.time_s for phase in run.phases))


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ("  every_samples: 0\n  samples: 12\n  batch: 2\n", "every_samples"),
        ("  every_samples: 20\n  samples: 12\n", "batch"),
        ("  every_samples: 20\n  samples: 12\n  batch: 2\n  start: 3\n", "start"),
    ],
)
def test_bad_evaluation_blocks_name_the_field(tmp_path: Path, block: str, field: str) -> None:
    text = SCHEDULE.replace("  every_samples: 20\n  samples: 12\n  batch: 2\n", block, 1)
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match=f"bad.yaml.*evaluation.*{field}"):
        load_schedule(path)


def test_mlperf_v1_schedule_evaluates_as_its_log_says() -> None:
    # mlcommons/training_results_v1.0, NVIDIA dgxa100_ngc21.05_pytorch, result_0.txt:
    # --eval_iter_start_samples=150000 --eval_iter_samples=150000 --eval_batch_size=16,
    # eval_samples 10000; 20 evaluations in 3,000,256 trained sequences
    schedule = load_schedule(ROOT / "workloads" / "schedules" / "mlperf-v1.0-bert-dgxa100.yaml")
    (phase,) = schedule.phases
    assert phase.evaluation == Evaluation(every_samples=150_000, samples=10_000, batch=16)
    assert math.floor(3_000_256 / phase.evaluation.every_samples) == 20


@pytest.mark.parametrize(
    ("name", "evaluations", "trained"),
    [
        # their logs: eval_accuracy at global steps 10,417, 12,153 and 13,889 of 13,903
        # steps of 288; and at step 11,719 of 11,719 steps of 256
        ("mlperf-v0.7-bert-dgx1.yaml", 3, 288 * 13_903),
        ("mlperf-v0.7-bert-dgxa100.yaml", 1, 256 * 11_719),
    ],
)
def test_mlperf_v07_schedules_evaluate_at_their_runs_rate(
    name: str, evaluations: int, trained: int
) -> None:
    (phase,) = load_schedule(ROOT / "workloads" / "schedules" / name).phases
    assert phase.evaluation is not None
    assert (phase.evaluation.samples, phase.evaluation.batch) == (10_000, 16)
    assert trained / phase.evaluation.every_samples == pytest.approx(evaluations, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.integers(1, 10_000),
    every=st.integers(1, 10**7),
    samples=st.integers(1, 10**5),
    batch=st.integers(1, 256),
    seconds=st.floats(0, 10),
    joules=st.floats(0, 1e4),
)
def test_evaluating_never_makes_a_phase_faster_or_cheaper(
    evaluated_step: PhaseResult,
    steps: int,
    every: int,
    samples: int,
    batch: int,
    seconds: float,
    joules: float,
) -> None:
    phase = replace(evaluated_step.phase, steps=steps, evaluation=Evaluation(every, samples, batch))
    plain = PhaseResult(replace(phase, evaluation=None), evaluated_step.step)
    evaluated = PhaseResult(phase, evaluated_step.step, seconds, joules)
    assert evaluated.time_s >= plain.time_s == plain.training_s
    assert evaluated.energy_j >= plain.energy_j
    assert evaluated.row()["throughput_samples_per_s"] <= plain.row()[
        "throughput_samples_per_s"
    ] * (1 + 1e-12)


@pytest.fixture(scope="module")
def evaluated_step(tmp_path_factory: pytest.TempPathFactory) -> PhaseResult:
    folder = tmp_path_factory.mktemp("evaluated")
    path = folder / "evaluated.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    run = time_to_train(load_schedule(path), store=GraphStore(folder / "graphs"))
    return run.phases[0]


def test_train_table_shows_the_evaluations_only_where_a_phase_has_them(
    schedule_file: Path, graph_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def table(path: Path) -> str:
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(["train", str(path), "--cache-dir", str(graph_cache)])
        assert done.value.code in (0, None)
        return capsys.readouterr().out

    assert "evals" in table(schedule_file)
    # the schedule without its block and without the second phase's own
    text = SCHEDULE.replace("evaluation:\n  every_samples: 20\n  samples: 12\n  batch: 2\n", "")
    text = text.replace(
        "    evaluation:\n      every_samples: 40\n      samples: 8\n      batch: 4\n", ""
    )
    assert "evaluation" not in text
    plain = schedule_file.with_name("plain.yaml")
    plain.write_text(text, encoding="utf-8")
    assert "evals" not in table(plain)
