"""Per-op framework time of eager PyTorch on a CPU: the host file's ``op_overhead``.

A real Hugging Face ``BertModel`` (the code ``perfsim validate`` runs) at widths where
its kernels do almost nothing (hidden size 8, 2 heads, 4 tokens), so the wall time of a
forward is the framework's: ``nn.Module.__call__``, the model's Python between modules
(attention-mask handling, reshapes, output records), aten dispatch of the ops perfsim
folds away (views), allocation and OpenMP parallel regions. Seconds per op = wall time /
the ops perfsim launches for the same model as ``perfsim validate`` costs it (traced, with
each attention block one fused kernel as torch's default SDPA backend runs it,
`perfsim.whatif.fusion.SDPA_FUSION`), so the figure is per launched op, the unit the
engines charge, and a validated forward is charged the framework time it was measured
with.

Why a real BERT and not a stack of bare ``nn.Linear``/``LayerNorm`` blocks (the figure
before issue 13): measured interleaved at one thread, best of rounds, HF BERT spends
10.6-12.5 us per traced op where such a stack spends 6.6 us, 1.6-1.9x (its Python between
modules and the views it still dispatches: 0.5 per costed op against 0.08 in the stack).
``FRAMEWORK_LAYERS`` = 4 spreads the model's fixed part (embeddings, mask, pooler: about
a fifth of a 2-layer forward) over the ops as in the 2- to 24-layer models validated.

A round is the median of ``FRAMEWORK_CALLS`` single forwards (about 1 ms each on the
2-core VM), not of a few loops of several: forwards on that VM are bimodal (0.9 ms and
1.4-1.7 ms, in stretches of tens to hundreds of calls at 2 threads), and a loop averaging
calls from both modes lands anywhere between them, where the median of many single calls
lands on one of them. The best round (`perfsim.calibration.rounds`: rounds taken in turn
with the other figures') then finds the fast mode, the framework's own cost.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from perfsim.calibration.rounds import Measurement, best_times
from perfsim.calibration.timing import Effort

if TYPE_CHECKING:
    import torch

FRAMEWORK_WIDTH: Final = 8  # hidden size: kernels of a few hundred FLOPs
FRAMEWORK_HEADS: Final = 2
FRAMEWORK_TOKENS: Final = 4
FRAMEWORK_LAYERS: Final = 4
FRAMEWORK_VOCAB: Final = 100
FRAMEWORK_CALLS: Final = 25  # single forwards per round, of which the median is the round's


def framework_model(
    layers: int = FRAMEWORK_LAYERS,
    width: int = FRAMEWORK_WIDTH,
    heads: int = FRAMEWORK_HEADS,
    intermediate: int = 2 * FRAMEWORK_WIDTH,
) -> torch.nn.Module:
    """A ``transformers.BertModel`` of ``layers`` layers (tiny ones by default), random
    weights, eval mode (the caller's random state is left as it was)."""
    import torch
    import transformers

    config = transformers.BertConfig(
        hidden_size=width,
        num_attention_heads=heads,
        intermediate_size=intermediate,
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
    """Ops perfsim launches for one forward of ``model``: those its tracer records (views
    folded away), less those launched inside a fused attention kernel."""
    from perfsim.trace import trace_model
    from perfsim.whatif.fusion import SDPA_FUSION, fuse

    meta = copy.deepcopy(model).to("meta")
    graph = trace_model(meta, framework_inputs("meta"))
    _, inside = fuse(graph, (SDPA_FUSION,))
    return len(graph.ops) - len(inside)


def per_op_overhead(
    how: Effort, label: str = "per-op framework time"
) -> Measurement[tuple[float, str]]:
    """(seconds of framework time per costed op, how it was measured).

    Runs at the caller's torch thread count, under ``torch.inference_mode`` as validation
    runs the model; a round is the median of ``FRAMEWORK_CALLS`` single forwards.
    """
    import torch

    model = framework_model()
    ops = framework_op_count(model)
    inputs = framework_inputs()

    def forward() -> None:
        with torch.inference_mode():
            model(**inputs)

    # target_s 0: one forward per timed loop (see the module docstring)
    single = replace(how, batches=FRAMEWORK_CALLS, target_s=0.0)

    def result(times: tuple[float, ...]) -> tuple[float, str]:
        (wall,) = times
        return wall / ops, describe(single, wall, ops)

    return best_times([(label, forward)], single, result)


def describe(how: Effort, wall_s: float, ops: int) -> str:
    """The source comment of the per-op framework time: a forward of ``wall_s`` seconds
    over ``ops`` launched ops."""
    from perfsim.calibration.eager import rounds_text

    return (
        f"{rounds_text(how)} of an eager forward of a transformers BertModel at "
        f"{FRAMEWORK_LAYERS} layers, hidden {FRAMEWORK_WIDTH}, {FRAMEWORK_TOKENS} tokens "
        f"(torch.inference_mode) = {wall_s * 1e6:.4g} us / {ops} launched ops (traced, attention "
        "fused as SDPA runs it); kernels of a "
        "few hundred FLOPs, so this is framework time (module calls, the model's Python, "
        "dispatch of folded views, allocation, parallel regions), serial with each kernel "
        "on a CPU"
    )
