"""Per-op framework time of eager PyTorch on a CPU: the host file's ``op_overhead``.

A real Hugging Face ``BertModel`` (the code ``perfsim validate`` runs) at widths where
its kernels do almost nothing (hidden size 8, 2 heads, 4 tokens), so the wall time of a
forward is the framework's: ``nn.Module.__call__``, the model's Python between modules
(attention-mask handling, reshapes, output records), aten dispatch of the ops perfsim
folds away (views), allocation and OpenMP parallel regions. Seconds per op = wall time /
the ops perfsim's tracer records for the same model, so the figure is per costed op, the
unit the engines charge.

Why a real BERT and not a stack of bare ``nn.Linear``/``LayerNorm`` blocks (the figure
before issue 13): measured interleaved at one thread, best of rounds, HF BERT spends
10.6-12.5 us per traced op where such a stack spends 6.6 us, 1.6-1.9x (its Python between
modules and the views it still dispatches: 0.5 per costed op against 0.08 in the stack).
``FRAMEWORK_LAYERS`` = 4 spreads the model's fixed part (embeddings, mask, pooler: about
a fifth of a 2-layer forward) over the ops as in the 2- to 24-layer models validated.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Final

from perfsim.calibration.timing import Effort, best_time_s

if TYPE_CHECKING:
    import torch

FRAMEWORK_WIDTH: Final = 8  # hidden size: kernels of a few hundred FLOPs
FRAMEWORK_HEADS: Final = 2
FRAMEWORK_TOKENS: Final = 4
FRAMEWORK_LAYERS: Final = 4
FRAMEWORK_VOCAB: Final = 100


def framework_model(layers: int = FRAMEWORK_LAYERS) -> torch.nn.Module:
    """A ``transformers.BertModel`` of ``layers`` tiny layers, random weights, eval mode
    (the caller's random state is left as it was)."""
    import torch
    import transformers

    config = transformers.BertConfig(
        hidden_size=FRAMEWORK_WIDTH,
        num_attention_heads=FRAMEWORK_HEADS,
        intermediate_size=2 * FRAMEWORK_WIDTH,
        num_hidden_layers=layers,
        vocab_size=FRAMEWORK_VOCAB,
        max_position_embeddings=64,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model: torch.nn.Module = transformers.BertModel(config).eval()
    return model


def framework_inputs(device: str = "cpu") -> dict[str, Any]:
    """The input ids of one forward: batch 1, ``FRAMEWORK_TOKENS`` tokens (none is 0)."""
    import torch

    return {"input_ids": torch.arange(1, FRAMEWORK_TOKENS + 1, device=device).unsqueeze(0)}


def framework_op_count(model: torch.nn.Module) -> int:
    """Ops perfsim's tracer records for one forward of ``model`` (views folded away)."""
    from perfsim.trace import trace_model

    meta = copy.deepcopy(model).to("meta")
    return len(trace_model(meta, framework_inputs("meta")).ops)


def per_op_overhead(how: Effort, label: str = "per-op framework time") -> tuple[float, str]:
    """(seconds of framework time per costed op, how it was measured).

    Runs at the caller's torch thread count, under ``torch.inference_mode`` as validation
    runs the model.
    """
    import torch

    from perfsim.calibration.eager import rounds_text

    model = framework_model()
    ops = framework_op_count(model)
    inputs = framework_inputs()

    def forward() -> None:
        with torch.inference_mode():
            model(**inputs)

    wall = best_time_s(label, forward, how)
    text = (
        f"{rounds_text(how)} of an eager forward of a transformers BertModel at "
        f"{FRAMEWORK_LAYERS} layers, hidden {FRAMEWORK_WIDTH}, {FRAMEWORK_TOKENS} tokens "
        f"(torch.inference_mode) = {wall * 1e6:.4g} us / {ops} traced ops; kernels of a few "
        "hundred FLOPs, so this is framework time (module calls, the model's Python, "
        "dispatch of folded views, allocation, parallel regions), serial with each kernel "
        "on a CPU"
    )
    return wall / ops, text
