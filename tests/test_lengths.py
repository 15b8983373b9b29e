"""Variable sequence lengths: packed FLOPs by hand, padded == traced, spec parsing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.hardware import HardwareSpec
from perfsim.ir import Category, OpGraph
from perfsim.whatif import WhatIfs, estimate_whatif
from perfsim.whatif.lengths import (
    LengthsError,
    packed_graph,
    padded_length,
    parse_lengths,
    probe_lengths,
    score_elements,
)

# bert-tiny: hidden H = 128, 2 heads of d = 64, FFN F = 512, 2 layers
H, HEADS, D, F, LAYERS = 128, 2, 64, 512, 2
LENGTHS = (8, 16, 16, 40)


@pytest.fixture(scope="module")
def probes(traced: Callable[..., OpGraph]) -> tuple[OpGraph, OpGraph]:
    short, long = probe_lengths(512)
    return traced("bert-tiny", batch=1, seq=short), traced("bert-tiny", batch=1, seq=long)


def by_category(graph: OpGraph) -> dict[str, int]:
    totals: dict[str, int] = {}
    for op in graph.ops:
        totals[op.category.value] = totals.get(op.category.value, 0) + op.flops
    return totals


def test_packed_flops_by_hand(probes: tuple[OpGraph, OpGraph]) -> None:
    packed = packed_graph(*probes, LENGTHS)
    tokens = sum(LENGTHS)  # 80
    squares = score_elements(LENGTHS)  # 64 + 256 + 256 + 1600 = 2176
    assert squares == 2176
    flops = by_category(packed)
    # token-wise GEMMs on T tokens: Q, K, V, O (H x H) and the FFN (H x F, F x H), 2 FLOPs/MAC;
    # the pooler's H x H once per sequence
    assert flops["gemm"] == LAYERS * 2 * tokens * (4 * H * H + 2 * H * F) + 2 * 4 * H * H
    # QK^T and AV per sequence: 2 products x heads x l^2 x d MACs
    assert flops["attn_gemm"] == LAYERS * 2 * 2 * HEADS * D * squares
    # softmax: 5 FLOPs per score element (perfsim.counting)
    assert flops["softmax"] == LAYERS * 5 * HEADS * squares
    # GELU: 5 FLOPs per element of the T x F activation; the pooler's tanh, 1 per [n, H]
    assert flops["gelu"] == LAYERS * 5 * tokens * F + len(LENGTHS) * H
    assert packed.meta.batch == len(LENGTHS)
    # one copy of each score op per distinct length (8, 16, 40); later copies launch nothing
    softmaxes = [op for op in packed.ops if op.category == Category.SOFTMAX]
    assert len(softmaxes) == LAYERS * 3
    assert len(packed.meta.kernel_parts) == LAYERS * 3 * 2  # QK, softmax, AV x 2 extra
    for index, op in enumerate(packed.ops):
        assert all(dep < index for dep in op.deps)


@pytest.mark.parametrize(("batch", "seq"), [(2, 16), (3, 24)])
def test_equal_lengths_reproduce_the_padded_trace(
    probes: tuple[OpGraph, OpGraph], traced: Callable[..., OpGraph], batch: int, seq: int
) -> None:
    packed = packed_graph(*probes, [seq] * batch)
    assert by_category(packed) == by_category(traced("bert-tiny", batch=batch, seq=seq))


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 64), min_size=1, max_size=6))
def test_packing_never_costs_more_flops_than_padding(lengths: list[int]) -> None:
    probe, other = _SHARED["probes"]
    packed = packed_graph(probe, other, lengths)
    padded = packed_graph(probe, other, [max(lengths)] * len(lengths))
    assert packed.flops <= padded.flops
    assert (packed.flops == padded.flops) == (len(set(lengths)) == 1)


def test_packed_is_faster_than_padded(probes: tuple[OpGraph, OpGraph], npu: HardwareSpec) -> None:
    packed = packed_graph(*probes, LENGTHS)
    padded = packed_graph(*probes, [40] * len(LENGTHS))
    for engine in ("roofline", "cycle"):
        fast = estimate_whatif(packed, npu, precision=None, engine=engine, whatifs=WhatIfs())
        slow = estimate_whatif(padded, npu, precision=None, engine=engine, whatifs=WhatIfs())
        assert fast.latency_s < slow.latency_s
        assert fast.summary()["seq_lengths"]["tokens"] == sum(LENGTHS)


def test_padded_length() -> None:
    assert padded_length(LENGTHS, None) == 40
    assert padded_length(LENGTHS, 128) == 128
    with pytest.raises(LengthsError, match="--seq"):
        padded_length(LENGTHS, 32)


def test_distribution_specs_are_seeded() -> None:
    uniform = parse_lengths("uniform:32-128", 50)
    assert len(uniform) == 50 and min(uniform) >= 32 and max(uniform) <= 128
    assert parse_lengths("uniform:32-128", 50) == uniform
    assert parse_lengths("uniform:32-128@1", 50) != uniform
    normal = parse_lengths("normal:40,30,64", 200)
    assert min(normal) >= 1 and max(normal) == 64  # clipped to [1, max]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("lengths.txt", "8 16\n16\n40\n"),
        ("lengths.csv", "length\n8\n16\n16\n40\n"),
        ("lengths.json", json.dumps(list(LENGTHS))),
        ("lengths_obj.json", json.dumps({"lengths": list(LENGTHS)})),
    ],
)
def test_length_files(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert parse_lengths(str(path)) == LENGTHS


@pytest.mark.parametrize(
    ("spec", "text", "message"),
    [
        ("uniform:9-3", None, "cannot read"),
        ("normal:1,2", None, "cannot read"),
        ("uniform:1-9@x", None, "seed"),
        ("missing.txt", None, "no such file"),
        ("zero.txt", "8 0 3", "positive"),
        ("bad.json", "[8, 'x'", "malformed JSON"),
        ("word.txt", "8 twelve", "length #2"),
        ("empty.txt", "", "no lengths"),
    ],
)
def test_bad_lengths(tmp_path: Path, spec: str, text: str | None, message: str) -> None:
    if text is not None:
        (tmp_path / spec).write_text(text)
        spec = str(tmp_path / spec)
    with pytest.raises(LengthsError, match=message):
        parse_lengths(spec, 4)


_SHARED: dict[str, tuple[OpGraph, OpGraph]] = {}


@pytest.fixture(autouse=True)
def _share(probes: tuple[OpGraph, OpGraph]) -> None:
    _SHARED["probes"] = probes


def test_knobs_compose_with_packed_lengths(probes: tuple[OpGraph, OpGraph]) -> None:
    from perfsim.whatif.prune import prune_heads

    packed = packed_graph(*probes, LENGTHS)
    pruned = prune_heads(packed, 1)  # one of the two heads: every per-length block halves
    flops, before = by_category(pruned), by_category(packed)
    assert flops["attn_gemm"] * 2 == before["attn_gemm"]
    assert flops["softmax"] * 2 == before["softmax"]
    tokens, kept = sum(LENGTHS), D  # Q, K, V write d columns; the output reads d rows
    per_layer = 2 * tokens * (3 * H * kept + kept * H + 2 * H * F)
    assert flops["gemm"] == LAYERS * per_layer + 2 * len(LENGTHS) * H * H


@settings(max_examples=15, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 48), min_size=1, max_size=5),
    knobs=st.fixed_dictionaries(
        {},
        optional={
            "fusion": st.sampled_from(["all", "epilogue", "attention"]),
            "prune_heads": st.sampled_from([0.5, 1]),
            "prune_ffn": st.sampled_from([0.25, 0.5]),
            "low_rank": st.sampled_from([0.25, 16]),
            "sparsity": st.just("2:4"),
            "quant": st.sampled_from(["int8", "w4a8"]),
            "pim": st.booleans(),
            "instances": st.sampled_from([1, 2]),
        },
    ),
)
def test_any_knobs_on_any_lengths(lengths: list[int], knobs: dict[str, object]) -> None:
    from perfsim.whatif import parse_whatifs

    probe, other = _SHARED["probes"]
    hw = _HW["npu"]
    packed = packed_graph(probe, other, lengths)
    base = estimate_whatif(packed, hw, precision=None, engine="roofline", whatifs=WhatIfs())
    result = estimate_whatif(
        packed, hw, precision=None, engine="roofline", whatifs=parse_whatifs(knobs)
    )
    assert result.flops <= base.flops  # no knob adds work to an inference graph
    assert result.latency_s > 0
    assert result.summary()["seq_lengths"]["tokens"] == sum(lengths)


_HW: dict[str, HardwareSpec] = {}


@pytest.fixture(autouse=True)
def _share_hw(npu: HardwareSpec) -> None:
    _HW["npu"] = npu
