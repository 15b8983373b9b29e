"""The ``qkv`` fusion pass (`perfsim.whatif.qkv`): Q, K and V as one GEMM, by hand."""

from __future__ import annotations

import pytest

from perfsim.cache import GraphStore
from perfsim.ir import Category, OpGraph
from perfsim.precision import apply_precision
from perfsim.whatif.fusion import fuse
from perfsim.whatif.qkv import sibling_projections
from perfsim.workload import load_workload


def _graph(store: GraphStore, model: str = "bert-tiny", mode: str = "inference"):  # type: ignore[no-untyped-def]
    workload = load_workload(model, batch=2, seq=16, precision="fp16", mode=mode)
    return apply_precision(store.graph(workload), "fp16")


def test_one_gemm_three_views_by_hand(store: GraphStore) -> None:
    """bert-tiny (hidden 128, 2 layers) at batch 2, seq 16: each layer's Q, K and V
    (32 x 128 x 128) become one 32 x 384 x 128 GEMM that reads the hidden states once
    (32 x 128 fp16 = 8,192 B) and three fp16 weights and biases, and writes one packed
    32 x 384 output; the three projections' outputs are views of it, launched inside."""
    graph = _graph(store)
    sets = sibling_projections(graph)
    assert len(sets) == 2 and all(len(members) == 3 for members in sets)
    assert all(
        graph.ops[i].name.split("/")[0].endswith(("query", "key", "value")) for s in sets for i in s
    )
    fused, inner = fuse(graph, ("qkv",))
    assert len(fused.ops) == len(graph.ops) + 2  # a fused GEMM and a view for each Q
    gemms = [op for op in fused.ops if op.category == Category.GEMM and op.dims.get("n") == 384]
    assert len(gemms) == 2
    weights = 3 * (128 * 128 + 128) * 2
    for op in gemms:
        assert op.dims == {"b": 1, "m": 32, "n": 384, "k": 128}
        assert op.macs == 3 * 32 * 128 * 128
        assert op.bytes_read == 32 * 128 * 2 + weights
        assert op.bytes_written == 32 * 384 * 2
        assert [spec.shape for spec in op.outputs] == [(32, 384)]
    views = [i for i, op in enumerate(fused.ops) if op.name.endswith(".view")]
    assert len(views) == 6 and set(views) <= inner
    assert all(fused.ops[i].bytes_read == fused.ops[i].bytes_written == 0 for i in views)
    # the work is the same; the hidden states' two extra reads are gone
    assert sum(op.macs for op in fused.ops) == sum(op.macs for op in graph.ops)
    assert sum(op.flops for op in fused.ops) == sum(op.flops for op in graph.ops)
    saved = sum(op.bytes_read for op in graph.ops) - sum(op.bytes_read for op in fused.ops)
    assert saved == 2 * 2 * 32 * 128 * 2  # 2 layers x 2 reads x [32, 128] fp16
    # every reader of a projection still finds its tensor: deps point at earlier ops
    assert all(dep < index for index, op in enumerate(fused.ops) for dep in op.deps)


def test_other_families(store: GraphStore) -> None:
    """DistilBERT's q_lin / k_lin / v_lin merge too."""
    assert all(len(s) == 3 for s in sibling_projections(_graph(store, "distilbert-base")))


def test_training_backward_by_hand(store: GraphStore) -> None:
    """bert-tiny's training step (batch 2, seq 16: m = 32 tokens, hidden 128, fp16): each
    layer's backward runs one input-gradient GEMM of depth 3 x 128 over the packed
    gradient and weight, one weight-gradient GEMM of 384 rows reading the hidden states
    once, one bias-gradient sum, and one add of the residual branch's gradient, in place of
    three of each; the Q, K and V gradients are ready together after them."""
    training = _graph(store, mode="training")
    fused, inner = fuse(training, ("qkv",))
    # per layer: the forward gains the fused GEMM (+1); the backward loses two input- and
    # two weight-gradient GEMMs, two sums and two adds (-8)
    assert len(fused.ops) == len(training.ops) + 2 * (1 - 8)
    assert all(dep < index for index, op in enumerate(fused.ops) for dep in op.deps)
    backward = [op for op in fused.ops if op.phase == "backward" and ".attention.self" in op.name]
    dgrads = [op for op in backward if op.category == Category.GEMM and op.dims.get("k") == 384]
    wgrads = [op for op in backward if op.category == Category.GEMM and op.dims.get("m") == 384]
    sums = [op for op in backward if op.category == Category.REDUCTION]
    assert len(dgrads) == len(wgrads) == len(sums) == 2
    packed_gradient = 32 * 384 * 2  # dQ, dK, dV side by side, fp16
    weights = 3 * 128 * 128 * 2
    for op in dgrads:  # dX = dQKV W_qkv
        assert op.dims == {"b": 1, "m": 32, "n": 128, "k": 384}
        assert op.macs == 3 * 32 * 128 * 128
        assert (op.bytes_read, op.bytes_written) == (packed_gradient + weights, 32 * 128 * 2)
    for op in wgrads:  # dW = dQKV^T X: X read once
        assert op.dims == {"b": 1, "m": 384, "n": 128, "k": 32}
        assert (op.bytes_read, op.bytes_written) == (packed_gradient + 32 * 128 * 2, weights)
    for op in sums:
        assert (op.bytes_read, op.bytes_written) == (packed_gradient, 384 * 2)
    adds = [op for op in backward if op.category == Category.ELEMENTWISE and "self." in op.name]
    assert len(adds) == 2  # the residual branch's gradient plus dX, once a layer
    # the same MACs; the FLOPs of the two dropped adds a layer (one per element) are gone
    assert sum(op.macs for op in fused.ops) == sum(op.macs for op in training.ops)
    dropped = 2 * 2 * 32 * 128
    assert sum(op.flops for op in training.ops) - sum(op.flops for op in fused.ops) == dropped
    # the projections' six gradients a layer are ready together, after the fused ops
    ready = fused.meta.grad_ready
    assert ready is not None and len(ready) == len(training.meta.grad_ready or ())
    for layer in (0, 1):
        scope = f"layer.{layer}.attention.self"
        mine = [
            i
            for i, op in enumerate(fused.ops)
            if op.phase == "backward"
            and op.name.split("/")[0].endswith((f"{scope}.query", f"{scope}.key", f"{scope}.value"))
        ]
        last = max(mine)  # the remaining add, after the fused GEMMs and sum
        assert fused.ops[last].category == Category.ELEMENTWISE
        assert sum(1 for i, _, _ in ready if i == last) == 6  # 3 weights, 3 biases
        assert not any(i in mine[:-1] for i, _, _ in ready)
    # where the epilogue pass put the last add in its GEMM's epilogue, it stays there
    passes = ("epilogue", "softmax", "layernorm")
    before, before_inner = fuse(training, passes)
    after, after_inner = fuse(training, (*passes, "qkv"))

    def last_adds(graph: OpGraph, inside: frozenset[int]) -> dict[str, bool]:
        return {
            op.name: index in inside
            for index, op in enumerate(graph.ops)
            if op.phase == "backward"
            and op.name.split("/")[0].endswith(".self.query")
            and op.category == Category.ELEMENTWISE
        }

    assert last_adds(after, after_inner) == last_adds(before, before_inner)
    assert any(last_adds(after, after_inner).values())
    assert inner == frozenset(i for i, op in enumerate(fused.ops) if op.name.endswith(".view"))


def test_a_training_summary_claims_the_pass() -> None:
    from perfsim.whatif import parse_whatifs

    knobs = parse_whatifs({"fusion": "all"})
    assert "qkv" in knobs.applied()["fusion"].split("+")


def test_a_backward_of_another_shape_is_left_as_traced(store: GraphStore) -> None:
    """A group whose projections differ (here layer 0's value has no bias-gradient sum of
    its own) keeps its traced backward; the other layer is still fused."""
    from dataclasses import replace

    training = _graph(store, mode="training")
    renamed = tuple(
        replace(op, name=op.name.replace(".self.value/sum", ".self.value_bias/sum"))
        if op.phase == "backward" and "layer.0.attention.self.value/sum" in op.name
        else op
        for op in training.ops
    )
    graph = OpGraph(renamed, training.meta)
    fused, _ = fuse(graph, ("qkv",))
    assert all(dep < index for index, op in enumerate(fused.ops) for dep in op.deps)

    def dgrads(layer: int) -> int:
        return sum(
            1
            for op in fused.ops
            if op.phase == "backward"
            and op.category == Category.GEMM
            and f"layer.{layer}.attention.self." in op.name
            and any(spec.role == "weight" for spec in op.inputs)
        )

    assert (dgrads(0), dgrads(1)) == (3, 1)


@pytest.mark.parametrize("model", ["distilbert-base", "albert-base"])
def test_training_families_keep_a_valid_graph(store: GraphStore, model: str) -> None:
    """DistilBERT's projections fuse forward and backward; ALBERT's shared layer (one
    module called by every layer) fuses each call's forward and keeps its backward as
    traced. Either way: deps point backwards, the gradients stay ready at real ops, the
    MACs are unchanged."""
    training = _graph(store, model, mode="training")
    fused, _ = fuse(training, ("qkv",))
    assert len(fused.ops) != len(training.ops)
    assert all(dep < index for index, op in enumerate(fused.ops) for dep in op.deps)
    ready = fused.meta.grad_ready or ()
    assert ready and all(0 <= index < len(fused.ops) for index, _, _ in ready)
    assert sum(op.macs for op in fused.ops) == sum(op.macs for op in training.ops)
