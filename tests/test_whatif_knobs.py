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
    assert tiny.meta.params - pruned.meta.params == removed
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
    assert tiny.meta.params - pruned.meta.params == LAYERS * (F - width) * (2 * H + 1)


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
    assert tiny.meta.params - factored.meta.params == removed
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


def test_quant_int8_halves_fp16_and_quarters_fp32_weight_bytes(tiny: OpGraph) -> None:
    from perfsim.precision import apply_precision

    def weight_bytes(graph: OpGraph) -> int:
        return sum(
            tensor.nbytes
            for op in graph.ops
            if op.category == Category.GEMM
            for tensor in op.inputs
            if tensor.role == "weight" and len(tensor.shape) == 2
        )

    # weight matrices: per layer Q, K, V, output H x H and FFN H x F, F x H; pooler H x H
    elements = LAYERS * (4 * H * H + 2 * H * F) + H * H  # 409,600
    assert weight_bytes(tiny) == 4 * elements  # fp32 as traced
    assert weight_bytes(apply_precision(tiny, "fp16")) == 2 * elements
    assert weight_bytes(quantize(tiny, "int8", "fp16")) == elements  # half of fp16
    assert weight_bytes(quantize(tiny, "w4a8", "fp16")) == elements // 2  # two per byte
    # the weight GEMMs' whole reads: int8 weights and activations, bias included
    int8 = quantize(tiny, "int8", "fp16")
    fp16 = apply_precision(tiny, "fp16")
    for small, wide in zip(int8.ops, fp16.ops, strict=True):
        if small.category.is_matrix:
            assert 2 * small.bytes_read == wide.bytes_read


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


# fusion=all on bert-tiny at B = 2, L = 16 (read from perfsim.whatif.fusion's passes), in
# elements of the tensors between GEMMs; per layer:
#   2 residual adds fused into their LayerNorms: add's write + LN's read, 2 x 2 x 4,096
#     = 16,384
#   GELU in the FFN-up GEMM's epilogue: read + write of [2, 16, 512]: 2 x 16,384 = 32,768
#   Q and K: scale and layout copy in their GEMMs' epilogues, each op's read and write
#     of [2, 16, 128]: 2 x 4 x 4,096 = 32,768
#   V: layout copy in its GEMM's epilogue: 2 x 4,096 = 8,192
#   FlashAttention: the [2, 2, 16, 16] scores written by QK^T, read and written by the
#     softmax, read by AV: 4 x 1,024 = 4,096; the output's layout copy: 2 x 4,096 = 8,192
#   Q, K and V as one GEMM (the qkv pass): the hidden states [2, 16, 128] read once, not
#     three times: 2 x 4,096 = 8,192
#   -> 110,592 per layer, 221,184 for 2 layers
# embeddings' add fused into their LayerNorm: 2 x 4,096 = 8,192; the pooler's tanh in its
# GEMM's epilogue: 2 x 256 = 512. Total 229,888 elements.
FUSED_ELEMENTS = LAYERS * (16_384 + 32_768 + 32_768 + 8_192 + 4_096 + 8_192 + 8_192) + 8_192 + 512
# launches saved, per layer: Q's and K's scale and copy (4), V's copy, softmax, AV, the
# output copy, 2 LayerNorms, GELU inside another op's kernel = 11, and K's and V's GEMMs
# inside Q's (the qkv pass: one GEMM and three views) = 2; plus the embeddings' LayerNorm
# and the pooler's tanh
FUSED_LAUNCHES = LAYERS * 13 + 2
PIM_CATEGORIES = {Category.ELEMENTWISE, Category.DROPOUT, Category.LAYERNORM}


def _graph_bytes(result) -> int:  # type: ignore[no-untyped-def]
    return sum(op.bytes_read + op.bytes_written for op in result.graph.ops)


# Eyeriss's 108 KiB global buffer holds few of bert-tiny's activations: moving the PIM rows'
# tensors to DRAM frees room that the residency pass gives a neighbouring GEMM's, which
# then gets faster, against the "may only get slower" rule below (a capacity-contention
# case of perfsim.engines.residency, found when hwconfigs/eyeriss.yaml was added)
_KNOB_DEVICES = [
    pytest.param(
        name,
        marks=pytest.mark.xfail(
            strict=True, reason="PIM frees on-chip room for a neighbour (small buffer)"
        ),
    )
    if name == "eyeriss"
    else name
    for name in sorted(available_hardware())
]


@pytest.mark.parametrize("name", _KNOB_DEVICES)
def test_device_knobs_on_every_shipped_device(tiny: OpGraph, name: str) -> None:
    from perfsim.energy.prices import energy_prices

    hw = load_hardware(available_hardware()[name])
    instances = min(2, hw.compute.units)
    # activations between GEMMs: fp32 on an fp32-native device, else 16-bit (the int8
    # policy keeps fp16 between GEMMs)
    element = 4 if hw.native_precision == "fp32" else 2
    dram, dram_bandwidth = hw.dram.name, hw.level_bandwidth(hw.dram)
    dram_price = energy_prices(hw).level_j_per_byte[dram]
    for engine in ("roofline", "cycle"):

        def run(knobs: dict[str, object], engine: str = engine):  # type: ignore[no-untyped-def]
            return estimate_whatif(
                tiny, hw, precision=None, engine=engine, whatifs=parse_whatifs(knobs)
            )

        base = run({})
        fused, pim = run({"fusion": "all"}), run({"pim": True})
        shared = run({"instances": instances})
        all_on = run({"pim": True, "fusion": "all", "instances": instances})
        for result in (fused, pim, shared, all_on):
            assert result.flops == base.flops  # none of these knobs changes the work
            assert result.traffic_bytes().keys() == base.traffic_bytes().keys()
            assert sum(result.energy_breakdown_j().values()) == pytest.approx(result.energy_j)

        # fusion: exactly the intermediates counted above stop going to memory, and the
        # ops inside another kernel stop paying a launch
        # (under the int8 policy AV reads the fp16 probabilities as int8 and the projections
        # the hidden states: one byte an element of those reads is saved, not two: LAYERS x
        # (1,024 + 8,192) bytes fewer)
        int8_reads = LAYERS * (1_024 + 8_192) if hw.native_precision == "int8" else 0
        assert _graph_bytes(base) - _graph_bytes(fused) == FUSED_ELEMENTS * element - int8_reads
        launched = sum(cost.overhead_s > 0 for cost in base.costs)
        assert launched == (len(base.costs) if hw.op_overhead > 0 else 0)
        assert sum(cost.overhead_s > 0 for cost in fused.costs) == (
            launched - FUSED_LAUNCHES if launched else 0
        )
        assert fused.latency_s <= base.latency_s * (1 + 1e-9)

        # PIM: the element-wise, dropout and LayerNorm rows run on the near-memory unit at
        # 4x the DRAM bandwidth, 1 FLOP per byte and 0.3x the DRAM energy per byte (HBM-PIM,
        # perfsim.whatif.pim), touching no on-chip level; every other row is unchanged
        # (a row that passes a tensor to or from a PIM row keeps it in DRAM instead of on
        # chip, perfsim.engines.residency: it may only get slower)
        ops = base.graph.ops
        on_pim = {i for i, op in enumerate(ops) if op.category in PIM_CATEGORIES}
        next_to_pim = {d for i in on_pim for d in ops[i].deps} | {
            i for i, op in enumerate(ops) if on_pim & set(op.deps)
        }
        rows = enumerate(zip(ops, base.costs, pim.costs, strict=True))
        for index, (op, before, after) in rows:
            if op.category not in PIM_CATEGORIES:
                assert after.unit == before.unit
                if index in next_to_pim:
                    assert after.latency_s >= before.latency_s
                else:
                    assert after.latency_s == before.latency_s
                continue
            assert after.unit == "pim"
            assert after.traffic_bytes[dram] == op.bytes_total
            assert sum(after.traffic_bytes.values()) == op.bytes_total  # on-chip levels: 0
            assert after.energy_breakdown_j[dram] == pytest.approx(
                0.3 * dram_price * op.bytes_total
            )
            if engine == "roofline":
                busy = max(op.bytes_total, op.flops) / (4 * dram_bandwidth)
                assert after.latency_s == pytest.approx(hw.op_latency(busy))

        # instances: one instance runs on floor(units / 2) units and half of every shared
        # level; it is never faster than the whole device, and on the roofline (linear in
        # units and bandwidth) at most units / floor(units / 2) times slower
        if hw.compute.units >= 2:
            share = device_share(hw, 2)
            assert share.compute.units == hw.compute.units // 2
            for whole, half in zip(hw.memory, share.memory, strict=True):
                assert half.bandwidth == whole.bandwidth / (1 if whole.per_unit else 2)
            assert shared.latency_s >= base.latency_s * (1 - 1e-9)
            assert shared.summary()["throughput_samples_per_s"] == pytest.approx(
                2 * B / shared.latency_s
            )
            assert all_on.summary()["throughput_samples_per_s"] == pytest.approx(
                2 * B / all_on.latency_s
            )
            if engine == "roofline":
                slowest = hw.compute.units / share.compute.units
                assert shared.latency_s <= slowest * base.latency_s * (1 + 1e-9)
