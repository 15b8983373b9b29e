"""Per-device values read once per distinct object: `Distinct` columns, `SectionKeys`.

The batched engines (`perfsim.engines.roofline_batch`, `perfsim.engines.power_batch`)
turn per-device numbers into arrays, one entry per device. The devices of a sweep share
most of their sections (a compute section per array size, energy prices per price key:
`perfsim.sweep.patch` and `perfsim.energy.prices.cached_energy_prices` hand out the same
objects), so each column is read from the distinct objects only and spread to the
devices by index: the very values, with a few hundred Python reads instead of thousands.
Keys derived from a section (`SectionKeys`: the compute part of a device's structure or
energy-price key) are likewise built once per section object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Distinct(Generic[T]):
    """One object per device, kept as the distinct objects (by identity, first-seen
    order) and each device's position among them."""

    unique: tuple[T, ...]
    index: npt.NDArray[np.intp]
    # per mapping attribute of the objects: its distinct mappings (`entry`)
    mappings: dict[str, Distinct[Any]] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, objects: Sequence[T]) -> Distinct[T]:
        """``objects`` (alive for the call: their ids are theirs) by identity."""
        seen: dict[int, int] = {}
        unique: list[T] = []
        positions = []
        for item in objects:
            position = seen.get(id(item))
            if position is None:
                position = seen[id(item)] = len(unique)
                unique.append(item)
            positions.append(position)
        return cls(tuple(unique), np.array(positions, dtype=np.intp))

    def column(self, read: Callable[[T], Any]) -> npt.NDArray[np.float64]:
        """``np.array([read(o) for o in objects], dtype=float64)``, ``read`` called once
        per distinct object."""
        values = np.array([read(item) for item in self.unique], dtype=np.float64)
        spread: npt.NDArray[np.float64] = values[self.index]
        return spread

    def entry(
        self, mapping: str, key: str, default: float | None = None
    ) -> npt.NDArray[np.float64]:
        """``column(lambda o: getattr(o, mapping)[key])`` (``.get(key, default)`` given a
        default), read once per distinct mapping object: objects that differ often share
        their mappings (`perfsim.energy.prices.cached_energy_prices` hands out one
        mapping per content)."""
        found = self.mappings.get(mapping)
        if found is None:
            found = self.mappings[mapping] = Distinct.of(
                [getattr(item, mapping) for item in self.unique]
            )
        if default is None:
            values = found.column(lambda table: table[key])
        else:
            values = found.column(lambda table: table.get(key, default))
        spread: npt.NDArray[np.float64] = values[self.index]
        return spread


class SectionKeys(Generic[T, K]):
    """``key_of(section)`` for frozen sections (a hardware spec's compute, energy, ...),
    computed once per section object: the devices of a sweep share their sections.
    Each entry keeps its section alive, so an id is never matched to a newer object."""

    __slots__ = ("key_of", "seen")
    SIZE = 1024  # start over past this many sections (a sweep shares a few)

    def __init__(self, key_of: Callable[[T], K]) -> None:
        self.key_of = key_of
        self.seen: dict[int, tuple[T, K]] = {}

    def __call__(self, section: T) -> K:
        seen = self.seen.get(id(section))
        if seen is not None and seen[0] is section:
            return seen[1]
        if len(self.seen) >= self.SIZE:
            self.seen.clear()
        key = self.key_of(section)
        self.seen[id(section)] = (section, key)
        return key
