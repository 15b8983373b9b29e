"""Time to train: schedules load and fail cleanly, phases add up, data parallelism on real
traced training steps keeps its invariants, and the CLI (`run --devices`, `train`) works."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from perfsim.cache import GraphStore
from perfsim.cli import main
from perfsim.errors import SpecError, WorkloadError
from perfsim.parallel.published import compare_published
from perfsim.parallel.schedule import load_schedule
from perfsim.parallel.training_run import time_to_train
from perfsim.pipeline import simulate_parallel
from perfsim.scenario import Parallelism, Scenario

ROOT = Path(__file__).resolve().parent.parent
SCHEDULES = sorted((ROOT / "workloads" / "schedules").glob("*.yaml"))

TINY = """\
version: 1
name: tiny
model: bert-tiny
hw: a100
precision: fp16
optimizer: lamb
devices: 16
phases:
  - name: short
    seq: 64
    global_batch: 256
    steps: 100
    published:
      source: "made up for the test"
      throughput_samples_per_s: 1000
  - name: long
    seq: 128
    global_batch: 128
    steps: 10
    devices: 8
    grad_accum: 2
published:
  source: "made up for the test"
  total_time_s: 1.0
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


@pytest.mark.parametrize("path", SCHEDULES, ids=[path.stem for path in SCHEDULES])
def test_shipped_schedules_load(path: Path) -> None:
    schedule = load_schedule(path)
    assert schedule.phases
    assert schedule.source
    # every shipped schedule carries published figures with their source
    published = [phase.published for phase in schedule.phases if phase.published]
    assert published or schedule.published
    for figures in [*published, schedule.published or {"source": "-"}]:
        assert figures["source"]


def test_lamb_schedule_is_the_papers_recipe() -> None:
    # You et al. 2019, Table 1: 8599 iterations at 64k/32k on 1024 TPUv3 chips
    schedule = load_schedule(ROOT / "workloads" / "schedules" / "lamb-bert-large-tpuv3-pod.yaml")
    steps = [phase.steps for phase in schedule.phases]
    assert steps == [7038, 1561] and sum(steps) == 8599
    assert [phase.global_batch for phase in schedule.phases] == [65536, 32768]
    assert {phase.devices for phase in schedule.phases} == {1024}
    assert schedule.published == {"source": pytest.approx(schedule.published["source"]),
                                  "total_time_s": pytest.approx(76.19 * 60)}  # fmt: skip


def test_lamb_schedules_run_googles_bert_as_on_a_tpu() -> None:
    # google-research/bert: an fp32 model (its matmuls one bf16 pass on the MXUs) whose word
    # embeddings are a one-hot product on TPUs; Table 1's fixed-batch rows at 32 a chip
    folder = ROOT / "workloads" / "schedules"
    rows = {"lamb-bert-large-tpuv3-16": (16, 512, 1_000_000, 298080.0),
            "lamb-bert-large-tpuv3-pod-32k": (1024, 32768, 15_600, 6072.0)}  # fmt: skip
    for name in ("lamb-bert-large-tpuv3-pod", *rows):
        schedule = load_schedule(folder / f"{name}.yaml")
        for phase in schedule.phases:
            assert phase.precision == "fp32"
            assert phase.scenario.whatifs.word_embedding == "one_hot"
        if name in rows:
            chips, batch, steps, seconds = rows[name]
            assert [p.global_batch // p.devices for p in schedule.phases] == [32, 32]
            assert {p.devices for p in schedule.phases} == {chips}
            assert {p.global_batch for p in schedule.phases} == {batch}
            # 9/10 of the steps at seq 128, the rest at 512
            assert [(p.seq, p.steps) for p in schedule.phases] == [
                (128, steps * 9 // 10),
                (512, steps // 10),
            ]
            assert schedule.published["total_time_s"] == pytest.approx(seconds)


def test_phase_knobs_inherit_from_the_top(tiny: Path) -> None:
    short, long = load_schedule(tiny).phases
    assert (short.devices, short.grad_accum, short.optimizer) == (16, 1, "lamb")
    assert (long.devices, long.grad_accum, long.precision) == (8, 2, "fp16")


def test_communication_knobs_inherit_from_the_top(tiny: Path) -> None:
    # DDP's overlapped all-reduce and a whole optimizer per device unless the file says
    text = tiny.read_text(encoding="utf-8")
    plain = [phase.scenario.parallel for phase in load_schedule(tiny).phases]
    assert [(p.overlap, p.sharded_optimizer) for p in plain] == [(True, False)] * 2
    tiny.write_text(
        text.replace("devices: 16\n", "devices: 16\noverlap_communication: false\n").replace(
            "    grad_accum: 2\n", "    grad_accum: 2\n    sharded_optimizer: true\n"
        ),
        encoding="utf-8",
    )
    short, long = (phase.scenario.parallel for phase in load_schedule(tiny).phases)
    assert (short.overlap, short.sharded_optimizer) == (False, False)
    assert (long.overlap, long.sharded_optimizer) == (False, True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("    steps: 10\n", "    steps: 0\n"), "phases[1].steps"),
        (lambda t: t.replace("name: tiny", "name: tiny\ncolour: red"), "colour: unknown key"),
        (lambda t: t.replace("version: 1", "version: 2"), "version"),
        (lambda t: t.replace("model: bert-tiny\n", ""), "model: missing required field"),
    ],
)
def test_bad_schedule_is_one_line(
    tmp_path: Path, change: Callable[[str], str], message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(change(TINY), encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_schedule(path)
    text = str(error.value)
    assert "\n" not in text and "bad.yaml" in text and message in text


def test_phases_add_up(tiny: Path, store: GraphStore) -> None:
    run = time_to_train(load_schedule(tiny), store=store)
    short, long = run.phases
    assert short.step.summary()["micro_batch"] == 256 // 16
    assert long.step.summary()["micro_batch"] == 128 // (8 * 2)
    assert short.time_s == pytest.approx(100 * short.step.step_time_s)
    assert run.total_time_s == pytest.approx(short.time_s + long.time_s)
    # energy to train: steps x joules per device per step x devices
    assert short.energy_j == pytest.approx(100 * short.step.energy_j * 16)
    assert run.energy_j == pytest.approx(short.energy_j + long.energy_j)
    row = long.row()
    forward = sum(op.flops for op in long.step.result.graph.ops if op.phase == "forward")
    # 3 x forward convention, two micro-steps per step
    assert row["model_flops_per_s_per_device"] == pytest.approx(
        3 * 2 * forward / row["step_time_s"]
    )
    assert row["throughput_samples_per_s"] == pytest.approx(128 / row["step_time_s"])
    comparison = compare_published(run)
    assert [(r["phase"], r["metric"]) for r in comparison] == [
        ("short", "throughput_samples_per_s"),
        ("all", "total_time_s"),
    ]
    assert comparison[1]["error"] == pytest.approx(run.total_time_s / 1.0 - 1)


def test_a_phase_that_does_not_split_names_file_and_phase(tiny: Path, store: GraphStore) -> None:
    tiny.write_text(TINY.replace("global_batch: 128", "global_batch: 100"), encoding="utf-8")
    with pytest.raises(WorkloadError) as error:
        time_to_train(load_schedule(tiny), store=store)
    assert "tiny.yaml: phases[1]: --batch: global batch 100 does not split" in str(error.value)


# ---- invariants on real traced training steps ---------------------------------------------


def data_parallel(
    model: str, store: GraphStore, *, batch: int, seq: int, devices: int, grad_accum: int = 1
) -> Any:
    """A data-parallel training step on A100s (`simulate_parallel`)."""
    step = Scenario(
        model, batch=batch, seq=seq, mode="training", parallel=Parallelism(devices, grad_accum)
    )
    return simulate_parallel(step, "a100", store=store)


def test_more_devices_never_increase_compute_per_step(store: GraphStore) -> None:
    # the same global batch over more devices: each device's micro-batch shrinks
    compute = [
        data_parallel("bert-tiny", store, batch=64, devices=devices, seq=64).compute_s
        for devices in (1, 2, 4, 8, 16)
    ]
    assert all(later <= earlier for earlier, later in itertools.pairwise(compute))
    assert compute[-1] < compute[0]


def test_communication_grows_with_parameters(store: GraphStore) -> None:
    def step(model: str) -> Any:
        return data_parallel(model, store, batch=16, devices=16, seq=32)

    tiny, mini = step("bert-tiny"), step("bert-mini")
    assert mini.result.graph.meta.params > tiny.result.graph.meta.params
    assert mini.communication_s > tiny.communication_s
    # every trainable parameter's gradient is all-reduced exactly once
    grads = tiny.result.graph.meta.grad_ready
    assert sum(bucket.n_grads for bucket in tiny.buckets) == len(grads)
    assert tiny.summary()["gradient_bytes"] == sum(b.nbytes for b in tiny.buckets)


def test_grad_accum_keeps_communication_and_repeats_compute(store: GraphStore) -> None:
    once = data_parallel("bert-tiny", store, batch=32, devices=8, seq=32)
    twice = data_parallel("bert-tiny", store, batch=64, devices=8, grad_accum=2, seq=32)
    # same micro-batch (4), same gradients: one all-reduce per step either way
    assert twice.communication_s == pytest.approx(once.communication_s)
    # twice the micro-steps, the second adding its gradients into the first's
    assert once.accumulation is None and twice.accumulation is not None
    accumulation = twice.accumulation.latency_s
    assert twice.compute_s == pytest.approx(2 * once.micro_s + accumulation + once.optimizer_s)
    assert twice.summary()["throughput_samples_per_s"] > once.summary()["throughput_samples_per_s"]


def test_accumulation_adds_are_issued_by_the_steps_runtime(store: GraphStore) -> None:
    # under eager PyTorch each add is a kernel the host issues, as the micro-step's are: the
    # pass takes at least its launches at a100.yaml's host_issue.eager (10 us each)
    step = Scenario(
        "bert-tiny", batch=64, seq=32, mode="training", parallel=Parallelism(8, 2), runtime="eager"
    )
    eager = simulate_parallel(step, "a100", store=store)
    plain = simulate_parallel(step.but(runtime=None), "a100", store=store)
    assert eager.accumulation is not None and plain.accumulation is not None
    adds = len(eager.accumulation.costs)
    assert adds == len(eager.result.graph.meta.grad_ready or ())
    assert eager.accumulation.latency_s >= adds * 10e-6
    assert eager.accumulation.latency_s > plain.accumulation.latency_s


# ---- CLI --------------------------------------------------------------------------------


@pytest.fixture
def perfsim(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    def invoke(*args: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        code = done.value.code
        return (code if isinstance(code, int) else 1), out, err

    return invoke


def test_run_devices_json(perfsim: Callable[..., tuple[int, str, str]], graph_cache: Path) -> None:
    code, out, err = perfsim(
        "run", "-m", "bert-tiny", "--hw", "a100", "--mode", "training", "-b", "64", "-s", "64",
        "--devices", "16", "--grad-accum", "2", "-f", "json", "--cache-dir", graph_cache,
    )  # fmt: skip
    assert (code, err) == (0, "")
    summary = json.loads(out)
    assert (summary["devices"], summary["grad_accum"], summary["micro_batch"]) == (16, 2, 2)
    assert summary["global_batch"] == summary["batch"] == 64
    assert summary["step_time_s"] == pytest.approx(
        summary["compute_s"] + summary["exposed_communication_s"]
    )
    assert summary["latency_s"] == summary["step_time_s"]
    collective = summary["by_category"]["collective"]
    assert collective["latency_s"] == pytest.approx(summary["exposed_communication_s"])
    assert summary["collective_algorithm"].startswith("hierarchical")  # 16 GPUs = 2 DGX nodes


def test_run_without_overlap_and_with_a_sharded_optimizer(
    perfsim: Callable[..., tuple[int, str, str]], graph_cache: Path
) -> None:
    base = ("run", "-m", "bert-tiny", "--hw", "a100", "--mode", "training", "-b", "16",
            "--devices", "4", "-f", "json", "--cache-dir", graph_cache)  # fmt: skip
    ddp = json.loads(perfsim(*base)[1])
    code, out, err = perfsim(*base, "--no-overlap", "--sharded-optimizer")
    assert (code, err) == (0, "")
    run = json.loads(out)
    # the whole exchange after backward; a quarter of the optimizer on each device
    assert run["exposed_communication_s"] == pytest.approx(run["communication_s"])
    assert run["communication_s"] == pytest.approx(ddp["communication_s"])
    assert run["optimizer_s"] == pytest.approx(ddp["optimizer_s"] / 4)


def test_run_devices_needs_training(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = perfsim("run", "-m", "bert-tiny", "--hw", "a100", "--devices", "2")
    assert (code, out) == (2, "")
    assert err == "WorkloadError: --devices/--grad-accum: data parallelism needs --mode training\n"


def test_train_cli(
    perfsim: Callable[..., tuple[int, str, str]], tiny: Path, tmp_path: Path, graph_cache: Path
) -> None:
    out_dir = tmp_path / "out"
    code, out, err = perfsim(
        "train", tiny, "--cache-dir", graph_cache, "-f", "json", "--out", out_dir
    )
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert [phase["phase"] for phase in data["runs"][0]["phases"]] == ["short", "long"]
    assert {row["metric"] for row in data["validation"]} == {
        "throughput_samples_per_s",
        "total_time_s",
    }
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "phases.csv",
        "training.json",
        "validation.csv",
        "validation.md",
    ]
    assert "Made by `perfsim train" in (out_dir / "validation.md").read_text(encoding="utf-8")
    code, out, err = perfsim("train", tiny, "--cache-dir", graph_cache)
    assert code == 0 and "time to train" in out and "predicted vs published" in out


def test_train_bad_schedule_writes_nothing(
    perfsim: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("steps: 100", "steps: -1"), encoding="utf-8")
    out_dir = tmp_path / "out"
    code, out, err = perfsim("train", bad, "--out", out_dir)
    assert (code, out) == (2, "")
    assert err.startswith("SpecError: ") and "phases[0].steps" in err and err.count("\n") == 1
    assert not out_dir.exists()
