"""GEMM efficiency tables: the fraction of a matrix engine's peak a GEMM of a given shape
sustains, measured by ``perfsim calibrate`` on a CPU (torch's BLAS).

Two tables, both optional in a hardware file's ``compute.matrix`` block:

* ``efficiency``: ``[[m, fraction], ...]``, m ascending: over the output rows only,
  measured at one representative ``n = k`` (BERT-base's 768). Interpolated linearly in
  ``log(m)``, held at the end values.
* ``efficiency_grid``: ``{m: [...], nk: [...], fraction: [[...], ...]}``: over the rows m
  *and* the product ``n * k`` (the weight's size in elements; one row of ``fraction`` per
  ``nk``, one column per ``m``). A small ``k`` shortens the kernel's accumulation loop and
  a small ``n`` leaves fewer column panels to share among the threads; both show up as a
  small ``n * k``, which is why one axis covers both (per-head attention GEMMs, ``k`` or
  ``n`` = head size 64, run like a ``n = k = 64..128`` GEMM, not like BERT-base's 768).
  Interpolated bilinearly in ``(log m, log nk)``, clamped at the edges of each axis.

A file with the grid uses it for every GEMM whose ``n`` and ``k`` are known; the m-ladder
then applies only to ops that lack them. A file with the ladder alone means what it meant
before the grid existed.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

Fraction = Annotated[float, Field(gt=0, le=1)]


def log_weight(points: Sequence[float], x: float) -> tuple[int, float]:
    """(index ``i``, weight ``w`` in [0, 1]) placing ``x`` between ``points[i]`` and
    ``points[i+1]`` linearly in ``log(x)``; clamped: below the first point (0, 0.0),
    above the last (last index, 0.0). ``points`` ascending and positive."""
    if len(points) == 1 or x <= points[0]:
        return 0, 0.0
    if x >= points[-1]:
        return len(points) - 1, 0.0
    i = bisect_right(points, x) - 1
    lo, hi = points[i], points[i + 1]
    return i, math.log(x / lo) / math.log(hi / lo)


def ladder_at(points: Sequence[tuple[int, float]], m: float) -> float:
    """The m-ladder ``[(m, fraction), ...]`` at ``m``: linear in ``log(m)``, ends held."""
    rows = [row for row, _ in points]
    i, w = log_weight(rows, m)
    if w == 0.0:
        return points[i][1]
    return points[i][1] + w * (points[i + 1][1] - points[i][1])


def grid_at(
    rows: Sequence[int],
    sizes: Sequence[int],
    fraction: Sequence[Sequence[float]],
    m: float,
    nk: float,
) -> float:
    """The grid ``fraction[j][i]`` (row ``j`` at ``sizes[j]``, column ``i`` at ``rows[i]``)
    at ``(m, nk)``: bilinear in ``(log m, log nk)``, clamped on each axis."""
    i, wm = log_weight(rows, m)
    j, wn = log_weight(sizes, nk)

    def along_m(row: Sequence[float]) -> float:
        return row[i] if wm == 0.0 else row[i] + wm * (row[i + 1] - row[i])

    low = along_m(fraction[j])
    return low if wn == 0.0 else low + wn * (along_m(fraction[j + 1]) - low)


class EfficiencyGrid(BaseModel):
    """Fraction of the matrix peak over GEMM shape (`perfsim.hardware.efficiency`): one row
    of ``fraction`` per ``nk`` (``n * k``, ascending), one column per ``m`` (ascending)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    m: tuple[PositiveInt, ...] = Field(min_length=1)
    nk: tuple[PositiveInt, ...] = Field(min_length=1)
    fraction: tuple[tuple[Fraction, ...], ...]

    @model_validator(mode="after")
    def _check(self) -> EfficiencyGrid:
        for name, axis in (("m", self.m), ("nk", self.nk)):
            if list(axis) != sorted(set(axis)):
                raise ValueError(f"efficiency_grid.{name} must be ascending, got {list(axis)}")
        shape = [len(row) for row in self.fraction]
        if len(shape) != len(self.nk) or any(size != len(self.m) for size in shape):
            raise ValueError(
                f"efficiency_grid.fraction needs {len(self.nk)} rows (one per nk) of "
                f"{len(self.m)} values (one per m), got rows of {shape}"
            )
        return self

    def at(self, m: int, nk: int) -> float:
        """The fraction at ``(m, nk)``: bilinear in log-log, clamped at the edges."""
        return grid_at(self.m, self.nk, self.fraction, m, nk)
