"""Pareto fronts: which designs no other design beats on every objective at once.

Design ``a`` dominates ``b`` when ``a`` is no worse than ``b`` in every objective and
strictly better in at least one. The front is the set of designs nothing dominates; equal
designs do not dominate each other, so duplicates on the front all stay.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

# The sweep's default front: what an architect trades (all minimized): time per step, energy
# per inference, and die area (`perfsim.area`), the cost of the silicon.
DEFAULT_OBJECTIVES: tuple[str, ...] = ("latency_s", "energy_per_inference_j", "area_mm2")


def pareto_mask(
    values: npt.ArrayLike, maximize: Sequence[bool] | None = None
) -> npt.NDArray[np.bool_]:
    """True for each row of ``values`` (designs x objectives) that no other row dominates.

    Objectives are minimized unless ``maximize`` says otherwise per column. NaN rows are
    never on the front. Runs in O(n x front size) vectorized comparisons.
    """
    costs = np.array(values, dtype=float, copy=True)
    if costs.ndim != 2:
        raise ValueError(f"expected a 2-D array (designs x objectives), got shape {costs.shape}")
    if maximize is not None:
        if len(maximize) != costs.shape[1]:
            raise ValueError("maximize needs one flag per objective")
        costs[:, np.asarray(maximize, dtype=bool)] *= -1.0
    valid = ~np.isnan(costs).any(axis=1)
    on_front = valid.copy()
    # visit designs best-first on the objective sum: early visits prune most of the rest
    order = np.argsort(np.where(valid, costs.sum(axis=1), np.inf), kind="stable")
    for index in order:
        if not on_front[index]:
            continue
        row = costs[index]
        dominated = np.all(row <= costs, axis=1) & np.any(row < costs, axis=1)
        on_front &= ~dominated
    return np.asarray(on_front, dtype=bool)
