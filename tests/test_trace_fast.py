"""The fast trace (meta kernels replayed per op signature) records exactly the full trace.

`perfsim.trace.metacache` replays a meta kernel's outputs instead of running it again; the
reference is the same trace with every kernel run (``fast=False``). Everything the graph
holds must be equal: every op field (name, category, target, scope, layer, phase, inputs,
outputs, dims, macs, flops, bytes, deps) and the meta (memory footprint with the peak of
live bytes, grad_ready, folded ops), except the wall time of the trace itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import torch

from perfsim.ir import OpGraph
from perfsim.trace import trace_workload
from perfsim.trace.metacache import MetaCacheMode, MetaKernelCache
from perfsim.workload import load_workload
from tests.conftest import workload

FIELDS = (
    "name",
    "category",
    "target",
    "scope",
    "layer",
    "phase",
    "inputs",
    "outputs",
    "dims",
    "macs",
    "flops",
    "bytes_read",
    "bytes_written",
    "deps",
)


def both(model: str, **scenario: Any) -> tuple[OpGraph, OpGraph]:
    traced = workload(model, batch=2, seq=16, **scenario)
    return trace_workload(traced, fast=True), trace_workload(traced, fast=False)


def assert_same_graph(fast: OpGraph, full: OpGraph) -> None:
    assert len(fast.ops) == len(full.ops)
    for index, (mine, reference) in enumerate(zip(fast.ops, full.ops, strict=True)):
        for name in FIELDS:
            assert getattr(mine, name) == getattr(reference, name), (index, name, reference.name)
    assert fast.ops == full.ops
    meta = {k: v for k, v in fast.meta.items() if k != "trace_seconds"}
    assert meta == {k: v for k, v in full.meta.items() if k != "trace_seconds"}


@pytest.mark.parametrize(
    ("optimizer", "precision"),
    [
        ("lamb", "fp32"),
        ("adam", "fp32"),
        ("adamw", "fp32"),
        ("sgd", "fp32"),
        ("lamb", "fp16"),
        ("adam", "fp16"),
        ("adamw", "fp16"),
        ("sgd", "fp16"),
    ],
)
def test_fast_training_trace_equals_full_trace(optimizer: str, precision: str) -> None:
    fast, full = both("bert-tiny", mode="training", optimizer=optimizer, precision=precision)
    assert_same_graph(fast, full)
    steps = [op for op in full.ops if op.phase == "optimizer"]
    assert len(steps) >= 3 * len(full.meta["grad_ready"])  # the step really was traced


def test_fast_trace_of_shared_parameters_and_checkpointing_equals_full_trace() -> None:
    # ALBERT runs one shared layer module for every layer: shared parameters, layer
    # indices from entries; checkpointing recomputes each layer's forward in backward
    fast, full = both("albert-base", mode="training", optimizer="lamb", precision="bf16")
    assert_same_graph(fast, full)
    fast, full = both("bert-tiny", mode="training", optimizer="adamw", checkpointing=True)
    assert_same_graph(fast, full)


def test_fast_inference_trace_equals_full_trace() -> None:
    assert_same_graph(*both("bert-tiny"))


def run(cache: MetaKernelCache, ops: Sequence[Any]) -> list[Any]:
    with MetaCacheMode(cache):
        return [op() for op in ops]


def test_replayed_outputs_have_the_kernels_metadata_and_aliasing() -> None:
    x = torch.empty(4, 6, device="meta")
    y = torch.empty(6, 4, device="meta").t()  # non-contiguous input
    cache = MetaKernelCache()
    ops = [
        lambda: x.mul(y),  # fresh output
        lambda: x.add_(y),  # in place: the input itself
        lambda: x.sum(dim=0, keepdim=True),
        lambda: torch.ops.aten.native_layer_norm.default(x, [6], None, None, 1e-5),
    ]
    first = run(cache, ops)
    assert cache.hits == 0
    again = run(cache, ops)
    assert cache.hits == len(ops)
    for real, replayed in zip(first, again, strict=True):
        for a, b in zip(
            real if isinstance(real, tuple) else (real,),
            replayed if isinstance(replayed, tuple) else (replayed,),
            strict=True,
        ):
            assert (a.shape, a.stride(), a.dtype) == (b.shape, b.stride(), b.dtype)
            assert a.untyped_storage().nbytes() == b.untyped_storage().nbytes()
    assert again[1] is x
    assert again[0].untyped_storage()._cdata != first[0].untyped_storage()._cdata


def test_views_and_metadata_mutations_always_run_their_kernel() -> None:
    x = torch.empty(4, 6, device="meta")
    cache = MetaKernelCache()
    views = run(cache, [lambda: x.view(24), lambda: x.view(24)])
    # a view shares its base's storage: never replayed as a fresh tensor
    assert cache.hits == 0
    assert all(v.untyped_storage()._cdata == x.untyped_storage()._cdata for v in views)
    z = torch.empty(4, 6, device="meta")
    run(cache, [lambda: z.t_(), lambda: z.t_()])  # changes its input's metadata in place
    assert cache.hits == 0 and z.shape == (4, 6)


def test_training_step_replays_most_kernels() -> None:
    # the point of the cache: a step's repeated layers and same-shaped parameter updates
    # replay (if most ops fell back to their kernels, the trace would be equal but slow)
    from perfsim.trace.build import build_training_model, training_inputs
    from perfsim.trace.capture import capture, new_recorder
    from perfsim.trace.optimizers import initialize_state, make_optimizer

    spec = load_workload("bert-tiny").model
    model = build_training_model(spec, "pretraining", torch.float32)
    opt = make_optimizer("lamb", list(model.parameters()))
    cache = MetaKernelCache()
    initialize_state(opt, cache)
    assert cache.hits > cache.misses  # 46 parameters of a few shapes
    inputs = training_inputs(model, 2, 16)
    recorder = new_recorder(model)
    with capture(model, recorder, cache):
        model(**inputs).loss.backward()
        opt.step()
    assert cache.hits > 3 * cache.misses
