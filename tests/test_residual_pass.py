"""The ``residual`` fusion pass: a dropout and its residual add in one kernel, by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfsim.cache import GraphStore
from perfsim.ir import Category, OpGraph
from perfsim.whatif import fuse, fusion_groups
from perfsim.whatif.knobs import FUSION_PASSES
from perfsim.workload import load_workload

# bert-tiny: hidden H = 128, 2 layers; batch B = 2, seq L = 16, traced in fp32
B, L, H = 2, 16, 128


@pytest.fixture(scope="module")
def tiny_training(graph_cache: Path) -> OpGraph:
    return GraphStore(graph_cache).graph(
        load_workload("bert-tiny", batch=B, seq=L, mode="training")
    )


def test_each_sublayer_dropout_joins_its_residual_add(tiny_training: OpGraph) -> None:
    graph = tiny_training
    groups = fusion_groups(graph, ["residual"])
    # two sub-layers (attention output, FFN output) in each of the 2 layers
    assert len(groups) == 4
    for dropout, add in groups:
        assert graph.ops[dropout].category == Category.DROPOUT
        assert graph.ops[add].category == Category.ELEMENTWISE
        assert graph.ops[dropout].phase == graph.ops[add].phase == "forward"
    fused, inner = fuse(graph, ["residual"])
    # each group drops the dropout's [B, L, H] fp32 write and the add's read of it; the
    # dropout's mask stays written (its backward reads it)
    saved = sum(op.bytes_total for op in graph.ops) - sum(op.bytes_total for op in fused.ops)
    assert saved == 4 * 2 * B * L * H * 4
    assert {add for _, add in groups} <= inner and not {d for d, _ in groups} & inner
    assert fused.flops == graph.flops


def test_all_leaves_it_nothing(tiny_training: OpGraph) -> None:
    # under every pass the epilogue pass has taken the dropouts into their GEMMs and the
    # layernorm pass the adds into their LayerNorms: the same graph with or without it
    everything = fuse(tiny_training, FUSION_PASSES)[0]
    without = fuse(tiny_training, [p for p in FUSION_PASSES if p != "residual"])[0]
    assert everything.ops == without.ops
