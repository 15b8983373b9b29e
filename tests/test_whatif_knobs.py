"""Each what-if knob against hand-derived numbers, plus invariants.

bert-tiny: hidden H = 128, 2 heads of d = 64, FFN F = 512, 2 layers, pooler H x H;
batch B = 2, seq L = 16, so GEMMs have m = B*L = 32 rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.errors import UnsupportedPrecisionError
from perfsim.hardware import HardwareSpec, available_hardware, load_hardware
from perfsim.ir import Category, OpGraph
from perfsim.whatif import WhatIfError, estimate_whatif, parse_whatifs
from perfsim.whatif.instances import device_share
from perfsim.whatif.lowrank import low_rank
from perfsim.whatif.prune import attention_blocks, prune_ffn, prune_heads
from perfsim.whatif.quantize import quantize
from perfsim.whatif.sparsity import sparsify

B, L, H, HEADS, D, F, LAYERS = 2, 16, 128, 2, 64, 512, 2
M = B * L
POOLER = 2 * B * H * H  # pooler dense: m = B rows


@pytest.fixture(scope="module")
def tiny(traced: Callable[..., OpGraph]) -> OpGraph:
    return traced("bert-tiny", batch=B, seq=L)


def matrix_flops(graph: OpGraph) -> int:
    return sum(op.flops for op in graph.ops if op.category.is_matrix)


def attention_flops(heads: int) -> int:
    # QK^T and AV per layer: 2 products of B*heads*L*L*d MACs, 2 FLOPs each
    return 2 * 2 * B * heads * L * L * D


def test_tiny_matrix_flops_by_hand(tiny: OpGraph) -> None:
    per_layer = 2 * M * (4 * H * H + 2 * H * F) + attention_flops(HEADS)
    assert matrix_flops(tiny) == LAYERS * per_layer + POOLER


def test_prune_one_head_by_hand(tiny: OpGraph) -> None:
    pruned = prune_heads(tiny, 1)
    kept = HEADS - 1
    inner = kept * D  # Q, K, V write h'*d columns; the output projection reads h'*d
    per_layer = 2 * M * (3 * H * inner + inner * H + 2 * H * F) + attention_flops(kept)
    assert matrix_flops(pruned) == LAYERS * per_layer + POOLER
    # parameters: Q, K, V lose d columns and d biases each, the output d rows
    removed = LAYERS * (3 * (H * D + D) + D * H)
    assert tiny.meta["params"] - pruned.meta["params"] == removed
    softmax = next(op for op in pruned.ops if op.category == Category.SOFTMAX)
    assert softmax.inputs[0].shape == (B, kept, L, L)
    assert len(attention_blocks(tiny)) == LAYERS


def test_prune_heads_fraction_rounds_and_keeps_one(tiny: OpGraph) -> None:
    assert prune_heads(tiny, 0.5) == prune_heads(tiny, 1)
    with pytest.raises(WhatIfError, match=r"whatif\.prune_heads"):
        prune_heads(tiny, 2)


def test_prune_ffn_by_hand(tiny: OpGraph) -> None:
    pruned = prune_ffn(tiny, 0.25)
    width = F - F // 4  # 384
    per_layer = 2 * M * (4 * H * H + 2 * H * width) + attention_flops(HEADS)
    assert matrix_flops(pruned) == LAYERS * per_layer + POOLER
    gelu = next(op for op in pruned.ops if op.category == Category.GELU and op.layer == 0)
    assert gelu.outputs[0].shape == (B, L, width)
    # up projection loses (F - F') columns + biases, down projection (F - F') rows
    assert tiny.meta["params"] - pruned.meta["params"] == LAYERS * (F - width) * (2 * H + 1)


@settings(max_examples=25, deadline=None)
@given(heads=st.sampled_from([0.0, 0.25, 0.5, 1.0]), ffn=st.floats(0.0, 0.95))
def test_pruning_never_adds_flops(heads: float, ffn: float) -> None:
    graph = _SHARED["tiny"]
    assert isinstance(graph, OpGraph)
    pruned = prune_ffn(prune_heads(graph, heads), ffn)
    assert pruned.flops <= graph.flops
    assert all(new.flops <= old.flops for new, old in zip(pruned.ops, graph.ops, strict=True))


def test_low_rank_by_hand(tiny: OpGraph) -> None:
    r = 16
    factored = low_rank(tiny, r)
    # every weight GEMM m x k . k x n -> m x k . k x r + m x r . r x n: 2 m r (k + n) FLOPs
    per_layer = 2 * M * r * (4 * (H + H) + 2 * (H + F)) + attention_flops(HEADS)
    pooler = 2 * B * r * (H + H)
    assert matrix_flops(factored) == LAYERS * per_layer + pooler
    # parameters: k n -> r (k + n) per weight (biases unchanged)
    per_layer_params = 4 * (H * H - r * 2 * H) + 2 * (H * F - r * (H + F))
    removed = LAYERS * per_layer_params + (H * H - r * 2 * H)
    assert tiny.meta["params"] - factored.meta["params"] == removed
    gemms = sum(1 for op in tiny.ops if op.category == Category.GEMM)
    assert len(factored.ops) == len(tiny.ops) + gemms  # each weight GEMM became two
    # deps stay consistent: each factored pair is chained, readers follow the second half
    for index, op in enumerate(factored.ops):
        assert all(dep < index for dep in op.deps)
        if op.name.endswith(".lowrank_u"):
            assert factored.ops[index + 1].deps == (index,)


def test_low_rank_skips_layers_it_would_grow(tiny: OpGraph) -> None:
    # rank 64 on a 128 x 128 weight: 64 * 256 = 128 * 128, no saving -> left dense
    factored = low_rank(tiny, 64)
    assert sum(op.name.endswith(".lowrank_u") for op in factored.ops) == LAYERS * 2  # FFNs


def test_sparsity_2_4_halves_macs_and_weights(tiny: OpGraph) -> None:
    sparse = sparsify(tiny, "2:4", None)
    attention = LAYERS * attention_flops(HEADS)
    assert matrix_flops(sparse) - attention == (matrix_flops(tiny) - attention) // 2
    query = next(op for op in sparse.ops if op.scope.endswith("attention.self.query"))
    dense = next(op for op in tiny.ops if op.scope.endswith("attention.self.query"))
    # fp32: bias H*4 + activation M*H*4 + kept weights (H/2)*H*4 + 2-bit indices (H/2)*H/4
    assert dense.bytes_read == H * 4 + M * H * 4 + H * H * 4
    assert query.bytes_read == H * 4 + M * H * 4 + (H // 2) * H * 4 + (H // 2) * H // 4
    assert sparsify(tiny, "2:4", 1.0) == tiny  # no hardware support: nothing changes
    with pytest.raises(WhatIfError, match=r"whatif\.sparsity_speedup"):
        sparsify(tiny, "2:4", 3.0)


def test_w4a8_weight_bytes(tiny: OpGraph, npu: HardwareSpec) -> None:
    int8 = quantize(tiny, "int8", "bf16")
    w4a8 = quantize(tiny, "w4a8", "bf16")
    dense = next(i for i, op in enumerate(tiny.ops) if op.scope.endswith("intermediate.dense"))
    # int8: bias F + activation M*H + weight H*F, one byte each; W4A8 weight at half a byte
    assert int8.ops[dense].bytes_read == F + M * H + H * F
    assert w4a8.ops[dense].bytes_read == F + M * H + H * F // 2
    result = estimate_whatif(
        tiny, npu, precision=None, engine="roofline", whatifs=parse_whatifs({"quant": "w4a8"})
    )
    assert {c.dtype for c in result.costs if c.category.is_matrix} == {"int8"}  # int8 MACs
    assert result.summary()["whatifs"] == {"quant": "w4a8"}


def test_quant_needs_int8_hardware(tiny: OpGraph, npu: HardwareSpec) -> None:
    data = npu.model_dump()
    data["compute"]["matrix"]["macs_per_cycle"].pop("int8")
    no_int8 = HardwareSpec.from_si(data)
    with pytest.raises(UnsupportedPrecisionError, match="int8"):
        estimate_whatif(
            tiny,
            no_int8,
            precision=None,
            engine="roofline",
            whatifs=parse_whatifs({"quant": "int8"}),
        )


def test_structural_knobs_refuse_training_graphs(tiny: OpGraph) -> None:
    training = OpGraph((*tiny.ops[:-1], replace(tiny.ops[-1], phase="backward")), tiny.meta)
    for knob in (
        lambda g: prune_heads(g, 1),
        lambda g: low_rank(g, 8),
        lambda g: sparsify(g, "2:4", None),
        lambda g: quantize(g, "int8", "fp32"),
    ):
        with pytest.raises(WhatIfError, match="inference graphs only"):
            knob(training)


def test_pim_latency_is_bytes_over_its_bandwidth(tiny: OpGraph, npu: HardwareSpec) -> None:
    knobs = parse_whatifs(
        {
            "pim": True,
            "pim_bandwidth": 1e12,
            "pim_flops": 1e16,
            "pim_energy_per_byte": 1e-12,
            "pim_categories": "gelu+elementwise",
        }
    )
    result = estimate_whatif(tiny, npu, precision=None, engine="roofline", whatifs=knobs)
    index = next(i for i, op in enumerate(result.graph.ops) if op.category == Category.GELU)
    cost = result.costs[index]
    # bf16 GELU over [B, L, F]: reads and writes B*L*F*2 bytes = 65536 bytes
    moved = 2 * B * L * F * 2
    assert cost.unit == "pim" and cost.bound == "memory:hbm"
    assert cost.latency_s == pytest.approx(moved / 1e12)
    assert cost.traffic_bytes == {"vmem": 0.0, "hbm": moved}
    assert cost.energy_breakdown_j["hbm"] == pytest.approx(moved * 1e-12)
    gemm = next(c for c in result.costs if c.category == Category.GEMM)
    assert gemm.unit == "matrix"  # matrix ops stay on the host


@settings(max_examples=15, deadline=None)
@given(low=st.floats(1e10, 1e13), factor=st.floats(1.0, 100.0))
def test_pim_more_bandwidth_never_slower(low: float, factor: float) -> None:
    graph, hw = _SHARED["tiny"], _SHARED["npu"]
    assert isinstance(graph, OpGraph) and isinstance(hw, HardwareSpec)
    for engine in ("roofline", "cycle"):
        slow, fast = (
            estimate_whatif(
                graph,
                hw,
                precision=None,
                engine=engine,
                whatifs=parse_whatifs({"pim": True, "pim_bandwidth": bandwidth}),
            )
            for bandwidth in (low, low * factor)
        )
        assert fast.latency_s <= slow.latency_s


def test_instances_share_the_device(tiny: OpGraph, npu: HardwareSpec) -> None:
    share = device_share(npu, 2)
    assert share.compute.units == 2  # 4 MXUs, 2 each
    assert share.dram.bandwidth == npu.dram.bandwidth / 2
    assert share.energy.static_power == npu.energy.static_power / 2
    one = estimate_whatif(tiny, npu, precision=None, engine="roofline", whatifs=parse_whatifs({}))
    two = estimate_whatif(
        tiny, npu, precision=None, engine="roofline", whatifs=parse_whatifs({"instances": 2})
    )
    summary = two.summary()
    assert summary["throughput_samples_per_s"] == pytest.approx(2 * B / two.latency_s)
    # the roofline is linear in units and bandwidth: half a device takes twice as long
    assert two.latency_s == pytest.approx(2 * one.latency_s)
    with pytest.raises(WhatIfError, match=r"whatif\.instances"):
        device_share(npu, 5)


def test_knobs_compose(tiny: OpGraph, npu: HardwareSpec) -> None:
    knobs = parse_whatifs(
        {"prune_heads": 1, "prune_ffn": 0.5, "low_rank": 0.25, "quant": "w4a8", "fusion": "all"}
    )
    base = estimate_whatif(tiny, npu, precision=None, engine="roofline", whatifs=parse_whatifs({}))
    all_on = estimate_whatif(tiny, npu, precision=None, engine="roofline", whatifs=knobs)
    assert all_on.flops < base.flops
    assert all_on.latency_s < base.latency_s
    # NB: not so on the cycle engine for a model this small: twice as many, thinner GEMMs
    # pay the systolic arrays' fill and drain twice
    cycle = estimate_whatif(tiny, npu, precision=None, engine="cycle", whatifs=knobs)
    assert cycle.flops == all_on.flops
    assert set(all_on.summary()["whatifs"]) == {
        "prune_heads",
        "prune_ffn",
        "low_rank",
        "quant",
        "fusion",
    }


_SHARED: dict[str, object] = {}


@pytest.fixture(autouse=True)
def _share(tiny: OpGraph, npu: HardwareSpec) -> None:
    _SHARED["tiny"] = tiny
    _SHARED["npu"] = npu


@pytest.mark.parametrize("name", sorted(available_hardware()))
def test_device_knobs_on_every_shipped_device(tiny: OpGraph, name: str) -> None:
    hw = load_hardware(available_hardware()[name])
    knobs = {"pim": True, "fusion": "all", "instances": min(2, hw.compute.units)}
    for engine in ("roofline", "cycle"):
        base = estimate_whatif(tiny, hw, precision=None, engine=engine, whatifs=parse_whatifs({}))
        result = estimate_whatif(
            tiny, hw, precision=None, engine=engine, whatifs=parse_whatifs(knobs)
        )
        assert result.flops == base.flops and result.latency_s > 0
        # rows still sum per memory level of the device (PIM rows keep the level names)
        assert result.traffic_bytes().keys() == base.traffic_bytes().keys()
        assert sum(result.energy_breakdown_j().values()) == pytest.approx(result.energy_j)
