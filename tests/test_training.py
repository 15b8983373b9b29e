"""Training steps traced for real: FLOPs against FlopCounterMode, phases, categories, scopes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from perfsim.cache import get_graph
from perfsim.ir import Category, OpGraph
from perfsim.trace.build import build_training_model, training_inputs
from perfsim.trace.optimizers import initialize_state, make_optimizer
from perfsim.workload import available_models, load_workload

BATCH, SEQ = 1, 16


def training_graph(cache: Path, model: str, **scenario: object) -> OpGraph:
    scenario = {"batch": BATCH, "seq": SEQ, **scenario}
    workload = load_workload(model, mode="training", **scenario)  # type: ignore[arg-type]
    return get_graph(workload, cache_dir=cache)


def flop_counter_training_flops(model: str, head: str, optimizer: str) -> int:
    """FlopCounterMode over the same real step: forward with loss, backward, optimizer."""
    spec = load_workload(model).model
    net = build_training_model(spec, head, torch.float32)
    opt = make_optimizer(optimizer, list(net.parameters()))
    initialize_state(opt)
    inputs = training_inputs(net, BATCH, SEQ)
    with FlopCounterMode(display=False) as counter:
        net(**inputs).loss.backward()
        opt.step()
    return int(counter.get_total_flops())


@pytest.mark.parametrize("name", sorted(available_models()))
def test_training_matrix_flops_equal_flop_counter_mode(graph_cache: Path, name: str) -> None:
    graph = training_graph(graph_cache, name, optimizer="sgd")
    matrix = sum(op.flops for op in graph.ops if op.category.is_matrix)
    assert matrix == flop_counter_training_flops(name, "pretraining", "sgd")
    # every op classified, every phase present, forward matrix FLOPs about a third
    assert graph.meta["unsupported"] == {}
    assert not [op.name for op in graph.ops if op.category == Category.OTHER]
    assert {op.phase for op in graph.ops} == {"forward", "backward", "optimizer"}
    forward = sum(op.flops for op in graph.ops if op.category.is_matrix and op.phase == "forward")
    # backward does two GEMMs per forward GEMM (input and weight gradients), except the
    # first layer's input gradient w.r.t. embeddings, which is needed too: ratio about 2
    assert 1.7 < (matrix - forward) / forward <= 2.0
