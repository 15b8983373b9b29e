"""How eager PyTorch's framework time per op grows with the bytes its kernels stream: the
host file's ``framework_refill`` (`perfsim.hardware.components.FrameworkRefill`).

Found in issue 13: the time outside every op of a 4-layer ``BertModel`` at 8 tokens grows
from about 1.0 ms at hidden 8 to 2.2 ms at hidden 768 and 2.7 ms at 1,024, though its
activations stay under 100 kB; a hidden-8 ``BertLayer`` forward takes 179 us back to back
and 428 us right after a 100 MB ``torch.sum``. The Python between ops, and the dispatcher
under it, find their state evicted by the weights the kernels stream. ``op_overhead`` is
measured where nothing is evicted (`perfsim.calibration.framework`), so this measures the
difference on the same model at BERT widths.

Each width's figure is the time outside every top-level op of one profiled forward
(``torch.profiler``, CPU events: the gaps between consecutive top-level ops), the median of
`REFILL_CALLS` forwards per round; the extra per op is that time less the hidden-8 model's
in the same round, the median over rounds, over the ops perfsim launches for the model
(`refill_points`). Taking the difference cancels the profiler's own per-op cost. The key
is what the engines key it by (`perfsim.engines.framework.layer_stream_bytes`): the bytes
one layer's forward ops read and write, from the traced model.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Final

from perfsim.calibration.framework import (
    FRAMEWORK_HEADS,
    FRAMEWORK_TOKENS,
    FRAMEWORK_WIDTH,
    framework_inputs,
    framework_model,
    framework_op_count,
)
from perfsim.calibration.rounds import Figures, Measurement
from perfsim.calibration.timing import Effort, Probe, wall_timer

if TYPE_CHECKING:
    import torch

# BERT widths from bert-mini to bert-large (4 layers of 1,024 hold 201 MB of weights)
REFILL_WIDTHS: Final = (256, 512, 768, 1024)
QUICK_REFILL_WIDTHS: Final = (32,)
REFILL_CALLS: Final = 9  # profiled forwards per round, of which the median is the round's


@dataclass(frozen=True, slots=True)
class RefillResult:
    """(bytes one layer streams, extra framework seconds per op) ascending, the first the
    hidden-8 model's at 0; ``how``: the measurement, for the file's source comment."""

    points: tuple[tuple[float, float], ...]
    how: str


def width_model(width: int) -> torch.nn.Module:
    """The framework model at ``width`` with BERT's proportions (64-wide heads, a 4x FFN);
    the hidden-8 model itself at `FRAMEWORK_WIDTH`."""
    if width == FRAMEWORK_WIDTH:
        return framework_model()
    return framework_model(
        width=width, heads=max(FRAMEWORK_HEADS, width // 64), intermediate=4 * width
    )


def forward(model: torch.nn.Module, inputs: dict[str, Any]) -> None:
    """One eager forward under ``torch.inference_mode``, as validation runs the model."""
    import torch

    with torch.inference_mode():
        model(**inputs)


def outside_ops_s(model: torch.nn.Module, inputs: dict[str, Any]) -> float:
    """Seconds of one profiled forward spent outside every top-level op."""
    from torch.profiler import ProfilerActivity

    from perfsim.validation.profiled import quiet_profile

    with quiet_profile([ProfilerActivity.CPU]) as prof:
        forward(model, inputs)
    spans = sorted((e.time_range.start, e.time_range.end) for e in prof.events())
    outside_us, end = 0.0, None
    for start, stop in spans:
        if end is None:
            end = stop
        elif start >= end:  # a top-level op: the gap before it is outside every op
            outside_us += start - end
            end = stop
        else:  # nested in the op before (or overlapping it)
            end = max(end, stop)
    return outside_us * 1e-6


def layer_bytes(model: torch.nn.Module) -> float:
    """`layer_stream_bytes` of ``model``'s traced forward (fp32, `FRAMEWORK_TOKENS` tokens)."""
    from perfsim.engines.framework import layer_stream_bytes
    from perfsim.trace import trace_model

    meta = copy.deepcopy(model).to("meta")
    return layer_stream_bytes(trace_model(meta, framework_inputs("meta")).ops)


def refill_points(
    rounds: Sequence[Sequence[float]], keys: Sequence[float], ops: Sequence[int]
) -> tuple[tuple[float, float], ...]:
    """(key, extra seconds per op) per width, the first (hidden 8) at 0; pure.

    ``rounds``: per model, the hidden-8 one first, its time outside ops in each round (the
    rounds aligned: round ``r`` of every model was taken together). The extra is the median
    over rounds of ``(outside - outside of the first, same round) / ops``: both halves of a
    difference share the machine's state of their round, where the best round of each
    could come from different states. Floored at 0 and made non-decreasing over the widths
    (evicting more never makes the Python faster; a dip is timing noise). Widths whose key
    does not exceed the one before are dropped.
    """
    base = rounds[0]
    extras = [
        max(0.0, statistics.median(s - b for s, b in zip(model, base, strict=True)) / n)
        for model, n in zip(rounds, ops, strict=True)
    ]
    extras = list(accumulate(extras, max))
    points = [(keys[0], 0.0)]
    for key, extra in zip(keys[1:], extras[1:], strict=True):
        if key > points[-1][0]:
            points.append((key, extra))
    return tuple(points)


def measure_refill(how: Effort, *, quick: bool) -> Measurement[RefillResult]:
    """One probe over the hidden-8 model and each width: a round takes `REFILL_CALLS`
    profiled forwards of each, in turn, and keeps each one's median time outside ops."""
    widths = (FRAMEWORK_WIDTH, *(QUICK_REFILL_WIDTHS if quick else REFILL_WIDTHS))
    models = [width_model(w) for w in widths]
    keys = [layer_bytes(m) for m in models]
    ops = [framework_op_count(m) for m in models]
    inputs = framework_inputs()
    for model in models:  # warm up: the first forwards allocate and build caches
        for _ in range(3):
            outside_ops_s(model, inputs)

    def outside(model: torch.nn.Module) -> float:
        if how.timer is not wall_timer:  # an injected clock (tests): its reading stands in
            return how.timer(partial(forward, model, inputs), 1)
        return outside_ops_s(model, inputs)

    def one_round() -> tuple[float, ...]:
        return tuple(statistics.median(outside(m) for _ in range(REFILL_CALLS)) for m in models)

    labels = tuple(f"framework time outside ops, hidden {w}" for w in widths)

    def finish(figures: Figures) -> RefillResult:
        outside = [f.best for f in figures[0]]
        points = refill_points([f.rounds for f in figures[0]], keys, ops)
        listed = ", ".join(
            f"hidden {w} {s * 1e3:.3g} ms ({k / 1e6:.3g} MB a layer)"
            for w, s, k in zip(widths, outside, keys, strict=True)
        )
        how_text = (
            f"time outside every top-level op of a profiled eager forward (torch.profiler) "
            f"of a transformers BertModel of 4 layers at {FRAMEWORK_TOKENS} tokens, a round "
            f"the median of {REFILL_CALLS} forwards (best rounds: {listed}); less hidden "
            f"{FRAMEWORK_WIDTH}'s in the same round, median over rounds, over {ops[0]} "
            "launched ops; keyed by the bytes one layer's forward ops read and write"
        )
        return RefillResult(points, how_text)

    return Measurement((Probe(labels, one_round),), finish)
