"""DeepLearningExamples 20.06's BERT-large (workloads/schedules/models/bert-large-dle-20.06.yaml):
BERT-large's sizes, its GELU as eager erf operators, each a kernel, counted by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfsim.cache import GraphStore
from perfsim.ir import OpGraph
from perfsim.workload import load_model_file, load_workload
from perfsim.yamlio import read_yaml_mapping

ROOT = Path(__file__).resolve().parent.parent
DLE = ROOT / "workloads" / "schedules" / "models" / "bert-large-dle-20.06.yaml"

# bert-tiny's sizes with the DLE activation: hidden 128, FFN F = 512, 2 layers; batch B = 2,
# seq L = 16, traced in fp32 (4 bytes an element)
B, L, F = 2, 16, 512


def test_same_model_as_bert_large_but_the_gelu() -> None:
    dle = load_model_file(DLE)
    large = load_model_file(ROOT / "workloads" / "bert-large.yaml")
    assert dle.config["hidden_act"] == "gelu_python"
    assert {**dle.config, "hidden_act": "gelu"} == large.config
    assert (dle.max_seq, dle.published_params) == (large.max_seq, large.published_params)


@pytest.fixture(scope="module")
def erf_gelu_training(graph_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> OpGraph:
    tiny = read_yaml_mapping(ROOT / "workloads" / "bert-tiny.yaml")
    text = (ROOT / "workloads" / "bert-tiny.yaml").read_text(encoding="utf-8")
    assert tiny["config"]["hidden_act"] == "gelu"
    path = tmp_path_factory.mktemp("dle") / "bert-tiny-erf-gelu.yaml"
    path.write_text(
        text.replace("hidden_act: gelu", "hidden_act: gelu_python").replace(
            "name: bert-tiny", "name: bert-tiny-erf-gelu"
        ),
        encoding="utf-8",
    )
    return GraphStore(graph_cache).graph(load_workload(path, batch=B, seq=L, mode="training"))


def test_each_ffn_gelu_is_five_forward_kernels(erf_gelu_training: OpGraph) -> None:
    # x * 0.5 * (1 + erf(x / sqrt 2)): mul, div, erf, add, mul, each over the [B, L, F]
    # activation; the last multiplies two such tensors
    activation = B * L * F * 4
    for layer in (0, 1):
        ops = [
            op
            for op in erf_gelu_training.ops
            if op.layer == layer
            and op.phase == "forward"
            and op.scope.endswith("intermediate.intermediate_act_fn")
        ]
        assert [op.target.split(".")[1] for op in ops] == ["mul", "div", "erf", "add", "mul"]
        assert [op.bytes_read for op in ops] == [activation] * 4 + [2 * activation]
        assert all(op.bytes_written == activation for op in ops)


def test_the_backward_runs_erfs_derivative_as_kernels(erf_gelu_training: OpGraph) -> None:
    # autograd's formulas, one kernel each: d erf(u) = 2 / sqrt(pi) exp(-u^2) du (pow, neg,
    # exp, mul) and the products' and quotient's rules: ten kernels a layer where a fused
    # GELU backward is one
    backward = [
        op
        for op in erf_gelu_training.ops
        if op.layer == 0
        and op.phase == "backward"
        and op.scope.endswith("intermediate.intermediate_act_fn")
    ]
    assert len(backward) == 10
    assert {op.target.split(".")[1] for op in backward} >= {"pow", "neg", "exp", "mul", "div"}
