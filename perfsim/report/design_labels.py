"""Short names for sweep designs: ``rows=128 sram=16MiB dram_bw=1.2TB/s``.

A design's ``design`` column spells every override in full
(``matrix.rows=128, matrix.cols=128, memory.sram.capacity=16 MiB, ...``): right for a
hover card, too long for a bar label. Here each axis gets a short name (the last part of
its dotted path; a memory level's capacity is the level's name, its bandwidth
``<level>_bw``) and each value its unit without a space.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from perfsim.report.display import kind_of, unit_for

_FIELD_ABBREVIATIONS = {"bandwidth": "bw", "latency": "lat", "frequency": "freq"}


def short_axis(axis: str) -> str:
    """``memory.sram.capacity`` → ``sram``, ``memory.dram.bandwidth`` → ``dram_bw``,
    ``matrix.rows`` → ``rows``, ``whatif.fuse`` → ``fuse``."""
    parts = axis.split(".")
    if len(parts) >= 3 and parts[0] == "memory":
        level, field = parts[1], parts[-1]
        return level if field == "capacity" else f"{level}_{_FIELD_ABBREVIATIONS.get(field, field)}"
    return _FIELD_ABBREVIATIONS.get(parts[-1], parts[-1]) if len(parts) > 1 else parts[-1]


def short_names(axes: Sequence[str]) -> dict[str, str]:
    """Axis → short name, distinct across ``axes`` (two parts kept where the last clash)."""
    names = {axis: short_axis(axis) for axis in axes}
    counts = pd.Series(list(names.values())).value_counts()
    for axis, name in names.items():
        if counts[name] > 1:
            names[axis] = ".".join(axis.split(".")[-2:])
    return names


def short_value(axis: str, value: Any) -> str:
    """``16 MiB`` → ``16MiB``; plain numbers with 4 significant digits; strings as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if kind_of(axis) == "count":
        return f"{value:.4g}"
    return unit_for(axis, [float(value)]).text(float(value)).replace(" ", "")


def short_labels(frame: pd.DataFrame, axes: Sequence[str]) -> pd.Series:
    """One short label per row over the axes that vary in ``frame``; duplicates get
    ``#<point>`` so each label names one design."""
    varying = [axis for axis in axes if axis in frame.columns and frame[axis].nunique() > 1]
    names = short_names(varying)
    if not varying:
        base = frame["design"].astype(str) if "design" in frame.columns else None
        labels = base if base is not None else pd.Series("design", index=frame.index)
    else:
        labels = pd.Series(
            [
                " ".join(f"{names[axis]}={short_value(axis, row[axis])}" for axis in varying)
                for _, row in frame[varying].iterrows()
            ],
            index=frame.index,
        )
    if labels.duplicated(keep=False).any():
        points = frame["point"] if "point" in frame.columns else frame.index.to_series()
        labels = labels.where(
            ~labels.duplicated(keep=False), labels + " #" + points.astype(str).to_numpy()
        )
    return labels
