"""What slows the Python between ops: the measurements behind issue 13's framework refill.

    python results/validation/host-2threads-s9/eviction_probe.py

1. A hidden-8 ``BertLayer`` forward (its Python, dispatch and tiny kernels), timed right
   after each of: nothing (back to back), a pure-Python spin, a sleep of the same length,
   and a ``torch.sum`` streaming 50 or 100 MB. Median of 40 per round, best of 3 rounds.
2. A 4-layer ``BertModel`` at 8 tokens and hidden 8 to 1,024: the time outside every
   top-level op of a profiled forward (median of 9 per round, best of 3 rounds), and the
   profiled minus the unprofiled wall (the profiler's own cost).
3. The same at hidden 128 and 64 tokens, batch 1 to 16: layers whose bytes are mostly
   activations rather than weights (does an activation byte evict as much as a weight
   byte?).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import transformers
from torch.profiler import ProfilerActivity, profile

WIDTHS = (8, 256, 512, 768, 1024)


def bert(width: int, layers: int) -> torch.nn.Module:
    heads = 2 if width < 64 else width // 64
    config = transformers.BertConfig(
        hidden_size=width,
        num_attention_heads=heads,
        intermediate_size=2 * width if width < 64 else 4 * width,
        num_hidden_layers=layers,
        vocab_size=100,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    return transformers.BertModel(config).eval()


def best_median(run: Callable[[], float], calls: int, rounds: int = 3) -> float:
    return min(statistics.median(run() for _ in range(calls)) for _ in range(rounds))


def layer_after(before: Callable[[], object]) -> float:
    """Seconds of one tiny BertLayer forward right after ``before()``."""
    layer, x = LAYER
    before()
    start = time.perf_counter()
    with torch.inference_mode():
        layer(x)
    return time.perf_counter() - start


def outside_ops_s(model: torch.nn.Module, ids: torch.Tensor) -> float:
    with profile(activities=[ProfilerActivity.CPU]) as prof, torch.inference_mode():
        model(input_ids=ids)
    spans = sorted((e.time_range.start, e.time_range.end) for e in prof.events())
    outside, end = 0.0, spans[0][1]
    for start, stop in spans[1:]:
        if start >= end:
            outside += start - end
        end = max(end, stop)
    return outside * 1e-6


def wall_s(model: torch.nn.Module, ids: torch.Tensor, profiled: bool) -> float:
    """One forward's wall time, under the profiler (its start and stop, not the reading of
    its events afterwards) or without."""
    start = time.perf_counter()
    if profiled:
        with profile(activities=[ProfilerActivity.CPU]), torch.inference_mode():
            model(input_ids=ids)
    else:
        with torch.inference_mode():
            model(input_ids=ids)
    return time.perf_counter() - start


LAYER = (bert(8, 1).encoder.layer[0], torch.randn(1, 8, 8))


def main() -> None:
    big = {mb: torch.full((mb * 2**20 // 4,), 0.5) for mb in (50, 100)}
    for _ in range(50):
        layer_after(lambda: None)
    sum_s = best_median(lambda: wall_s_of(big[100].sum), 10)

    def spin() -> None:
        start = time.perf_counter()
        while time.perf_counter() - start < sum_s:
            pass

    befores = {
        "nothing (back to back)": lambda: None,
        f"a pure-Python spin of {sum_s * 1e3:.1f} ms": spin,
        f"a sleep of {sum_s * 1e3:.1f} ms": lambda: time.sleep(sum_s),
        "torch.sum over 50 MB": big[50].sum,
        "torch.sum over 100 MB": big[100].sum,
    }
    for label, before in befores.items():
        seconds = best_median(lambda before=before: layer_after(before), 40)
        print(f"hidden-8 BertLayer forward after {label}: {seconds * 1e6:.0f} us")
    ids = torch.arange(1, 9).unsqueeze(0)
    for width in WIDTHS:
        model = bert(width, 4)
        for _ in range(5):
            outside_ops_s(model, ids)
        outside = best_median(lambda model=model: outside_ops_s(model, ids), 9)
        profiled = best_median(lambda model=model: wall_s(model, ids, True), 15)
        plain = best_median(lambda model=model: wall_s(model, ids, False), 15)
        print(
            f"4 layers, hidden {width}, 8 tokens: outside ops {outside * 1e3:.2f} ms, "
            f"wall {plain * 1e3:.2f} ms, profiler's own {(profiled - plain) * 1e3:.2f} ms"
        )


def activation_series() -> None:
    """Part 3: hidden 128, 64 tokens, growing batch."""
    model = bert(128, 4)
    for batch in (1, 4, 8, 16):
        ids = torch.arange(1, 65).repeat(batch, 1)
        for _ in range(3):
            outside_ops_s(model, ids)
        outside = best_median(lambda ids=ids: outside_ops_s(model, ids), 9)
        label = f"4 layers, hidden 128, batch {batch} x 64 tokens"
        print(f"{label}: outside ops {outside * 1e3:.2f} ms")


def wall_s_of(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
    activation_series()
