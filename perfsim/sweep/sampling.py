"""Axes → design points: grid (with zipped groups), zip, random and Latin-hypercube sampling.

Every function is pure and deterministic: the same axes, method, sample count and seed
give the same points in the same order (numpy's PCG64 generator, seeded).

An axis is either a list of values or a range ``Range(low, high, log, integer)``; ranges
are only sampled (random / lhs). Random sampling draws each axis independently; the Latin
hypercube (McKay, Beckman & Conover, Technometrics 1979) cuts each axis into ``n`` equal
strata and uses each stratum exactly once, so ``n`` samples cover every axis evenly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Range:
    """A continuous axis in SI units: uniform in ``[low, high]`` (log-uniform if ``log``)."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def at(self, fraction: float) -> float | int:
        """The value a fraction ``0 <= u < 1`` of the way along the axis."""
        if self.log:
            value = math.exp(
                math.log(self.low) + fraction * (math.log(self.high) - math.log(self.low))
            )
        else:
            value = self.low + fraction * (self.high - self.low)
        return round(value) if self.integer else value

    def column(self, fractions: Sequence[float]) -> list[float | int]:
        """``[self.at(u) for u in fractions]``: the same operations, the logs of the
        bounds taken once."""
        low, high = self.low, self.high
        if self.log:
            log_low = math.log(low)
            span = math.log(high) - log_low
            values = [math.exp(log_low + u * span) for u in fractions]
        else:
            values = [low + u * (high - low) for u in fractions]
        return [round(value) for value in values] if self.integer else values  # type: ignore[misc]


Axis = Sequence[Any] | Range


def grid(
    axes: Mapping[str, Sequence[Any]], groups: Sequence[Sequence[str]] = ()
) -> list[dict[str, Any]]:
    """Cartesian product of the axes; the axes of one group vary together (zipped).

    The first axis varies slowest. A group's axes must have equal lengths.
    """
    blocks: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]] = []
    placed: set[str] = set()
    for name, values in axes.items():
        if name in placed:
            continue
        group = next((tuple(g) for g in groups if name in g), (name,))
        rows = (
            list(zip(*(axes[member] for member in group), strict=True))
            if len(group) > 1
            else [(value,) for value in values]
        )
        blocks.append((group, rows))
        placed.update(group)
    points = []
    for combo in itertools.product(*(rows for _, rows in blocks)):
        point: dict[str, Any] = {}
        for (names, _), row in zip(blocks, combo, strict=True):
            point.update(zip(names, row, strict=True))
        points.append({name: point[name] for name in axes})
    return points


def zipped(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Point ``i`` takes the ``i``-th value of every axis (equal lengths)."""
    return [dict(zip(axes, row, strict=True)) for row in zip(*axes.values(), strict=True)]


def _column(axis: Axis, fractions: Sequence[float]) -> list[Any]:
    """The values of ``axis`` at ``fractions`` (a list axis: the stratum's value)."""
    if isinstance(axis, Range):
        return axis.column(fractions)
    last = len(axis) - 1
    return [axis[min(int(u * len(axis)), last)] for u in fractions]


def _points(axes: Mapping[str, Axis], fractions: np.ndarray) -> list[dict[str, Any]]:
    """One point per row of ``fractions`` (samples x axes), built a column at a time."""
    columns = [
        _column(axis, column)
        for axis, column in zip(axes.values(), fractions.T.tolist(), strict=True)
    ]
    names = list(axes)
    return (
        [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        if columns
        else [{} for _ in fractions]
    )


def random_points(axes: Mapping[str, Axis], samples: int, seed: int) -> list[dict[str, Any]]:
    """``samples`` independent uniform draws per axis (a list axis: a uniform choice)."""
    rng = np.random.default_rng(seed)
    return _points(axes, rng.random((samples, len(axes))))


def latin_hypercube(axes: Mapping[str, Axis], samples: int, seed: int) -> list[dict[str, Any]]:
    """``samples`` points, each axis's strata ``[i/n, (i+1)/n)`` used once (random order).

    A list axis maps the strata onto its values, so each value appears ``n / len`` times
    (rounded) when ``n`` is a multiple of the list's length.
    """
    rng = np.random.default_rng(seed)
    columns = []
    for _ in axes:
        strata = rng.permutation(samples)
        columns.append((strata + rng.random(samples)) / samples)
    fractions = np.stack(columns, axis=1) if columns else np.zeros((samples, 0))
    return _points(axes, fractions)
