"""The ``word_embedding=one_hot`` what-if (`perfsim.whatif.one_hot`): Google's BERT on TPUs
looks its word embeddings up as ``one_hot(ids) x table``.

By hand for BERT-Tiny (hidden H = 128, vocabulary V = 30522) at batch B = 2, sequence
S = 16, so T = B*S = 32 tokens, fp32: the forward product costs 2 T V H FLOPs and reads a
T x V one-hot matrix that an element-wise op wrote (4 T V bytes); the backward's weight
gradient one_hot^T x dY costs 2 V T H FLOPs and writes the V x H table gradient.
"""

from __future__ import annotations

import pytest

from perfsim.cache import GraphStore
from perfsim.estimate import estimate_graph
from perfsim.hardware import resolve_hardware
from perfsim.ir import Category, OpGraph
from perfsim.whatif import parse_whatifs
from perfsim.whatif.knobs import WhatIfError
from perfsim.whatif.one_hot import one_hot_embeddings
from tests.conftest import scenario

B, S, H, V = 2, 16, 128, 30522
T = B * S
WORD = "bert.embeddings.word_embeddings"


@pytest.fixture(scope="module")
def step(store: GraphStore) -> OpGraph:
    """BERT-Tiny's fp32 pre-training step (SGD) at batch 2, seq 16."""
    return store.graph(
        scenario("bert-tiny", batch=B, seq=S, mode="training", optimizer="sgd").workload()
    )


def _word_ops(graph: OpGraph) -> list:
    return [op for op in graph.ops if op.scope == WORD]


def test_the_lookup_becomes_a_one_hot_product_by_hand(step: OpGraph) -> None:
    rewritten = one_hot_embeddings(step, "one_hot")
    ops = {(op.phase, op.target): op for op in _word_ops(rewritten)}
    assert ("forward", "aten.embedding.default") not in ops
    assert ("backward", "aten.embedding_dense_backward.default") not in ops
    one_hots = [op for op in _word_ops(rewritten) if op.target == "aten.one_hot.default"]
    assert [op.phase for op in one_hots] == ["forward", "backward"]
    for op in one_hots:
        assert op.category is Category.ELEMENTWISE
        assert op.bytes_written == 4 * T * V  # fp32, tf.one_hot's default dtype
        assert op.flops == T * V  # one compare an element
    forward = ops[("forward", "aten.mm.default")]
    assert forward.category is Category.GEMM
    assert dict(forward.dims) == {"b": 1, "m": T, "n": H, "k": V}
    assert forward.flops == 2 * T * V * H
    assert forward.bytes_read == 4 * (T * V + V * H)  # the one-hot matrix and the table
    assert forward.outputs[0].shape == (B, S, H)
    backward = ops[("backward", "aten.mm.default")]
    assert dict(backward.dims) == {"b": 1, "m": V, "n": H, "k": T}
    assert backward.flops == 2 * V * T * H
    assert backward.bytes_read == 4 * (T * V + T * H)  # the one-hot matrix and dY
    assert backward.bytes_written == 4 * V * H  # the table's gradient
    assert not any(t.role == "weight" for t in backward.inputs)  # a weight gradient


def test_nothing_else_moves(step: OpGraph) -> None:
    rewritten = one_hot_embeddings(step, "one_hot")
    assert len(rewritten.ops) == len(step.ops) + 2  # a one-hot op before each product
    before = [op for op in step.ops if op.scope != WORD]
    after = [op for op in rewritten.ops if op.scope != WORD]
    assert [(op.name, op.flops, op.bytes_read) for op in after] == [
        (op.name, op.flops, op.bytes_read) for op in before
    ]
    # every gradient is still ready at the end of some op, in order, and no later than
    # the end of the step (the data-parallel buckets read it)
    ready = rewritten.meta.grad_ready
    assert ready is not None and len(ready) == len(step.meta.grad_ready)
    assert [name for _, name, _ in ready] == [name for _, name, _ in step.meta.grad_ready]
    assert one_hot_embeddings(step, "gather") is step


def test_the_products_run_on_the_tpu_mxus_and_cost_time(step: OpGraph) -> None:
    tpu = resolve_hardware("tpu-v3")
    rewritten = one_hot_embeddings(step, "one_hot")
    gathered = estimate_graph(step, tpu, "roofline")
    product = estimate_graph(rewritten, tpu, "roofline")
    # the two products' 4 T V H FLOPs and the two one-hot ops' compares, less the
    # scatter-add's T H adds
    assert product.flops - gathered.flops == 4 * T * V * H + 2 * T * V - T * H
    assert product.latency_s > gathered.latency_s
    mm = [i for i, op in enumerate(rewritten.ops) if op.scope == WORD and op.category.is_matrix]
    assert {product.costs[i].unit for i in mm} == {"matrix"}  # on the MXUs
    cycle = estimate_graph(rewritten, tpu, "cycle")
    assert cycle.latency_s >= product.latency_s * (1 - 1e-9)  # the roofline bounds it


def test_a_graph_without_word_embeddings_is_refused(step: OpGraph) -> None:
    ops = tuple(op for op in step.ops if op.scope != WORD)
    with pytest.raises(WhatIfError, match=r"whatif\.word_embedding: the graph has no word"):
        one_hot_embeddings(OpGraph(ops, step.meta.but(grad_ready=None)), "one_hot")


def test_the_knob_parses_and_is_a_training_knob() -> None:
    assert parse_whatifs({"word_embedding": "one_hot"}).word_embedding == "one_hot"
    assert parse_whatifs({"word_embedding": "one_hot"}).not_for_training() == []
    with pytest.raises(WhatIfError, match=r"whatif\.word_embedding: expected one of gather"):
        parse_whatifs({"word_embedding": "lookup"}, "x.yaml")
