"""FLOPs and parameters against independent counters.

The references: ``torch.utils.flop_counter.FlopCounterMode`` (counts mm/addmm/bmm and the
attention kernels at 2 FLOPs per MAC, exactly perfsim's convention), the model's own
``numel`` sum, and fvcore's ``FlopCountAnalysis``, which counts one "flop" per MAC and
skips ``aten::scaled_dot_product_attention`` entirely: so fvcore sees only the ``gemm``
category (the linear layers), never ``attn_gemm``.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from perfsim.ir import Category, OpGraph
from perfsim.trace import trace_model
from perfsim.trace.build import build_model, count_parameters, example_inputs
from perfsim.workload import ModelSpec, available_models, load_workload


def matrix_flops(graph: OpGraph) -> int:
    return sum(op.flops for op in graph.ops if op.category.is_matrix)


def reference_flops(spec: ModelSpec, batch: int, seq: int) -> int:
    model = build_model(spec)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(**example_inputs(spec, batch, seq))
    return int(counter.get_total_flops())


@pytest.mark.parametrize("name", sorted(available_models()))
@pytest.mark.parametrize(("batch", "seq"), [(1, 128), (3, 40)])
def test_matrix_flops_equal_flop_counter_mode(traced, name: str, batch: int, seq: int) -> None:
    spec = load_workload(name).model
    assert matrix_flops(traced(name, batch, seq)) == reference_flops(spec, batch, seq)


@pytest.mark.parametrize("name", sorted(available_models()))
def test_parameters_equal_numel_sum(traced, name: str) -> None:
    spec = load_workload(name).model
    assert traced(name).meta["params"] == count_parameters(build_model(spec))


def test_bert_base_gemm_flops_by_hand(traced) -> None:
    graph = traced("bert-base", 1, 128)
    # per layer: Q, K, V, attention output: 4 * 2*128*768*768 = 603,979,776
    #            FFN up and down: 2 * 2*128*768*3072 = 1,207,959,552
    # 12 layers: 21,743,271,936; pooler: 2*1*768*768 = 1,179,648 → 21,744,451,584
    gemm = sum(op.flops for op in graph.ops if op.category == Category.GEMM)
    assert gemm == 21_744_451_584
    # QK^T and AV per layer: 2 * 2*12*128*128*64 = 50,331,648; x12 = 603,979,776
    attn = sum(op.flops for op in graph.ops if op.category == Category.ATTN_GEMM)
    assert attn == 603_979_776
    assert graph.meta["params"] == 109_482_240  # bert-base-uncased BertModel


@st.composite
def bert_configs(draw: st.DrawFn) -> tuple[ModelSpec, int, int]:
    heads = draw(st.integers(1, 4))
    head_dim = draw(st.sampled_from([8, 16, 24]))
    config = {
        "model_type": draw(st.sampled_from(["bert", "roberta", "electra", "distilbert"])),
        "vocab_size": draw(st.integers(50, 500)),
        "max_position_embeddings": 130,
        "pad_token_id": 1,
    }
    layers = draw(st.integers(1, 3))
    hidden = heads * head_dim
    ffn = draw(st.integers(1, 4)) * hidden
    if config["model_type"] == "distilbert":
        config.update(n_layers=layers, dim=hidden, n_heads=heads, hidden_dim=ffn)
    else:
        config.update(
            num_hidden_layers=layers,
            hidden_size=hidden,
            num_attention_heads=heads,
            intermediate_size=ffn,
        )
    spec = ModelSpec(name="random", config=config, max_seq=128)
    return spec, draw(st.integers(1, 4)), draw(st.integers(1, 96))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bert_configs())
def test_any_config_matches_flop_counter_mode(case: tuple[ModelSpec, int, int]) -> None:
    spec, batch, seq = case
    graph = trace_model(build_model(spec), example_inputs(spec, batch, seq))
    assert matrix_flops(graph) == reference_flops(spec, batch, seq)


class _Outputs(torch.nn.Module):
    """fvcore traces with torch.jit: return plain tensors, the pooler included."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(input_ids=ids)
        return out.last_hidden_state, out.pooler_output


@pytest.mark.parametrize("name", ["bert-tiny", "bert-mini"])
def test_gemm_macs_equal_fvcore_linear(traced, name: str) -> None:
    fvcore = pytest.importorskip("fvcore.nn")
    import transformers

    from perfsim.trace.build import build_config

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.AutoModel.from_config(build_config(load_workload(name).model)).eval()
        analysis = fvcore.FlopCountAnalysis(
            _Outputs(model), (torch.zeros(2, 64, dtype=torch.long),)
        )
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        by_operator = analysis.by_operator()
    graph = traced(name, 2, 64)
    gemm_macs = sum(op.macs for op in graph.ops if op.category == Category.GEMM)
    assert by_operator["linear"] == gemm_macs
    # fvcore does not see attention's matmuls at all (it skips SDPA); perfsim must
    assert "aten::scaled_dot_product_attention" in analysis.unsupported_ops()
    assert sum(op.macs for op in graph.ops if op.category == Category.ATTN_GEMM) > 0
