"""Real sequence lengths in training steps: packed == traced at one length, per-sequence
and per-step ops, gradient-ready indices, the masked-LM gather, data-parallel shares and
schedule files (`perfsim.whatif.lengths`, `perfsim.pipeline.simulate_parallel`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.cache import GraphStore
from perfsim.hardware import resolve_hardware
from perfsim.ir import OpGraph
from perfsim.parallel.schedule import load_schedule
from perfsim.parallel.training_run import time_to_train
from perfsim.pipeline import scenario_graph, simulate, simulate_parallel
from perfsim.scenario import Parallelism, Scenario
from perfsim.training.footprint import memory_footprint
from perfsim.whatif.knobs import WhatIfError, parse_whatifs
from perfsim.whatif.lengths import (
    LengthsError,
    SequenceLengths,
    balanced_shares,
    heaviest_share,
)

A100 = resolve_hardware("a100")
H = 128  # bert-tiny's hidden size


def step(batch: int = 2, seq: int = 16, **fields: object) -> Scenario:
    return Scenario("bert-tiny", batch=batch, seq=seq, mode="training", precision="fp16", **fields)  # type: ignore[arg-type]


def flops_by(graph: OpGraph, *keys: str) -> Counter[tuple[str, ...]]:
    totals: Counter[tuple[str, ...]] = Counter()
    for op in graph.ops:
        key = tuple(op.phase if k == "phase" else op.category.value for k in keys)
        totals[key] += op.flops
    return totals


@pytest.mark.parametrize(("batch", "seq"), [(2, 16), (3, 24)])
def test_equal_packed_lengths_reproduce_the_traced_step(
    batch: int, seq: int, store: GraphStore
) -> None:
    traced = scenario_graph(step(batch, seq), A100, store)
    packed = scenario_graph(
        step(batch, seq, lengths=SequenceLengths((seq,) * batch, "packed")), A100, store
    )
    want, got = flops_by(traced, "phase", "category"), flops_by(packed, "phase", "category")
    # every forward op, every GEMM (forward and backward, the pooler's and next-sentence
    # head's per sequence) and the whole optimizer step are exactly the traced step's
    for key in set(want) | set(got):
        phase, category = key
        if phase in ("forward", "optimizer") or category in ("gemm", "attn_gemm"):
            assert got[key] == want[key], key
    # what differs is the batched trace's sum of the position-embedding gradient over the
    # batch (the packed step runs its tokens as one sequence): n x seq x hidden FLOPs
    assert sum(want.values()) - sum(got.values()) == pytest.approx(0, abs=batch * seq * H)
    assert packed.meta.batch == batch


def test_per_sequence_ops_scale_their_batch_axis_only(store: GraphStore) -> None:
    one = scenario_graph(step(1, 16), A100, store)
    four = scenario_graph(step(4, lengths=SequenceLengths((16, 5, 9, 16), "packed")), A100, store)
    by_name = {op.name: op for op in four.ops}
    # the pooler's weight gradient dW = Xᵀ dY: its depth k is the batch (1 -> 4 sequences)
    pooler_dw = next(op for op in one.ops if op.name == "bert.pooler.dense/mm#1")
    assert pooler_dw.dims["k"] == 1
    assert by_name["bert.pooler.dense/mm#1"].dims == {**pooler_dw.dims, "k": 4}
    assert by_name["bert.pooler.dense/mm#1"].outputs == pooler_dw.outputs  # (H, H)
    # its forward GEMM: m is the batch
    assert by_name["bert.pooler.dense/addmm"].dims["m"] == 4
    # optimizer updates and the embedding table's gradient run once per step
    for op in one.ops:
        if op.phase == "optimizer" or op.name == "bert.embeddings.word_embeddings/add":
            assert by_name[op.name].flops == op.flops
            assert by_name[op.name].bytes_read == op.bytes_read


def test_gradient_ready_indices_follow_the_copies(store: GraphStore) -> None:
    # three distinct lengths: every score op gains copies, the ops after them shift
    probe = scenario_graph(step(1, 16), A100, store)
    packed = scenario_graph(step(3, lengths=SequenceLengths((4, 9, 16), "packed")), A100, store)
    assert len(packed.ops) > len(probe.ops)
    assert probe.meta.grad_ready is not None and packed.meta.grad_ready is not None
    for (old, numel, dtype), (new, numel2, dtype2) in zip(
        probe.meta.grad_ready, packed.meta.grad_ready, strict=True
    ):
        assert (numel, dtype) == (numel2, dtype2)
        # the same op (a score op's last copy carries its name and a length suffix)
        assert packed.ops[new].name.split("@")[0] == probe.ops[old].name


def test_masked_lm_gather_counts_real_tokens(store: GraphStore) -> None:
    lengths = SequenceLengths((10, 30, 20), "packed")
    fraction = simulate(
        step(3, whatifs=parse_whatifs({"mlm_positions": 0.15}), lengths=lengths), A100, store=store
    )
    decoder = next(op for op in fraction.graph.ops if op.name.endswith("decoder/addmm"))
    assert decoder.dims["m"] == round(0.15 * 60)  # 15% of the 60 real tokens
    count = simulate(
        step(3, whatifs=parse_whatifs({"mlm_positions": 4}), lengths=lengths), A100, store=store
    )
    decoder = next(op for op in count.graph.ops if op.name.endswith("decoder/addmm"))
    assert decoder.dims["m"] == 3 * 4
    with pytest.raises(WhatIfError, match="exceed the shortest sequence"):
        simulate(
            step(3, whatifs=parse_whatifs({"mlm_positions": 12}), lengths=lengths),
            A100,
            store=store,
        )


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 512), min_size=1, max_size=24),
    parts=st.integers(1, 6),
)
def test_balanced_shares_partition_the_batch(lengths: list[int], parts: int) -> None:
    total = len(lengths) - len(lengths) % parts
    lengths = lengths[:total] or [1] * parts
    shares = balanced_shares(lengths, parts)
    assert sorted(x for share in shares for x in share) == sorted(lengths)
    assert {len(share) for share in shares} == {len(lengths) // parts}
    # longest first to the lightest open share: no two shares differ by more than the longest
    tokens = [sum(share) for share in shares]
    assert max(tokens) - min(tokens) <= max(lengths)
    assert sum(heaviest_share(lengths, parts)) == max(tokens)


def test_shares_that_do_not_split() -> None:
    with pytest.raises(LengthsError, match="do not split into 2 equal shares"):
        balanced_shares((1, 2, 3), 2)


def test_data_parallel_step_with_lengths(store: GraphStore) -> None:
    lengths = SequenceLengths((16, 4, 8, 12), "packed")
    dp = simulate_parallel(step(4, lengths=lengths, parallel=Parallelism(2)), A100, store=store)
    # the global batch is the lengths'; each device runs two, the heaviest share (16 + 4 or
    # 12 + 8: both 20 tokens, 16 + 4 has more score elements)
    assert dp.summary()["batch"] == 4 and dp.result.graph.meta.batch == 2
    assert dp.result.graph.meta.seq_lengths["tokens"] == 20
    assert dp.result.graph.meta.seq_lengths["max"] == 16
    alone = simulate(step(2, lengths=SequenceLengths((16, 4), "packed")), A100, store=store)
    assert dp.result.flops == alone.flops


SCHEDULE = """\
version: 1
name: tiny-lengths
model: bert-tiny
hw: a100
precision: fp16
optimizer: lamb
devices: 2
whatif:
  fusion: all
phases:
  - name: packed
    seq: 64
    global_batch: 8
    steps: 10
    seq_lengths: lengths.csv
    padding: packed
  - name: padded
    seq: 64
    global_batch: 8
    steps: 10
    seq_lengths: lengths.csv
"""


def test_schedule_lengths_fill_the_batch(tmp_path: Path, store: GraphStore) -> None:
    (tmp_path / "lengths.csv").write_text("length\n40\n10\n", encoding="utf-8")
    path = tmp_path / "tiny.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    schedule = load_schedule(path)
    packed, padded = schedule.phases
    # two lengths, repeated to the global batch of 8
    assert packed.scenario.lengths == SequenceLengths((40, 10) * 4, "packed", None)
    assert padded.scenario.lengths == SequenceLengths((40, 10) * 4, "padded", 64)
    run = time_to_train(schedule, store=store)
    fast, slow = (phase.step.step_time_s for phase in run.phases)
    assert fast < slow  # 50 tokens a device against 2 x 64 padded


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("length\n40\n10\n20\n", "3 lengths do not fill the global batch 8"),
        ("length\n80\n10\n", "a sequence of 80 tokens exceeds the phase's seq 64"),
        ("length\n40\nten\n", "length #2"),
    ],
)
def test_schedule_lengths_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "lengths.csv").write_text(text, encoding="utf-8")
    path = tmp_path / "tiny.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    with pytest.raises(LengthsError) as error:
        load_schedule(path)
    assert "tiny.yaml: phases[0]: seq_lengths" in str(error.value)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(("mode", "tolerance"), [("training", 0.12), ("inference", 0.25)])
@pytest.mark.parametrize(("batch", "seq"), [(8, 128), (2, 512), (32, 64)])
def test_footprint_of_packed_lengths_follows_the_traced_batch(
    mode: str, tolerance: float, batch: int, seq: int, store: GraphStore
) -> None:
    # the probe's measured footprint, its activations scaled by the forward bytes written:
    # within 12% of the traced step's saved activations, 25% of the inference peak
    precision = "fp16" if mode == "training" else None
    traced = Scenario("bert-base", batch=batch, seq=seq, mode=mode, precision=precision)
    packed = traced.but(lengths=SequenceLengths((seq,) * batch, "packed"))
    want = memory_footprint(scenario_graph(traced, A100, store).meta, precision)
    got = memory_footprint(scenario_graph(packed, A100, store).meta, precision)
    assert want is not None and got is not None
    assert got.weights == want.weights and got.gradients == want.gradients
    assert got.optimizer_state == want.optimizer_state
    assert got.activations == pytest.approx(want.activations, rel=tolerance)


@settings(max_examples=8, deadline=None)
@given(lengths=st.lists(st.integers(1, 48), min_size=1, max_size=4))
def test_packing_a_training_step_never_costs_more_than_padding(lengths: list[int]) -> None:
    store = _STORE[0]
    n = len(lengths)
    packed = simulate(step(n, lengths=SequenceLengths(tuple(lengths), "packed")), A100, store=store)
    padded = simulate(step(n, lengths=SequenceLengths(tuple(lengths), "padded")), A100, store=store)
    assert packed.flops <= padded.flops
    assert packed.graph.meta.seq_lengths["tokens"] == sum(lengths)


_STORE: list[GraphStore] = []


@pytest.fixture(autouse=True)
def _share_store(store: GraphStore) -> None:
    """Hypothesis tests cannot take function-scoped fixtures: the session store, shared."""
    _STORE[:] = [store]
