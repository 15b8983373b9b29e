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
from perfsim.trace.build import build_model, example_inputs
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


# Published parameter counts (the workload files' ``published_params``, each with its
# ``source``) and how far perfsim's count (the traced encoder: Hugging Face's ``AutoModel``,
# embeddings, layers and the pooler where the family has one, no pre-training heads) may
# sit from each, and why. Papers print counts rounded to 2-3 significant figures and count
# slightly different parts, so each bound is the rounding of the printed figure plus the
# parts named; the measured gap is in the comment.
PUBLISHED_PARAMS_TOLERANCE: dict[str, tuple[int, float]] = {
    # Devlin et al. 2019 §3: "110M"; perfsim 109.48M with the 0.59M pooler (108.89M
    # without): -0.5%. The printed figure is rounded up ("110M" for 109.5M)
    "bert-base": (110_000_000, 0.01),
    # Devlin et al. 2019 §3: "340M"; perfsim 335.14M with the 1.05M pooler: -1.4%. The
    # 340M is rounded loosely (Hugging Face's own count is 335M)
    "bert-large": (340_000_000, 0.02),
    # Turc et al. 2019 compact-model table, printed to 0.1M; they count the MLM head's
    # transform and decoder bias (H^2 + 3H + 30,522) that a bare encoder lacks:
    # tiny 4.39M vs 4.4M -0.3%, mini 11.17M vs 11.3M -1.1%, small 28.76M vs 29.1M -1.2%,
    # medium 41.37M vs 41.7M -0.8%
    "bert-tiny": (4_400_000, 0.015),
    "bert-mini": (11_300_000, 0.015),
    "bert-small": (29_100_000, 0.015),
    "bert-medium": (41_700_000, 0.015),
    # fairseq RoBERTa README: 125M / 355M; perfsim 124.65M (-0.3%) / 355.36M (+0.1%)
    "roberta-base": (125_000_000, 0.01),
    "roberta-large": (355_000_000, 0.01),
    # Sanh et al. 2019 Table 3: 66M; perfsim 66.36M (no pooler, no token types): +0.5%
    "distilbert-base": (66_000_000, 0.01),
    # Lan et al. 2020 Table 1, printed in whole millions (±0.5M: 4.2% of 12M, 2.8% of
    # 18M): base 11.68M (-2.6%), large 17.68M (-1.8%); shared layers counted once
    "albert-base": (12_000_000, 0.5 / 12),
    "albert-large": (18_000_000, 0.5 / 18),
    # Clark et al. 2020 Table 1, whole millions: "14M" for a 13.48M discriminator (-3.7%;
    # rounded up, and their count includes the discriminator head, 66K)
    "electra-small": (14_000_000, 0.04),
    # Sun et al. 2020 Table 3: 25.3M counts the pre-training heads; the encoder is 24.58M
    # (-2.8%)
    "mobilebert": (25_300_000, 0.03),
    # Jiao et al. 2020 Table 1: 14.5M; perfsim 14.35M (-1.0%)
    "tinybert-4l": (14_500_000, 0.015),
}


def test_every_model_has_a_published_parameter_bound() -> None:
    assert set(PUBLISHED_PARAMS_TOLERANCE) == set(available_models())


@pytest.mark.parametrize("name", sorted(available_models()))
def test_parameters_match_published_counts(traced, name: str) -> None:
    spec = load_workload(name).model
    published, tolerance = PUBLISHED_PARAMS_TOLERANCE[name]
    # the figure in the table above is the one the workload file cites
    assert spec.published_params == published
    assert traced(name).meta["params"] == pytest.approx(published, rel=tolerance)


def bert_params_by_hand(config: dict[str, int], pooler: bool) -> int:
    """BERT's parameters from its config: no torch involved."""
    v, p, t = config["vocab"], config["positions"], config["types"]
    h, f, layers = config["hidden"], config["ffn"], config["layers"]
    embeddings = (v + p + t) * h + 2 * h  # word, position, token-type tables; LayerNorm
    # Q, K, V, attention output: 4 (H^2 + H); FFN up H F + F, down F H + H; 2 LayerNorms 4 H
    layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 4 * h
    return embeddings + layers * layer + (h * h + h if pooler else 0)


@pytest.mark.parametrize(
    ("name", "config", "pooler"),
    [
        ("bert-tiny", {"layers": 2, "hidden": 128, "ffn": 512}, True),
        ("bert-base", {"layers": 12, "hidden": 768, "ffn": 3072}, True),
        ("bert-large", {"layers": 24, "hidden": 1024, "ffn": 4096}, True),
        # RoBERTa: 50,265 BPE tokens, 514 positions (padding offset), one token type
        ("roberta-base", {"vocab": 50265, "positions": 514, "types": 1}, True),
        # DistilBERT: 6 layers, no token types, no pooler
        ("distilbert-base", {"layers": 6, "types": 0}, False),
    ],
)
def test_parameters_by_hand(traced, name: str, config: dict[str, int], pooler: bool) -> None:
    base = {"vocab": 30522, "positions": 512, "types": 2, "layers": 12, "hidden": 768}
    assert traced(name).meta["params"] == bert_params_by_hand(
        {"ffn": 4 * config.get("hidden", 768), **base, **config}, pooler
    )


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
