"""``sequence_kernels``: a packed batch's attention as one varlen kernel or one per sequence."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from perfsim.hardware import HardwareSpec, resolve_hardware
from perfsim.ir import OpGraph
from perfsim.sweep.placed import prepare
from perfsim.whatif import WhatIfs, estimate_whatif, parse_whatifs
from perfsim.whatif.lengths import kernel_part_names, packed_graph, probe_lengths

# bert-tiny, 2 layers; 3 distinct lengths: each score op (QK^T, softmax, AV: 3 a layer)
# has 2 copies beyond the first
LENGTHS, LAYERS = (8, 16, 16, 40), 2


@pytest.fixture(scope="module")
def packed(traced: Callable[..., OpGraph]) -> OpGraph:
    short, long = probe_lengths(512)
    probes = traced("bert-tiny", batch=1, seq=short), traced("bert-tiny", batch=1, seq=long)
    return packed_graph(*probes, LENGTHS)


def _launches(graph: OpGraph, hw: HardwareSpec, whatifs: WhatIfs) -> tuple[int, float]:
    result = estimate_whatif(graph, hw, precision="fp16", engine="roofline", whatifs=whatifs)
    return sum(1 for cost in result.costs if cost.overhead_s > 0), result.latency_s


def test_each_length_launches_its_own_kernel(packed: OpGraph) -> None:
    a100 = resolve_hardware("a100")
    assert len(kernel_part_names(packed)) == LAYERS * 3 * 2
    assert kernel_part_names(packed, "per_sequence") == frozenset()
    varlen, varlen_s = _launches(packed, a100, WhatIfs())
    per_sequence, per_sequence_s = _launches(
        packed, a100, parse_whatifs({"sequence_kernels": "per_sequence"})
    )
    # the copies launch too: 2 more a score op, 3 score ops a layer, 2 layers
    assert per_sequence == varlen + LAYERS * 3 * 2
    # each extra launch pays the file's 5 us floor where its work is shorter
    assert per_sequence_s > varlen_s


def test_without_packed_lengths_it_changes_nothing(traced: Callable[..., OpGraph]) -> None:
    graph = traced("bert-tiny", batch=2, seq=16)
    npu = resolve_hardware("npu")
    knob = parse_whatifs({"sequence_kernels": "per_sequence", "fusion": "softmax"})
    plain = parse_whatifs({"fusion": "softmax"})
    assert _launches(graph, npu, knob) == _launches(graph, npu, plain)


def test_the_sweep_path_launches_the_same_kernels(packed: OpGraph) -> None:
    a100 = resolve_hardware("a100")
    for value in ("varlen", "per_sequence"):
        knobs = parse_whatifs({"sequence_kernels": value, "fusion": "softmax"})
        prepared = prepare(packed, knobs, "fp16")
        assert prepared is not None
        inner = {i for i, choice in enumerate(prepared.choice) if choice == 1}
        result = estimate_whatif(packed, a100, precision="fp16", engine="roofline", whatifs=knobs)
        assert inner == {i for i, cost in enumerate(result.costs) if cost.overhead_s == 0}


def test_a_training_knob() -> None:
    assert parse_whatifs({"sequence_kernels": "per_sequence"}).not_for_training() == []
