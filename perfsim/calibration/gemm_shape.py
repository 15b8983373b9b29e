"""GEMM efficiency over shape on a CPU: the host file's ``compute.matrix.efficiency_grid``.

The m-ladder (`perfsim.calibration.eager`) times ``x @ W^T`` at one ``n = k`` (768). On
the quiet 2-core host that ladder explained BERT-base's projections but not the rest:
bert-tiny's k = 128 GEMMs and per-head attention GEMMs (k or n = 64) ran at 0.75-0.85x the
rate of 128x768x768 at the same m, and large-m GEMMs ran 10-15% above the median-of-shapes
peak. So the same call is timed at a few more weight sizes ``n * k`` (square ``n = k``
below 768; FFN-sized 3072 x 768 above it) for the ladder's rows m; with the ladder's own
row that is a grid over (m, n*k).

Each rate is ``2*m*n*k / (t - dispatch)`` (best-round call time less one bare dispatch, as
the ladder: the engines charge ``op_overhead`` separately). The grid's fractions are of
the best rate any fp32 GEMM showed (the grid or the file's BERT shapes), which the file
then writes as its fp32 peak, so every fraction is in (0, 1] and the grid's points give
back the measured rates exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from perfsim.calibration.eager import EFFICIENCY_ROWS, QUICK_EFFICIENCY_ROWS
from perfsim.calibration.kernels import gemm_call
from perfsim.calibration.record import Shape
from perfsim.calibration.rounds import Measurement, best_times
from perfsim.calibration.timing import Effort

# (n, k) of the grid's rows besides the ladder's n = k = 768: per-head attention sizes
# (64: a QK^T or AV instance at short sequences), bert-tiny's hidden 128, BERT's FFN
GRID_NK: Final[tuple[tuple[int, int], ...]] = ((64, 64), (128, 128), (3072, 768))
QUICK_GRID_NK: Final[tuple[tuple[int, int], ...]] = ((16, 16),)


@dataclass(frozen=True, slots=True)
class EfficiencyTable:
    """Fraction of the fp32 peak over (m, n*k): ``fraction[j][i]`` at ``nk[j]``, ``m[i]``;
    ``peak_flops_per_s`` is the peak the fractions are of, ``how`` the source comment."""

    m: tuple[int, ...]
    nk: tuple[int, ...]
    fraction: tuple[tuple[float, ...], ...]
    peak_flops_per_s: float
    how: str


def grid_shapes(quick: bool) -> tuple[Shape, ...]:
    """(m, n, k) timed for the grid, the ladder's row n = k = 768 left out (it is timed
    already)."""
    rows = QUICK_EFFICIENCY_ROWS if quick else EFFICIENCY_ROWS
    sizes = QUICK_GRID_NK if quick else GRID_NK
    return tuple((m, n, k) for n, k in sizes for m in rows)


def gemm_grid(how: Effort, *, quick: bool) -> Measurement[tuple[tuple[Shape, float], ...]]:
    """((m, n, k), best-round seconds per call) of fp32 ``x @ W^T`` over `grid_shapes`."""
    shapes = grid_shapes(quick)
    calls = [(f"GEMM fp32 {'x'.join(map(str, s))}", gemm_call("fp32", s)) for s in shapes]
    return best_times(calls, how, lambda times: tuple(zip(shapes, times, strict=True)))


def rate(shape: Shape, seconds: float, dispatch_s: float) -> float:
    """FLOP/s of one call: ``2*m*n*k`` over its time less the dispatch (never more than
    half the call, so noise in the dispatch cannot blow the rate up)."""
    m, n, k = shape
    return 2.0 * m * n * k / max(seconds - dispatch_s, seconds / 2)


def efficiency_table(
    timed: tuple[tuple[Shape, float], ...], dispatch_s: float, best_other_flops_per_s: float
) -> EfficiencyTable:
    """The grid from timed (shape, seconds), ladder rows included; pure.

    Rows are the distinct ``n*k`` (ascending), columns the distinct m; a shape missing
    from the product takes the nearest timed m of its row (never happens for a plan from
    `grid_shapes` plus the ladder). The peak is the best of the grid's rates and
    ``best_other_flops_per_s`` (the file's BERT shapes), fractions rounded to 4 digits.
    """
    rates = {(m, n * k): rate((m, n, k), t, dispatch_s) for (m, n, k), t in timed}
    rows = tuple(sorted({m for m, _ in rates}))
    sizes = tuple(sorted({nk for _, nk in rates}))
    peak = max([best_other_flops_per_s, *rates.values()])

    def at(m: int, nk: int) -> float:
        found = rates.get((m, nk))
        if found is None:
            near = min((abs(m - mm), mm) for mm, size in rates if size == nk)[1]
            found = rates[(near, nk)]
        return max(1e-4, float(f"{found / peak:.4g}"))

    fraction = tuple(tuple(at(m, nk) for m in rows) for nk in sizes)
    listed = "; ".join(
        f"n*k={nk}: "
        + ", ".join(f"m={m} {rates[(m, nk)] / 1e9:.4g}" for m in rows if (m, nk) in rates)
        for nk in sizes
    )
    how = (
        f"torch.mm fp32 x @ W^T over m x (n, k), all threads, best-round call time less one "
        f"bare dispatch ({dispatch_s * 1e6:.3g} us), GFLOP/s: {listed}; / the best fp32 GEMM "
        f"rate seen (grid and BERT shapes) {peak / 1e9:.4g} GFLOP/s, the file's fp32 peak"
    )
    return EfficiencyTable(rows, sizes, fraction, peak, how)
