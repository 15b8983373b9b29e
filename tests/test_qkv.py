"""The ``qkv`` fusion pass (`perfsim.whatif.qkv`): Q, K and V as one GEMM, by hand."""

from __future__ import annotations

from perfsim.cache import GraphStore
from perfsim.ir import Category
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


def test_other_families_and_training(store: GraphStore) -> None:
    """DistilBERT's q_lin / k_lin / v_lin merge too; a training step is left as traced
    (its backward would need the packed gradients, not built)."""
    assert all(len(s) == 3 for s in sibling_projections(_graph(store, "distilbert-base")))
    training = _graph(store, mode="training")
    fused, _ = fuse(training, ("qkv",))
    assert fused.ops == training.ops


def test_a_training_summary_does_not_claim_the_pass() -> None:
    from perfsim.whatif import parse_whatifs

    knobs = parse_whatifs({"fusion": "all"})
    assert knobs.applied()["fusion"].endswith("+qkv")
    assert "qkv" not in knobs.applied(training=True)["fusion"]
    assert parse_whatifs({"fusion": "qkv"}).applied(training=True) == {}
