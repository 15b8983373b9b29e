"""The committed predicted-vs-published table of whole training runs
(`results/validation/training/`) covers every published figure of the shipped schedules, its
error column is its own arithmetic, and perfsim still predicts what was committed.

Published figures (also in each schedule file, with the source):

- You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
  ICLR 2020 (arXiv:1904.00962), Table 1: BERT-large, LAMB, 64k/32k mixed batch, 8599
  iterations, 76.19 minutes on a 1024-chip TPUv3 pod; and two of its fixed-batch rows, batch
  512 for 1000k iterations on 16 chips in 82.8 h, batch 32k for 15.6k on 1024 in 101.2 min.
- DeepSpeed blog, 2020-05-28 ("fastest BERT training"): one V100, 272 samples/s at seq 128
  (64 TFLOP/s) and 52 samples/s at seq 512 (53 TFLOP/s), TFLOP/s as 3 x forward FLOPs.
- MLPerf Training v1.0, mlcommons/training_results_v1.0, NVIDIA dgxa100_ngc21.05_pytorch:
  8x A100-80GB, 2,069 sequences/s at seq 512 (its train_samples over its raw_train_time;
  the log's 2,193 counts max_steps, not the 6,697 steps the run took).
- MLPerf Training v0.7, mlcommons/training_results_v0.7, Google tpu-v3-32-TF2.0: 16 TPUv3
  chips, 1117-step blocks of 514.2-514.6 s in the logs, 973 sequences/s at seq 512.
- MLPerf Training v0.7, NVIDIA dgx1_ngc20.06_pytorch: 8x V100, the log's
  training_sequences_per_second 374.15 at seq 512 (the run did all its max_steps).
- MLPerf Training v0.7, NVIDIA dgxa100_ngc20.06_pytorch: 8x A100-40GB, the same code, 1,052
  sequences/s at seq 512 (train_samples / raw_train_time; it stopped at step 11,719).

Regenerate the table with the command in its README after any change to the tracer, the
engines or the hardware files; this test then pins the new figures.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from perfsim.cache import GraphStore
from perfsim.parallel.published import compare_published
from perfsim.parallel.schedule import load_schedule
from perfsim.parallel.training_run import time_to_train

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "validation" / "training"
SCHEDULES = ROOT / "workloads" / "schedules"

PUBLISHED = {
    ("lamb-bert-large-tpuv3-pod", "all", "total_time_s"): 76.19 * 60,
    ("lamb-bert-large-tpuv3-16", "all", "total_time_s"): 82.8 * 3600,
    ("lamb-bert-large-tpuv3-pod-32k", "all", "total_time_s"): 101.2 * 60,
    ("deepspeed-bert-large-v100", "seq128", "throughput_samples_per_s"): 272.0,
    ("deepspeed-bert-large-v100", "seq128", "model_flops_per_s_per_device"): 64e12,
    ("deepspeed-bert-large-v100", "seq512", "throughput_samples_per_s"): 52.0,
    ("deepspeed-bert-large-v100", "seq512", "model_flops_per_s_per_device"): 53e12,
    ("mlperf-v1.0-bert-dgxa100", "seq512", "throughput_samples_per_s"): 2068.9,
    ("mlperf-v0.7-bert-tpuv3-32", "seq512", "throughput_samples_per_s"): 973.0,
    ("mlperf-v0.7-bert-dgx1", "seq512", "throughput_samples_per_s"): 374.15,
    ("mlperf-v0.7-bert-dgxa100", "seq512", "throughput_samples_per_s"): 1052.0,
    ("dle-20.06-bert-large-a100", "seq128", "throughput_samples_per_s"): 415.0,
    ("dle-20.06-bert-large-a100", "seq512", "throughput_samples_per_s"): 78.0,
    ("dle-20.06-bert-large-v100", "seq128", "throughput_samples_per_s"): 158.0,
    ("dle-20.06-bert-large-v100", "seq512", "throughput_samples_per_s"): 33.0,
    ("dle-20.06-bert-large-v100", "seq128-fp32", "throughput_samples_per_s"): 40.0,
    ("dle-20.06-bert-large-v100", "seq512-fp32", "throughput_samples_per_s"): 9.0,
    ("dle-20.06-bert-large-a100", "seq128-tf32", "throughput_samples_per_s"): 234.0,
    ("dle-20.06-bert-large-a100", "seq512-tf32", "throughput_samples_per_s"): 41.0,
    ("dle-20.06-bert-large-a100", "squad-seq384", "throughput_samples_per_s"): 116.0,
    ("dle-20.06-bert-large-v100", "squad-seq384", "throughput_samples_per_s"): 49.0,
}


ENGINES = ("roofline", "cycle")


def _committed(engine: str = "roofline") -> dict[tuple[str, str, str], dict[str, str]]:
    with (RESULTS / engine / "validation.csv").open(encoding="utf-8") as stream:
        return {(r["schedule"], r["phase"], r["metric"]): r for r in csv.DictReader(stream)}


@pytest.mark.parametrize("engine", ENGINES)
def test_table_covers_every_published_figure(engine: str) -> None:
    rows = _committed(engine)
    assert set(rows) == set(PUBLISHED)
    for key, published in PUBLISHED.items():
        row = rows[key]
        assert float(row["published"]) == pytest.approx(published), key
        assert row["source"], key
        error = float(row["predicted"]) / float(row["published"]) - 1
        assert float(row["error"]) == pytest.approx(error, rel=1e-9, abs=1e-12), key


def test_schedules_carry_the_same_published_figures() -> None:
    found = {}
    for path in sorted(SCHEDULES.glob("*.yaml")):
        schedule = load_schedule(path)
        for phase in schedule.phases:
            for metric, value in phase.published.items():
                if metric != "source":
                    found[(schedule.name, phase.name, metric)] = value
        for metric, value in (schedule.published or {}).items():
            if metric != "source":
                found[(schedule.name, "all", metric)] = value
    assert found == pytest.approx(PUBLISHED)


@pytest.mark.parametrize("engine", ENGINES)
def test_markdown_matches_the_csv(engine: str) -> None:
    text = (RESULTS / engine / "validation.md").read_text(encoding="utf-8")
    assert text.startswith("Made by `perfsim train ")
    assert ("--engine cycle" in text) == (engine == "cycle")
    for (schedule, phase, metric), row in _committed(engine).items():
        line = f"| {schedule} | {row['hw']} | {phase} | {metric} |"
        assert line in text
        assert f"{float(row['error']):+.1%} |" in text


def test_perfsim_still_predicts_the_committed_figure(store: GraphStore) -> None:
    # one published case regenerated in full (one BERT-large training trace, ~15 s): the
    # DeepSpeed V100 step at seq 128 on the roofline; the others cost the same machinery at
    # other shapes
    schedule = load_schedule(SCHEDULES / "deepspeed-bert-large-v100.yaml")
    first = replace(schedule, phases=schedule.phases[:1])
    rows = compare_published(time_to_train(first, store=store))
    committed = _committed()
    assert rows
    for row in rows:
        expected = committed[(row["schedule"], row["phase"], row["metric"])]
        assert row["predicted"] == pytest.approx(float(expected["predicted"]), rel=1e-6)
        assert row["error"] == pytest.approx(float(expected["error"]), rel=1e-6, abs=1e-9)
