"""Training steps traced for real: FLOPs against FlopCounterMode, phases, categories, scopes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from perfsim.cache import GraphStore
from perfsim.ir import Category, OpGraph
from perfsim.trace.build import build_training_model, training_inputs
from perfsim.trace.optimizers import initialize_state, make_optimizer
from perfsim.workload import available_models, load_workload
from tests.conftest import workload

BATCH, SEQ = 1, 16


def training_graph(cache: Path, model: str, **scenario: object) -> OpGraph:
    scenario = {"batch": BATCH, "seq": SEQ, **scenario}
    return GraphStore(cache).graph(workload(model, mode="training", **scenario))


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


# per parameter element, from perfsim.counting's table (a fused a*b+c counts 2):
# SGD with momentum: buf.mul_ (1), buf.add_ (1), param.add_ (1)
# Adam: lerp_ (2), mul_ (1), addcmul_ (2), sqrt (1), div (1), add_ eps (1), addcdiv_ (2)
# AdamW: Adam plus the decoupled decay param.mul_ (1)
# LAMB: m mul_/add_ (2), v mul_/addcmul_ (3), two bias-correction divs (2), sqrt (1), add_ eps
#   (1), div (1), add_ decay (1), two norms (2), update.mul_ (1), param.sub_ (1) = 15, plus
#   6 one-element ops per tensor for the trust ratio (2 gt, and, div, where, mul by lr)
@pytest.mark.parametrize(
    ("optimizer", "ops_per_tensor", "flops_per_element", "flops_per_tensor"),
    [("sgd", 3, 3, 0), ("adam", 7, 10, 0), ("adamw", 8, 11, 0), ("lamb", 21, 15, 6)],
)
def test_optimizer_ops_and_flops_by_hand(
    graph_cache: Path,
    optimizer: str,
    ops_per_tensor: int,
    flops_per_element: int,
    flops_per_tensor: int,
) -> None:
    graph = training_graph(graph_cache, "bert-tiny", optimizer=optimizer)
    tensors, elements = len(graph.meta["grad_ready"]), graph.meta["trainable_params"]
    assert tensors == 46 and elements == 4_433_468
    step = [op for op in graph.ops if op.phase == "optimizer"]
    assert {op.category for op in step} == {Category.OPTIMIZER}
    assert len(step) == ops_per_tensor * tensors
    assert sum(op.flops for op in step) == flops_per_element * elements + flops_per_tensor * tensors


def test_backward_ops_keep_forward_scope_layer_and_category(graph_cache: Path) -> None:
    graph = training_graph(graph_cache, "bert-tiny", optimizer="sgd")
    backward = [op for op in graph.ops if op.phase == "backward"]
    query = [op for op in backward if op.scope == "bert.encoder.layer.1.attention.self.query"]
    # input gradient (128 x 128 weight, 16 tokens) and weight gradient: two mm, one bias sum;
    # plus the add that sums this input gradient with the key's and value's (same input)
    assert Counter(op.category for op in query) == {
        Category.GEMM: 2,
        Category.REDUCTION: 1,
        Category.ELEMENTWISE: 1,
    }
    assert {op.layer for op in query} == {1}
    categories = Counter(op.category for op in backward)
    for category in ("layernorm", "gelu", "softmax", "dropout", "embedding", "attn_gemm"):
        assert categories[Category(category)] > 0, category
    phases = [op.phase for op in graph.ops]
    assert phases == sorted(phases, key=["forward", "backward", "optimizer"].index)


def test_grad_ready_order_for_bucketed_all_reduce(graph_cache: Path) -> None:
    graph = training_graph(graph_cache, "bert-tiny", optimizer="sgd")
    ready = graph.meta["grad_ready"]
    first_optimizer = next(i for i, op in enumerate(graph.ops) if op.phase == "optimizer")
    first_backward = next(i for i, op in enumerate(graph.ops) if op.phase == "backward")
    indices = [index for index, _, _ in ready]
    assert indices == sorted(indices)
    assert first_backward < indices[0] and indices[-1] <= first_optimizer
    assert sum(numel for _, numel, _ in ready) == graph.meta["trainable_params"]
    assert {dtype for _, _, dtype in ready} == {"fp32"}
    # the head's gradients are final before the first layer's
    assert ready[0][1] in {2, 128 * 2}  # next-sentence classifier bias or weight


@pytest.mark.parametrize("head", ["classification", "squad"])
def test_fine_tuning_heads_trace(graph_cache: Path, head: str) -> None:
    graph = training_graph(graph_cache, "bert-tiny", head=head)
    assert graph.meta["optimizer"] == "adamw"  # the fine-tuning default
    assert graph.meta["head_class"].endswith(
        "SequenceClassification" if head == "classification" else "QuestionAnswering"
    )
    assert graph.meta["unsupported"] == {}
    assert {op.phase for op in graph.ops} == {"forward", "backward", "optimizer"}


def test_fp16_mixed_precision_ops(graph_cache: Path) -> None:
    graph = training_graph(graph_cache, "bert-tiny", optimizer="sgd", precision="fp16")
    forward_gemms = [op for op in graph.ops if op.phase == "forward" and op.category == "gemm"]
    assert {op.inputs[0].dtype for op in forward_gemms} == {"fp16"}
    step = [op for op in graph.ops if op.phase == "optimizer"]
    tensors = len(graph.meta["grad_ready"])
    # per tensor: cast the gradient to fp32, unscale, inf/nan sum, 3 SGD ops, copy back
    assert len(step) == 7 * tensors
    casts = [op for op in step if op.target == "aten._to_copy.default"]
    assert {(op.inputs[0].dtype, op.outputs[0].dtype) for op in casts} == {("fp16", "fp32")}


def test_head_a_model_type_lacks_is_a_clear_error(tmp_path: Path) -> None:
    from perfsim.errors import WorkloadError

    config = tmp_path / "config.json"
    config.write_text(
        '{"model_type": "canine", "max_position_embeddings": 256, "hidden_size": 32,'
        ' "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}'
    )
    step = load_workload(config, mode="training", batch=1, seq=8)
    with pytest.raises(WorkloadError, match="no pretraining head"):
        GraphStore(enabled=False).graph(step)


def test_cli_training_run_table_json_and_out(graph_cache: Path, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from perfsim.cli import cli

    args = ["run", "-m", "bert-base", "--hw", "npu", "--mode", "training", "--seq", "32"]
    args += ["--cache-dir", str(graph_cache)]
    runner = CliRunner()
    table = runner.invoke(cli, args)
    assert table.exit_code == 0, table.output
    assert "memory footprint" in table.output and "optimizer" in table.output
    out = tmp_path / "out"
    done = runner.invoke(cli, [*args, "--format", "json", "--out", str(out)])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["mode"] == "training" and summary["optimizer"] == "lamb"
    assert summary["by_category"]["optimizer"]["flops"] > 0
    footprint = summary["memory_footprint_bytes"]
    assert set(footprint) == {
        "weights",
        "gradients",
        "optimizer_state",
        "activations",
        "workspace",
        "total",
    }
    assert summary["fits"] is (footprint["total"] <= summary["memory_capacity_bytes"])
    assert {"ops.csv", "summary.json", "report.html"} <= {p.name for p in out.iterdir()}


def test_cli_fit_answers_and_errors_cleanly(graph_cache: Path) -> None:
    import json
    import subprocess
    import sys

    from click.testing import CliRunner

    from perfsim.cli import cli

    args = ["fit", "-m", "bert-tiny", "--hw", "edge-npu", "--seq", "32", "--precision", "fp16"]
    done = CliRunner().invoke(cli, [*args, "--cache-dir", str(graph_cache), "--format", "json"])
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout)
    assert answer["fits"] and answer["max_batch"] >= 1
    assert answer["max_batch"] + 1 in answer["traced_batches"]  # verified by a trace
    assert answer["footprint_bytes"] <= answer["capacity_bytes"]
    bad = subprocess.run(
        [sys.executable, "-m", "perfsim", "fit", "-m", "bert-tiny", "--hw", "npu", "-p", "int8"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("WorkloadError: --precision") and "Traceback" not in bad.stderr
