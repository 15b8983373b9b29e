"""The ``mlm_positions`` what-if (`perfsim.whatif.mlm_gather`) and what-ifs in training
schedules and data-parallel steps.

Hand-derived FLOPs of BERT-Tiny's masked-LM head (hidden H = 128, vocabulary V = 30522) at
batch B = 4, sequence S = 32, so M = B*S = 128 rows: the head's two weight GEMMs
(transform dense H x H, decoder H x V) cost 2 M H (H + V) FLOPs forward and twice that
backward (input and weight gradients). Gathering P positions per sequence makes that
M' = B*P. M = H here on purpose: the rewrite must tell the token axis from the hidden one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perfsim.cache import GraphStore
from perfsim.errors import SpecError
from perfsim.ir import OpGraph
from perfsim.parallel.schedule import load_schedule
from perfsim.parallel.training_run import time_to_train
from perfsim.pipeline import simulate, simulate_parallel
from perfsim.scenario import Parallelism
from perfsim.whatif import fuse, parse_whatifs
from perfsim.whatif.knobs import WhatIfError
from perfsim.whatif.mlm_gather import mlm_gather, positions_for
from tests.conftest import scenario

B, S, H, V = 4, 32, 128, 30522
M = B * S


@pytest.fixture(scope="module")
def step(store: GraphStore) -> OpGraph:
    """BERT-Tiny's fp32 pre-training step (SGD) at batch 4, seq 32."""
    return store.graph(
        scenario("bert-tiny", batch=B, seq=S, mode="training", optimizer="sgd").workload()
    )


def _head_matrix_flops(graph: OpGraph, phase: str) -> int:
    return sum(
        op.flops
        for op in graph.ops
        if op.scope.startswith("cls.predictions") and op.category.is_matrix and op.phase == phase
    )


@pytest.mark.parametrize("positions", [5, 20, 0.15])
def test_head_flops_follow_the_gathered_rows(step: OpGraph, positions: float) -> None:
    p = 5 if positions == 5 else 20 if positions == 20 else round(0.15 * S)
    rows = B * p
    assert _head_matrix_flops(step, "forward") == 2 * M * H * (H + V)
    assert _head_matrix_flops(step, "backward") == 4 * M * H * (H + V)
    gathered = mlm_gather(step, positions)
    assert _head_matrix_flops(gathered, "forward") == 2 * rows * H * (H + V)
    assert _head_matrix_flops(gathered, "backward") == 4 * rows * H * (H + V)
    # everything outside the head and the MLM loss is untouched
    head_or_loss = {
        op.name
        for op in step.ops
        if op.scope.startswith("cls.predictions")
        or any(t.shape == (M, V) for t in (*op.inputs, *op.outputs))
    }
    before = {op.name: op for op in step.ops if op.name not in head_or_loss}
    after = {op.name: op for op in gathered.ops if op.name in before}
    assert after.keys() == before.keys()
    assert all(after[name].flops == before[name].flops for name in before)
    assert all(after[name].bytes_total == before[name].bytes_total for name in before)


def test_gather_and_its_gradient(step: OpGraph) -> None:
    graph = mlm_gather(step, 20)
    by_name = {op.name: op for op in graph.ops}
    gather = by_name["cls.predictions/index_select"]
    scatter = by_name["cls.predictions/index_add"]
    rows = B * 20
    # reads the gathered rows and the indices, writes the rows (fp32)
    assert gather.bytes_read == rows * H * 4 + rows * 8
    assert gather.bytes_written == rows * H * 4
    # backward: the rows added into a zeroed M x H gradient, one add per gathered element
    assert (scatter.flops, scatter.bytes_written) == (rows * H, M * H * 4)
    assert scatter.phase == "backward" and gather.phase == "forward"
    # the loss runs over the gathered logits only
    loss = [op for op in graph.ops if "log_softmax" in op.target or "nll_loss" in op.target]
    logits = {t.shape for op in loss for t in op.inputs if V in t.shape}
    assert logits == {(rows, V)}
    # deps stay in order and point backwards; the head reads the gathered rows
    names = [op.name for op in graph.ops]
    assert all(dep < index for index, op in enumerate(graph.ops) for dep in op.deps)
    dense = names.index("cls.predictions.transform.dense/addmm")
    assert graph.ops[dense].deps == (names.index("cls.predictions/index_select"),)
    assert len(graph.ops) == len(step.ops) + 2


def _ready_names(graph: OpGraph) -> list[str]:
    assert graph.meta.grad_ready is not None
    return [graph.ops[index].name for index, _, _ in graph.meta.grad_ready]


def test_grad_ready_indices_follow_added_ops(step: OpGraph) -> None:
    before = _ready_names(step)
    gathered = mlm_gather(step, 20)
    after = _ready_names(gathered)
    # a gradient final at the head's input-gradient GEMM is final once its gather
    # gradient has run; every other index names the same op as before
    moved = {
        "cls.predictions.transform.dense/mm": "cls.predictions/index_add",
    }
    assert after == [moved.get(name, name) for name in before]
    # fusion's FlashAttention recomputation inserts ops too: the same names again (every
    # pass but qkv, which moves the projections' gradients to their fused ops: test_qkv.py)
    passes = "epilogue+softmax+layernorm+attention+optimizer"
    fused, _ = fuse(gathered, parse_whatifs({"fusion": passes}).fusion)
    assert len(fused.ops) > len(gathered.ops)
    assert _ready_names(fused) == after


def test_positions_are_checked(step: OpGraph) -> None:
    assert positions_for(0.15, 128) == 19 and positions_for(80, 512) == 80
    with pytest.raises(WhatIfError, match="exceed the sequence length 32"):
        mlm_gather(step, 40)
    assert mlm_gather(step, S) is step  # every position: nothing to gather
    with pytest.raises(WhatIfError, match=r"whatif\.mlm_positions"):
        parse_whatifs({"mlm_positions": 1.5})
    assert parse_whatifs({"mlm_positions": "20"}).mlm_positions == 20


def test_needs_a_masked_lm_head(store: GraphStore) -> None:
    graph = store.graph(scenario("bert-tiny", batch=1, seq=32).workload())
    with pytest.raises(WhatIfError, match="masked-LM head"):
        mlm_gather(graph, 5)


def test_data_parallel_step_carries_training_whatifs(store: GraphStore) -> None:
    whatifs = parse_whatifs({"fusion": "all", "mlm_positions": 5})
    base = scenario("bert-tiny", batch=8, seq=32, mode="training", optimizer="lamb")
    plain = base.but(parallel=Parallelism(devices=2))
    tuned = plain.but(whatifs=whatifs)
    step = simulate_parallel(tuned, "a100", store=store)
    # the device's step is the single-device what-if step at the micro-batch
    single = simulate(base.but(batch=4, whatifs=whatifs), "a100", store=store)
    assert step.result.latency_s == pytest.approx(single.latency_s)
    unfused = simulate_parallel(plain, "a100", store=store)
    assert step.step_time_s < unfused.step_time_s
    # the buckets close at the same ops (by name) in the transformed graph as in the plain one
    assert step.buckets and len(step.buckets) == len(unfused.buckets)
    names = [
        [run.result.graph.ops[bucket.last_op].name for bucket in run.buckets]
        for run in (step, unfused)
    ]
    assert names[0] == names[1]
    with pytest.raises(SpecError, match="--whatif quant: not available"):
        simulate_parallel(plain.but(whatifs=parse_whatifs({"quant": "int8"})), "a100")


SCHEDULE = """
version: 1
name: tiny
model: bert-tiny
hw: a100
optimizer: lamb
head: pretraining
devices: 2
whatif:
  fusion: all
  mlm_positions: 5
phases:
  - name: short
    seq: 32
    global_batch: 8
    steps: 3
  - name: long
    seq: 64
    global_batch: 8
    steps: 1
    whatif:
      mlm_positions: 10
"""


def test_schedule_whatifs_per_schedule_and_phase(tmp_path: Path, store: GraphStore) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    schedule = load_schedule(path)
    short, long = (phase.scenario.whatifs for phase in schedule.phases)
    assert short == parse_whatifs({"fusion": "all", "mlm_positions": 5})
    assert long == parse_whatifs({"fusion": "all", "mlm_positions": 10})
    run = time_to_train(schedule, store=store)
    rows = [phase.row() for phase in run.phases]
    assert rows[1]["whatif"] == "fusion=all mlm_positions=10"
    expected = simulate_parallel(schedule.phases[1].scenario, "a100", store=store)
    assert run.phases[1].step_time_s == pytest.approx(expected.step_time_s)


def test_schedule_rejects_bad_or_untrainable_whatifs(tmp_path: Path, store: GraphStore) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SCHEDULE.replace("mlm_positions: 10", "mlm_position: 10"), encoding="utf-8")
    with pytest.raises(WhatIfError, match=r"phases\[1\]: whatif.mlm_position: unknown knob"):
        load_schedule(path)
    path.write_text(SCHEDULE.replace("mlm_positions: 10", "quant: int8"), encoding="utf-8")
    with pytest.raises(SpecError, match="phases\\[1\\]: --whatif quant"):
        time_to_train(load_schedule(path), store=store)
