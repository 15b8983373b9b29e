"""Tile-level model of a GEMM on tensor cores or SIMD units (in the manner of LLMCompass).

The output is cut into ``tm x tn`` tiles (the engine's register/threadblock tile), one tile
per compute unit at a time, so tiles run in ``waves = ceil(tiles / units)``. A tile costs
``ceil(tm * tn * k / macs_per_cycle)`` cycles of its unit (partial tiles are padded: that is
the mapping efficiency), and per wave the memory levels must deliver that wave's share of
the op's traffic. A wave lasts as long as its slowest part (compute or any level), and the
first wave also waits for the farthest level's latency (pipeline fill). Summing the waves'
maxima is never less than the maxima of the sums: the tile model never beats the roofline.

Like a BLAS library's heuristics (cuBLAS, oneDNN), `best_tile_schedule` picks, per GEMM, the
fastest of the engine's tile and its halvings (down to 16) and of split-K factors 1-8, so
a small GEMM spreads over more units; split-K adds one pass that sums the partial
outputs on the vector units.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TileSchedule:
    """Cycles of one GEMM on ``units`` tile engines."""

    tiles: int
    waves: int
    compute_cycles: int  # waves x cycles of one tile's MACs
    total_cycles: float  # fractional: memory-bound waves end mid-cycle on average
    stall_cycles: float
    mapping_efficiency: float  # real MACs / MACs of the padded tiles


@dataclass(frozen=True, slots=True)
class TileEngines:
    """The compute units a GEMM's tiles run on.

    ``macs_per_cycle`` is one unit's MAC rate at the op's dtype; ``fill_cycles`` the latency
    before the first tile can start (the farthest level's latency); ``double_buffered``:
    loads overlap compute (a wave lasts the longer of the two), otherwise they follow each
    other (the sum); ``vector_lanes`` one unit's vector lanes, which sum split-K partials.
    """

    units: int
    macs_per_cycle: float
    fill_cycles: float = 0.0
    double_buffered: bool = True
    vector_lanes: float = 0.0


def tile_schedule(
    dims: Mapping[str, int],
    tile: tuple[int, int],
    engines: TileEngines,
    level_cycles: Mapping[str, float],
) -> TileSchedule:
    """Schedule one (batched) GEMM.

    Args:
        dims: ``b, m, n, k`` (plus ``v`` for fused attention, treated as extra k).
        tile: output tile rows x cols.
        engines: the units working in parallel (`TileEngines`).
        level_cycles: cycles each memory level needs to serve the whole op's traffic at
            its aggregate bandwidth; spread evenly over the waves.
    """
    b, m, n = dims["b"], dims["m"], dims["n"]
    k = dims["k"] + dims.get("v", 0)
    tm, tn = tile
    tiles = b * math.ceil(m / tm) * math.ceil(n / tn)
    waves = math.ceil(tiles / engines.units)
    tile_cycles = math.ceil(tm * tn * k / engines.macs_per_cycle)
    memory_per_wave = max(level_cycles.values(), default=0.0) / waves
    if engines.double_buffered:
        wave_cycles = max(tile_cycles, memory_per_wave)
    else:
        wave_cycles = tile_cycles + memory_per_wave
    total = waves * wave_cycles + engines.fill_cycles
    compute = waves * tile_cycles
    padded = tiles * tm * tn * k
    return TileSchedule(
        tiles=tiles,
        waves=waves,
        compute_cycles=compute,
        total_cycles=total,
        stall_cycles=total - compute,
        mapping_efficiency=(b * m * n * k) / padded if padded else 1.0,
    )


MIN_TILE = 16
SPLIT_K = (1, 2, 4, 8)


def best_tile_schedule(
    dims: Mapping[str, int],
    tile: tuple[int, int],
    engines: TileEngines,
    level_cycles: Callable[[tuple[int, int]], Mapping[str, float]],
    fits: Callable[[tuple[int, int]], bool] = lambda _: True,
) -> tuple[TileSchedule, tuple[int, int], int]:
    """The fastest (schedule, tile, split-K) over tile halvings and split-K factors.

    ``level_cycles(tile)`` gives each level's cycles for the whole op with that tile (the
    nearest level re-reads operand panels once per tile row / column); ``fits(tile)`` says
    whether a tile's buffers fit the unit's nearest memory (the smallest tile is always
    allowed).
    """
    k = dims["k"] + dims.get("v", 0)
    outputs = dims["b"] * dims["m"] * dims["n"]
    best: tuple[TileSchedule, tuple[int, int], int] | None = None
    tm = tile[0]
    while True:
        tn = tile[1]
        while True:
            smallest = tm // 2 < MIN_TILE and tn // 2 < MIN_TILE
            for split in SPLIT_K:
                if split > 1 and k < split * MIN_TILE:
                    continue
                if not smallest and not fits((tm, tn)):
                    continue
                split_dims = {**dims, "b": dims["b"] * split, "k": math.ceil(k / split), "v": 0}
                schedule = tile_schedule(split_dims, (tm, tn), engines, level_cycles((tm, tn)))
                if split > 1:  # sum `split` partial outputs: split - 1 adds per output
                    lanes = engines.vector_lanes * engines.units
                    reduce = outputs * (split - 1) / max(lanes, 1.0)
                    schedule = TileSchedule(
                        tiles=schedule.tiles,
                        waves=schedule.waves,
                        compute_cycles=schedule.compute_cycles,
                        total_cycles=schedule.total_cycles + reduce,
                        stall_cycles=schedule.stall_cycles + reduce,
                        mapping_efficiency=schedule.mapping_efficiency,
                    )
                if best is None or schedule.total_cycles < best[0].total_cycles:
                    best = (schedule, (tm, tn), split)
            if tn // 2 < MIN_TILE:
                break
            tn //= 2
        if tm // 2 < MIN_TILE:
            break
        tm //= 2
    assert best is not None
    return best
