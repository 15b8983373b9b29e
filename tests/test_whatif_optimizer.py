"""``fusion=optimizer``: the update of each parameter as a fused multi-tensor optimizer.

Bytes per parameter element, by hand (apex ``multi_tensor_adam.cu`` / ``multi_tensor_lamb.cu``
read parameter, gradient and state once and write parameter and state once):

- fp32 Adam/AdamW: 4 B x (param r+w, grad r, m r+w, v r+w) = 4 x 7 = 28 B;
- fp32 SGD with momentum: 4 B x (param r+w, grad r, buf r+w) = 20 B;
- fp32 LAMB, two kernels: stage 1 reads param, grad, m, v (16 B) and writes m, v and the
  update (12 B); stage 2 reads param and update (8 B) and writes param (4 B): 40 B;
- fp16 mixed precision Adam: half grad r (2) + fp32 master r+w (8) + m, v r+w (16) +
  half weight w (2) = 28 B; LAMB: 2 + 4 + 8 (stage 1 reads) + 12 (stage 1 writes) +
  8 (stage 2 reads: master, update) + 4 + 2 (stage 2 writes: master, half weight) = 40 B.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from perfsim.cache import GraphStore
from perfsim.engines import available
from perfsim.errors import PerfsimError
from perfsim.estimate import check_precision
from perfsim.hardware import load_hardware
from perfsim.ir import OpGraph
from perfsim.whatif import estimate_whatif, fuse
from perfsim.whatif.fused_optimizer import optimizer_stages
from perfsim.whatif.knobs import WhatIfs, parse_assignments
from perfsim.workload import load_workload
from tests.conftest import workload

HWCONFIGS = Path(__file__).resolve().parent.parent / "hwconfigs"
OPTIMIZER = WhatIfs(fusion=("optimizer",))


def step(cache: Path, optimizer: str, precision: str = "fp32") -> OpGraph:
    return GraphStore(cache).graph(
        workload(
            "bert-tiny", batch=1, seq=16, mode="training", optimizer=optimizer, precision=precision
        )
    )


@pytest.mark.parametrize(
    ("optimizer", "precision", "kernels", "bytes_per_element"),
    [
        ("adam", "fp32", 1, 28),
        ("adamw", "fp32", 1, 28),
        ("sgd", "fp32", 1, 20),
        ("lamb", "fp32", 2, 40),
        ("adam", "fp16", 1, 28),
        ("lamb", "fp16", 2, 40),
        ("lamb", "bf16", 2, 40),
    ],
)
def test_fused_optimizer_bytes_and_kernels_by_hand(
    graph_cache: Path, optimizer: str, precision: str, kernels: int, bytes_per_element: int
) -> None:
    graph = step(graph_cache, optimizer, precision)
    fused, inner = fuse(graph, ["optimizer"])
    tensors, elements = len(graph.meta["grad_ready"]), graph.meta["trainable_params"]
    assert tensors == 46 and elements == 4_433_468
    phase = [i for i, op in enumerate(graph.ops) if op.phase == "optimizer"]
    assert sum(fused.ops[i].bytes_total for i in phase) == bytes_per_element * elements
    # one launch per kernel of each parameter; every other optimizer op runs inside one
    launched = [i for i in phase if i not in inner]
    assert len(launched) == kernels * tensors
    assert sum(fused.ops[i].bytes_total for i in phase if i in inner) == 0
    # FLOPs never change, op by op; ops outside the optimizer step are untouched
    assert [op.flops for op in fused.ops] == [op.flops for op in graph.ops]
    assert fused.ops[: phase[0]] == graph.ops[: phase[0]]


def test_lamb_stages_split_at_the_trust_ratio(graph_cache: Path) -> None:
    graph = step(graph_cache, "lamb")
    updates = optimizer_stages(graph)
    assert len(updates) == 46
    for first, second in updates:
        names = Counter(graph.ops[i].target for i in first)
        # stage 1: moments, update and both per-tensor norms (weight and update)
        assert names["aten.linalg_vector_norm.default"] == 2
        assert names["aten.addcmul_.default"] == 1
        # stage 2: the trust ratio and the weight write (sub_), nothing reduced again
        targets = [graph.ops[i].target for i in second]
        assert targets[-1] == "aten.sub_.Tensor"
        assert "aten.linalg_vector_norm.default" not in targets
        assert min(second) > max(i for i in first if "norm" in graph.ops[i].target)
    # stage 1 of fp32 LAMB: 16 B read, 12 B written per element (module docstring)
    fused, _ = fuse(graph, ["optimizer"])
    first, second = updates[0]
    elements = max(t.stored_numel for t in graph.ops[first[0]].inputs)
    assert fused.ops[first[0]].bytes_read == 16 * elements
    assert fused.ops[first[0]].bytes_written == 12 * elements
    assert fused.ops[second[0]].bytes_read == 8 * elements
    assert fused.ops[second[0]].bytes_written == 4 * elements


def test_inference_graphs_have_no_optimizer_to_fuse(graph_cache: Path) -> None:
    graph = GraphStore(graph_cache).graph(load_workload("bert-tiny", batch=1, seq=16))
    assert fuse(graph, ["optimizer"]) == (graph, frozenset())


@pytest.mark.parametrize("engine", available())
@pytest.mark.parametrize("optimizer", ["lamb", "adam", "sgd"])
def test_fused_optimizer_latency_never_higher(
    graph_cache: Path, engine: str, optimizer: str
) -> None:
    graph = step(graph_cache, optimizer)
    checked = 0
    for path in sorted(HWCONFIGS.glob("*.yaml")):
        hw = load_hardware(path)
        try:
            check_precision(hw, "fp32")
        except PerfsimError:
            continue
        base = estimate_whatif(graph, hw, precision="fp32", engine=engine, whatifs=WhatIfs())
        fused = estimate_whatif(graph, hw, precision="fp32", engine=engine, whatifs=OPTIMIZER)
        assert fused.latency_s <= base.latency_s, path.name
        assert fused.latency_s < base.latency_s or hw.op_overhead == 0, path.name
        assert sum(c.flops for c in fused.costs) == sum(c.flops for c in base.costs)
        checked += 1
    assert checked >= 5


def test_fusion_all_includes_the_optimizer_pass() -> None:
    assert "optimizer" in parse_assignments(["fusion=all"]).fusion
    assert parse_assignments(["fusion=optimizer"]).fusion == ("optimizer",)


def test_cli_training_run_with_fused_optimizer(graph_cache: Path) -> None:
    import json

    from click.testing import CliRunner

    from perfsim.cli import cli

    args = ["run", "-m", "bert-tiny", "--hw", "a100", "-b", "1", "-s", "16", "--mode"]
    args += ["training", "--optimizer", "lamb", "-f", "json", "--cache-dir", str(graph_cache)]
    runner = CliRunner()
    base = runner.invoke(cli, args)
    fused = runner.invoke(cli, [*args, "--whatif", "fusion=optimizer"])
    assert (base.exit_code, fused.exit_code) == (0, 0), fused.output
    before, after = json.loads(base.output), json.loads(fused.output)
    assert after["whatifs"] == {"fusion": "optimizer"}
    assert after["flops"] == before["flops"]
    assert after["latency_s"] < before["latency_s"]
    optimizer_before = before["by_category"]["optimizer"]
    optimizer_after = after["by_category"]["optimizer"]
    assert optimizer_after["bytes"] < optimizer_before["bytes"] / 3  # 40 B vs ~124 B
