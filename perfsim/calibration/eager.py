"""What eager PyTorch costs per op, and how GEMM throughput falls with few rows, on a CPU.

The microbenchmarks behind the host file's ``compute.matrix.efficiency`` and
``weight_packing_bandwidth`` (the per-op framework time behind ``op_overhead`` is
`perfsim.calibration.framework`):

* **Weight packing.** The same ``x @ W^T`` at few rows, with ``W`` taken in turn from a
  pool of weights larger than the last cache (so each comes from DRAM, as a model's do
  once per pass) and with one ``W`` that stays cached: the difference is the time to
  bring the weight in and pack it, serial with the multiply; bytes / that difference is
  the packing bandwidth.
* **GEMM efficiency over m.** ``x @ W^T`` at BERT-base's projection (n = k = 768) for a
  ladder of row counts m; each rate is ``2*m*n*k`` over the call time less one bare
  dispatch (``torch.add`` of 1-element tensors), as a fraction of the file's fp32 peak.
  It is the n = k = 768 row of the grid over (m, n*k), `perfsim.calibration.gemm_shape`.
"""

from __future__ import annotations

import itertools
import statistics
from functools import partial
from typing import TYPE_CHECKING, Final

from perfsim.calibration.kernels import gemm_call
from perfsim.calibration.rounds import Measurement, best_times
from perfsim.calibration.timing import Call, Effort

if TYPE_CHECKING:
    import torch

EFFICIENCY_ROWS: Final = (8, 32, 128, 512, 2048)
QUICK_EFFICIENCY_ROWS: Final = (8, 32)
EFFICIENCY_NK: Final = 768  # BERT-base hidden size: the n and k of the ladder
QUICK_EFFICIENCY_NK: Final = 64
# few rows, so the weight dominates the call: the packing difference is well resolved
PACKING_ROWS: Final = (8, 32)


def rounds_text(how: Effort) -> str:
    """How a figure was timed, for a source comment: ``best of 5-15 rounds (each the median
    of 9 loops)``."""
    rounds = str(how.rounds) if how.max_rounds <= how.rounds else f"{how.rounds}-{how.max_rounds}"
    return f"best of {rounds} rounds (each the median of up to {how.batches} loops)"


def gemm_ladder(how: Effort, *, quick: bool) -> Measurement[tuple[tuple[int, int, float], ...]]:
    """(m, n = k, best-round seconds per call) of fp32 ``x @ W^T`` for each rung of the ladder."""
    rows = QUICK_EFFICIENCY_ROWS if quick else EFFICIENCY_ROWS
    nk = QUICK_EFFICIENCY_NK if quick else EFFICIENCY_NK
    calls = [(f"GEMM fp32 m={m}", gemm_call("fp32", (m, nk, nk))) for m in rows]
    return best_times(
        calls, how, lambda times: tuple((m, nk, t) for m, t in zip(rows, times, strict=True))
    )


def efficiency_points(
    ladder: tuple[tuple[int, int, float], ...], peak_flops_per_s: float, dispatch_s: float
) -> tuple[tuple[tuple[int, float], ...], str]:
    """((m, fraction of ``peak_flops_per_s``) per rung, how it was measured); pure.

    Each fraction is ``2*m*n*k / (t - dispatch_s) / peak``, to 4 digits and capped at 1
    (the schema's bound; `measure_host` passes the best fp32 rate seen, grid included
    (`perfsim.calibration.gemm_shape`), so the cap binds only for other peaks). The
    dispatch is taken off because the engines charge ``op_overhead`` separately; it never
    takes more than half the call.
    """
    points, listed = [], []
    for m, nk, seconds in ladder:
        rate = 2.0 * m * nk * nk / max(seconds - dispatch_s, seconds / 2)
        points.append((m, min(1.0, float(f"{rate / peak_flops_per_s:.4g}"))))
        listed.append(f"m={m} {rate / 1e9:.4g} GFLOP/s")
    nk = ladder[0][1] if ladder else 0
    text = (
        f"torch.mm fp32 x @ W^T, n = k = {nk}, all threads, best-round call time less one bare "
        f"dispatch ({dispatch_s * 1e6:.3g} us): {', '.join(listed)}; / fp32 peak "
        f"{peak_flops_per_s / 1e9:.4g} GFLOP/s, capped at 1"
    )
    return tuple(points), text


def packing_ladder(
    how: Effort, pool_bytes: int, *, quick: bool
) -> Measurement[tuple[tuple[int, int, float, float], ...]]:
    """(m, n = k, seconds with a cached W, seconds with W from a ``pool_bytes`` pool).

    The pool is walked round-robin, so no weight is reused before the whole pool (more
    than the last cache holds) has gone through.
    """
    import torch

    nk = QUICK_EFFICIENCY_NK if quick else EFFICIENCY_NK
    pool = [torch.full((nk, nk), 0.5) for _ in range(max(2, pool_bytes // (4 * nk * nk)))]
    walk = itertools.cycle(pool)

    def from_pool(x: torch.Tensor, out: torch.Tensor) -> None:
        torch.mm(x, next(walk).t(), out=out)

    calls: list[tuple[str, Call]] = []
    for m in PACKING_ROWS:
        x, out = torch.full((m, nk), 0.25), torch.empty(m, nk)
        calls.append((f"GEMM m={m}, cached W", partial(torch.mm, x, pool[0].t(), out=out)))
        calls.append((f"GEMM m={m}, W from DRAM", partial(from_pool, x, out)))

    def rows(times: tuple[float, ...]) -> tuple[tuple[int, int, float, float], ...]:
        pairs = zip(times[0::2], times[1::2], strict=True)
        return tuple((m, nk, hot, cold) for m, (hot, cold) in zip(PACKING_ROWS, pairs, strict=True))

    return best_times(calls, how, rows)


def packing_bandwidth(
    ladder: tuple[tuple[int, int, float, float], ...], pool_bytes: int
) -> tuple[float | None, str]:
    """(weight bytes / (cold - hot) seconds, median over rungs, how measured); pure.

    None where no rung showed a positive difference (timing noise larger than the cost).
    """
    rates = [4.0 * nk * nk / (cold - hot) for _, nk, hot, cold in ladder if cold > hot]
    listed = ", ".join(
        f"m={m} {hot * 1e6:.4g} -> {cold * 1e6:.4g} us" for m, _, hot, cold in ladder
    )
    nk = ladder[0][1] if ladder else 0
    text = (
        f"torch.mm fp32 x @ W^T, n = k = {nk}, all threads, W cached vs W walked through a "
        f"{pool_bytes / 2**20:.0f} MiB pool (from DRAM): {listed}; {4 * nk * nk} weight "
        "bytes / the difference, median over rungs"
    )
    return (statistics.median(rates) if rates else None), text
