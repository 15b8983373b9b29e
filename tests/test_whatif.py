"""What-if knobs: parsing, the empty-knob identity, and fusion's byte savings by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.cache import GraphStore
from perfsim.estimate import estimate_graph
from perfsim.hardware import HardwareSpec
from perfsim.ir import Category, OpGraph
from perfsim.precision import apply_precision
from perfsim.whatif import (
    WhatIfError,
    WhatIfs,
    estimate_whatif,
    fuse,
    fusion_groups,
    parse_assignments,
    parse_whatifs,
)
from perfsim.whatif.flash import flash_blocks
from perfsim.whatif.knobs import FUSION_PASSES
from perfsim.workload import load_workload

# bert-tiny: hidden H = 128, 2 heads of d = 64, FFN F = 512, 2 layers; batch B = 2, seq L = 16
B, L, H, F = 2, 16, 128, 512


@pytest.fixture(scope="module")
def tiny(traced: Callable[..., OpGraph]) -> OpGraph:
    return traced("bert-tiny", batch=B, seq=L)


def total_bytes(graph: OpGraph) -> int:
    return sum(op.bytes_total for op in graph.ops)


def test_parse_flat_keys_typed_and_text() -> None:
    knobs = parse_whatifs({"fusion": "epilogue+attention", "instances": "4", "pim": True})
    assert knobs.fusion == ("epilogue", "attention")
    assert knobs.instances == 4 and knobs.pim
    assert parse_whatifs({"whatif.fusion": "all"}).fusion == FUSION_PASSES
    assert parse_assignments(["pim_bandwidth=2 TB/s", "pim=true"]).pim_bandwidth == 2e12
    assert parse_whatifs({}).is_empty
    assert parse_whatifs({"fusion": "all"}).applied() == {"fusion": "+".join(FUSION_PASSES)}


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({"fusoin": "all"}, "whatif.fusoin: unknown knob"),
        ({"fusion": "gemm"}, "whatif.fusion: unknown fusion pass"),
        ({"instances": 0}, "whatif.instances"),
        ({"instances": 1.5}, "whatif.instances"),
        ({"pim": "maybe"}, "whatif.pim"),
        ({"pim_bandwidth": "-3"}, "whatif.pim_bandwidth"),
        ({"pim_bandwidth": "3 GHz"}, "whatif.pim_bandwidth"),
        ({"pim_categories": "gemm"}, "whatif.pim_categories"),
        ({"quant": "int3"}, "whatif.quant"),
        ({"prune_heads": 1.5}, "whatif.prune_heads"),
        ({"prune_ffn": 1.0}, "whatif.prune_ffn"),
        ({"sparsity": "4:2"}, "whatif.sparsity"),
        ({"sparsity_speedup": 0.5}, "whatif.sparsity_speedup"),
        ({"low_rank": -1}, "whatif.low_rank"),
    ],
)
def test_bad_knobs_name_source_and_key(mapping: dict[str, object], field: str) -> None:
    with pytest.raises(WhatIfError) as error:
        parse_whatifs(mapping, "sweep.yaml")
    message = str(error.value)
    assert message.startswith("sweep.yaml: ") and field in message and "\n" not in message


def test_assignment_needs_equals() -> None:
    with pytest.raises(WhatIfError, match="--whatif: expected KEY=VALUE"):
        parse_assignments(["fusion"])


@pytest.mark.parametrize("engine", ["roofline", "cycle"])
@pytest.mark.parametrize("precision", [None, "fp32", "int8"])
def test_empty_whatifs_is_estimate_graph(
    tiny: OpGraph, npu: HardwareSpec, engine: str, precision: str | None
) -> None:
    expected = estimate_graph(apply_precision(tiny, precision or "bf16"), npu, engine)
    result = estimate_whatif(tiny, npu, precision=precision, engine=engine, whatifs=WhatIfs())
    assert result == expected
    # knobs at their defaults are no knobs
    defaults = parse_whatifs({"fusion": "none", "instances": 1, "pim_bandwidth": 1e12})
    assert estimate_whatif(tiny, npu, precision=precision, engine=engine, whatifs=defaults) == (
        expected
    )


def test_epilogue_fusion_bytes_by_hand(tiny: OpGraph) -> None:
    fused, inner = fuse(tiny, ["epilogue"])
    # per layer, fp32 (4 B), each fused edge saves the intermediate's write and read, 2|I|:
    #   Q: addmm -> mul -> clone: 2 edges of B*L*H*4 = 16384 B     -> 65536
    #   K: the same                                                   -> 65536
    #   V: addmm -> clone; AV bmm -> clone; 2 residual GEMM -> add    -> 4 * 32768 = 131072
    #   FFN: addmm -> gelu, |I| = B*L*F*4 = 65536                     -> 131072
    # = 393216 per layer; plus the pooler's dense -> tanh, [B, H] fp32: 2 * 1024 = 2048
    assert total_bytes(tiny) - total_bytes(fused) == 2 * 393216 + 2048
    assert fused.flops == tiny.flops
    gelu = next(i for i, op in enumerate(fused.ops) if op.category == Category.GELU)
    assert fused.ops[gelu].bytes_total == 0  # its tensor never goes to memory
    assert tiny.ops[gelu].bytes_total == 2 * B * L * F * 4
    assert gelu in inner


def test_attention_fusion_drops_scores(tiny: OpGraph) -> None:
    fused, inner = fuse(tiny, ["attention"])
    # per layer the [B, heads, L, L] fp32 scores S and probabilities P: QK^T writes S,
    # softmax reads S and writes P, AV reads P: 4 * (2*2*16*16*4 = 4096) = 16384;
    # the AV output -> head-merge copy (epilogue of the fused kernel): 2 * 16384;
    # and the three layout copies making Q, K^T and V contiguous for torch.matmul (the
    # fused kernel reads the strided views), each [B, L, hidden] fp32 = 2*16*128*4 = 16384
    # read and written: 3 * 2 * 16384
    assert total_bytes(tiny) - total_bytes(fused) == 2 * (16384 + 32768 + 3 * 2 * 16384)
    assert fused.flops == tiny.flops
    copies = [
        i
        for i, op in enumerate(fused.ops)
        if op.category is Category.DATA_MOVEMENT and op.bytes_total == 0 and tiny.ops[i].bytes_total
    ]
    assert len(copies) == 2 * 4  # Q, K^T, V and the head merge, per layer
    assert set(copies) <= inner  # none of them launches a kernel


def test_layernorm_fusion_drops_residual_sum(tiny: OpGraph) -> None:
    fused, _ = fuse(tiny, ["layernorm"])
    # embeddings add -> LN and two residual adds -> LN per layer: 5 sums of B*L*H*4 bytes
    assert total_bytes(tiny) - total_bytes(fused) == 5 * 2 * B * L * H * 4


@settings(max_examples=20, deadline=None)
@given(st.sets(st.sampled_from(FUSION_PASSES), min_size=1))
def test_fusion_never_adds_latency_or_bytes(passes: set[str]) -> None:
    graph = _GRAPHS["tiny"]
    hw = _GRAPHS["hw"]
    knobs = parse_whatifs({"fusion": "+".join(sorted(passes))})
    for engine in ("roofline", "cycle"):
        base = estimate_whatif(graph, hw, precision=None, engine=engine, whatifs=WhatIfs())
        fused = estimate_whatif(graph, hw, precision=None, engine=engine, whatifs=knobs)
        assert fused.flops == base.flops
        assert fused.latency_s <= base.latency_s
        fusable = bool(fusion_groups(graph, knobs.fusion))  # bert-tiny inference has no
        for level, value in fused.traffic_bytes().items():  # mask or dropout to fuse
            assert value <= base.traffic_bytes()[level]
        # the nearest level serves every op's bytes; farther levels may already have been
        # spared the intermediates, kept on chip between ops (perfsim.engines.residency)
        nearest = hw.memory[0].name
        assert fused.traffic_bytes()[nearest] < base.traffic_bytes()[nearest] or not fusable
        assert fused.summary()["whatifs"] == knobs.applied()


_GRAPHS: dict[str, object] = {}


@pytest.fixture(autouse=True)
def _share(tiny: OpGraph, npu: HardwareSpec) -> None:
    # hypothesis tests cannot take function-scoped fixtures; hand them over here
    _GRAPHS["tiny"] = tiny
    _GRAPHS["hw"] = npu


def test_bert_base_gelu_epilogue_saves_its_round_trip(traced: Callable[..., OpGraph]) -> None:
    graph = traced("bert-base", batch=1, seq=128)
    fused, _ = fuse(graph, ["epilogue"])
    gelus = [
        i
        for i, op in enumerate(graph.ops)
        if op.category == Category.GELU and op.scope.endswith("intermediate_act_fn")
    ]
    assert len(gelus) == 12
    for index in gelus:
        # the [1, 128, 3072] fp32 activation: written by the GEMM's epilogue instead of the
        # GELU, and never read back: 2 * 128 * 3072 * 4 bytes saved
        assert graph.ops[index].bytes_total - fused.ops[index].bytes_total == 2 * 128 * 3072 * 4
        assert fused.ops[index].bytes_total == 0


@pytest.fixture(scope="module")
def tiny_training(graph_cache: Path) -> OpGraph:
    step = load_workload("bert-tiny", batch=B, seq=L, mode="training")
    return GraphStore(graph_cache).graph(step)


def test_flash_attention_training_recomputes(tiny_training: OpGraph, npu: HardwareSpec) -> None:
    graph = tiny_training
    blocks = flash_blocks(graph)
    assert len(blocks) == 2  # one per layer
    fused, inner = fuse(graph, ["attention"])
    # the recomputation: per block QK^T again (B*heads*L*L*d MACs) and the forward score
    # ops (scale, softmax, dropout) again: FLOPs grow by exactly those
    recomputed = sum(
        graph.ops[block.qk].flops + sum(graph.ops[i].flops for i in block.forward)
        for block in blocks
    )
    assert graph.ops[blocks[0].qk].flops == 2 * B * 2 * L * L * 64
    assert fused.flops == graph.flops + recomputed
    assert len(fused.ops) == len(graph.ops) + sum(1 + len(b.forward) for b in blocks)
    # no [B, heads, L, L] tensor goes to memory: every score op moves nothing
    names = {graph.ops[i].name for b in blocks for i in (*b.forward, *b.backward)}
    for op in fused.ops:
        if op.name in names or op.name.removesuffix(".recompute") in names:
            assert op.bytes_total == 0, op.name
    assert sum(op.bytes_total for op in fused.ops) < sum(op.bytes_total for op in graph.ops)
    for index, op in enumerate(fused.ops):
        assert all(dep < index for dep in op.deps)
    result = estimate_whatif(
        graph, npu, precision="fp32", engine="roofline", whatifs=parse_whatifs({"fusion": "all"})
    )
    # fusion=all also runs qkv: the backward adds that summed the key's and value's partial
    # input gradients are gone (perfsim.whatif.qkv)
    dropped = sum(
        op.flops
        for op in graph.ops
        if op.phase == "backward"
        and op.category == Category.ELEMENTWISE
        and op.name.split("/")[0].endswith((".self.key", ".self.value"))
    )
    assert dropped > 0
    assert result.flops == graph.flops + recomputed - dropped
    assert inner
