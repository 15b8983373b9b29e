"""Memory footprint measured from traced steps, checked against independent counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from perfsim.cache import GraphStore
from perfsim.ir import OpGraph
from perfsim.trace.build import build_training_model, training_inputs
from perfsim.trace.dropout import FusedDropoutMode
from perfsim.training import largest_batch, memory_footprint
from perfsim.workload import load_workload
from tests.conftest import workload

BATCH, SEQ = 2, 16


def graph(cache: Path, **scenario: object) -> OpGraph:
    settings = {"batch": BATCH, "seq": SEQ, "mode": "training", **scenario}
    return GraphStore(cache).graph(workload("bert-tiny", **settings))


def test_activations_equal_bytes_autograd_saves(graph_cache: Path) -> None:
    """An independent count: the storages autograd saves in the same forward, once each."""
    net = build_training_model(load_workload("bert-tiny").model, "pretraining", torch.float32)
    weights = {p.untyped_storage()._cdata for p in net.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        key = tensor.untyped_storage()._cdata
        if key not in weights:
            saved[key] = tensor.untyped_storage().nbytes()
        return tensor

    # the same step as CUDA runs it: dropout fused (perfsim.trace.dropout)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), FusedDropoutMode():
        loss = net(**training_inputs(net, BATCH, SEQ)).loss
    del loss
    footprint = memory_footprint(graph(graph_cache, optimizer="sgd").meta)
    assert footprint is not None
    assert footprint.activations == sum(saved.values()) > 0


@pytest.mark.parametrize(
    ("optimizer", "precision", "weights", "gradients", "state"),
    [
        # bytes per parameter: fp32 weights and gradients 4 + 4; SGD momentum 4
        ("sgd", "fp32", 4, 4, 4),
        # Adam: two fp32 moments (8)
        ("adam", "fp32", 4, 4, 8),
        ("lamb", "fp32", 4, 4, 8),
        # mixed precision (ZeRO's accounting): fp16 weights 2, fp16 + fp32 master
        # gradients 2 + 4, fp32 master weights and moments 4 + 8
        ("adamw", "fp16", 2, 6, 12),
        ("adamw", "bf16", 2, 6, 12),
    ],
)
def test_weights_gradients_and_state_per_parameter(
    graph_cache: Path, optimizer: str, precision: str, weights: int, gradients: int, state: int
) -> None:
    traced = graph(graph_cache, optimizer=optimizer, precision=precision)
    footprint = memory_footprint(traced.meta)
    assert footprint is not None
    params = traced.meta["params"]
    assert params == traced.meta["trainable_params"] == 4_433_468  # bert-tiny + heads
    assert footprint.weights == weights * params
    assert footprint.gradients == gradients * params
    assert footprint.optimizer_state == state * params
    assert footprint.total == sum(v for k, v in footprint.to_dict().items() if k != "total")


def test_checkpointing_lowers_activations_and_raises_flops(graph_cache: Path) -> None:
    plain = graph(graph_cache, optimizer="sgd", batch=4, seq=64)
    checkpointed = graph(graph_cache, optimizer="sgd", batch=4, seq=64, checkpointing=True)
    kept, recomputed = memory_footprint(plain.meta), memory_footprint(checkpointed.meta)
    assert kept is not None and recomputed is not None
    assert recomputed.activations < kept.activations
    assert checkpointed.flops > plain.flops
    # the recomputed layer forwards run in the backward phase, inside their layers
    extra = [op for op in checkpointed.ops if op.phase == "backward" and op.category == "gelu"]
    before = [op for op in plain.ops if op.phase == "backward" and op.category == "gelu"]
    assert len(extra) > len(before)
    assert {op.layer for op in extra} >= {0, 1}


def test_inference_footprint_is_weights_plus_peak_activations(traced) -> None:
    meta = traced("bert-tiny").meta
    fp32, bf16 = memory_footprint(meta, "fp32"), memory_footprint(meta, "bf16")
    assert fp32 is not None and bf16 is not None
    # bert-tiny base encoder: 4,385,920 parameters, 4 bytes each in fp32, 2 in bf16
    assert fp32.weights == 4 * 4_385_920 and bf16.weights == 2 * 4_385_920
    # at least the 128 x 128 fp32 hidden state and the 2 x 128 x 128 attention scores
    assert fp32.activations >= 4 * (128 * 128 + 2 * 128 * 128)
    assert fp32.gradients == fp32.optimizer_state == 0
    assert bf16.activations * 2 == fp32.activations


@given(
    fixed=st.integers(0, 10**9),
    per_sample=st.integers(1, 10**7),
    capacity=st.integers(1, 10**10),
)
def test_largest_batch_of_an_affine_footprint(fixed: int, per_sample: int, capacity: int) -> None:
    answer = largest_batch(lambda b: fixed + per_sample * b, capacity)
    expected = min(max(0, (capacity - fixed) // per_sample), 1 << 20)
    assert answer.batch == expected
    assert len(answer.measured) <= 4  # 1, 2, the solved batch and the one after


@given(
    floor=st.integers(0, 10**6),
    per_sample=st.integers(1, 1000),
    curve=st.integers(0, 50),
    capacity=st.integers(1, 10**7),
)
def test_largest_batch_of_a_flat_then_curved_footprint(
    floor: int, per_sample: int, curve: int, capacity: int
) -> None:
    def footprint(b: int) -> int:  # flat while an optimizer transient dominates, then convex
        return max(floor, per_sample * b) + curve * b * b // 100

    answer = largest_batch(footprint, capacity, max_batch=20_000)
    fits = [b for b in range(1, 20_001) if footprint(b) <= capacity]
    assert answer.batch == (fits[-1] if fits else 0)
