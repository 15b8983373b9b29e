"""USER-mode DRAM stalls of many systolic arrays at once (`stall_cycles_many`).

`perfsim.engines.cycle.memory.stall_cycles` simulates one array: the lateness of each
input's half-buffer prefetch chunks (`_read_lateness`), then, where the ofmap buffer can
fill, its drains (`_write_stall`). A sweep batch asks it for every device, each call a
handful of tiny numpy operations. Here the prefetch chunks of every (array, input) run as
one set of flat arrays: the inputs' DRAM fetches are concatenated, so their running sums
are one sorted array and each chunk finds its fold with one ``searchsorted``. Every
expression is the scalar one on the same integers and IEEE doubles, in the same order,
so the stalls are the scalar's to the cycle (tests/test_cycle_stalls_batch.py). The drain
loop is a recurrence over drains; it runs per array, only where the ofmap can fill.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perfsim.engines.cycle.folds import (
    READ_BUFFER_SETS,
    Folds,
    IntArray,
    SystolicArray,
    operand_sram_words,
)
from perfsim.engines.cycle.memory import _shared_timeline, _write_stall

_INPUTS = ("ifmap", "filter")


@dataclass(frozen=True, slots=True)
class _Segments:
    """One (array, input) per segment, in (array, input) order: the prefetch parameters
    of `perfsim.engines.cycle.memory._read_lateness` as int64 arrays."""

    fetches: IntArray  # every segment's DRAM words per fold, concatenated
    starts: IntArray  # first index of each segment in `fetches`
    active: IntArray  # words of the active half filled before cycle 0
    chunk: IntArray  # words per prefetch chunk
    period: IntArray  # cycles per chunk: ceil(floor(words / 2) / bw) + 1
    cycles: IntArray  # cycles of every fold
    start: IntArray  # local cycle a fold starts reading this input
    span: IntArray  # cycles over which a fold reads it


def _segments(
    arrays: Sequence[SystolicArray],
    folds: Sequence[Folds],
    fetches: Sequence[dict[str, IntArray]],
    bws: Sequence[float],
) -> _Segments:
    """The prefetch parameters of every (array, input), the scalar's integers."""
    columns: dict[str, list[int]] = {
        key: [] for key in ("active", "chunk", "period", "cycles", "start", "span")
    }
    parts: list[IntArray] = []
    for array, fold, fetched, bw in zip(arrays, folds, fetches, bws, strict=True):
        for operand in _INPUTS:
            words = array.sram_words(operand)
            line = math.ceil(words / READ_BUFFER_SETS)
            role = getattr(fold.mapping, operand)
            start, span = (0, fold.rows) if role == "tile" else (fold.preload, fold.mapping.t)
            columns["active"].append(math.ceil(math.ceil(words / 2) / line) * line)
            columns["chunk"].append(math.ceil((words // 2) / line) * line)
            columns["period"].append(math.ceil((words // 2) / bw) + 1)
            columns["cycles"].append(fold.cycles)
            columns["start"].append(start)
            columns["span"].append(span)
            parts.append(fetched[operand])
    lengths = np.array([len(part) for part in parts], dtype=np.int64)
    return _Segments(
        fetches=np.concatenate(parts).astype(np.int64, copy=False),
        starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
        **{key: np.array(value, dtype=np.int64) for key, value in columns.items()},
    )


def _chunks(segments: _Segments) -> tuple[IntArray, IntArray, IntArray]:
    """(segment, stall-free need cycle, lateness) of every prefetch chunk, segment by
    segment in chunk order: `_read_lateness` on all segments at once.

    The running sum of the concatenated fetches is sorted (fetches are never negative),
    so ``searchsorted`` over it finds each chunk's fold inside its own segment: a chunk's
    first word lies before its segment's last fetched word.
    """
    running = np.cumsum(segments.fetches)
    padded = np.concatenate([[0], running])  # padded[i]: words before global fold i
    base = padded[segments.starts]  # words of the segments before each one
    ends = np.concatenate([segments.starts[1:], [len(segments.fetches)]])
    total = padded[ends] - base  # words each segment fetches
    # chunks past the active half: ceil((total - active) / chunk) where total > active
    extra = np.maximum(total - segments.active, 0)
    counts = -(-extra // segments.chunk)
    segment = np.repeat(np.arange(len(counts)), counts)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    j = np.arange(len(segment), dtype=np.int64) - offsets[segment]
    first_word = segments.active[segment] + segments.chunk[segment] * j
    index = np.searchsorted(running, base[segment] + first_word, side="right")
    fold = index - segments.starts[segment]
    before = padded[index] - base[segment]
    fraction = (first_word - before) / segments.fetches[index]
    local = np.floor(fraction * segments.span[segment]).astype(np.int64)
    need = fold * segments.cycles[segment] + segments.start[segment] + local
    ready = (j + 1) * segments.period[segment] - 1
    return segment, need, ready - 1 - need


def stall_cycles_many(
    arrays: Sequence[SystolicArray],
    folds: Sequence[Folds],
    fetches: Sequence[dict[str, IntArray]],
    bws: Sequence[float],
) -> list[int]:
    """``[stall_cycles(a, f, d, bw) for ...]`` (`perfsim.engines.cycle.memory`): USER-mode
    stall cycles of each array (its folds, its inputs' DRAM words per fold, its port's
    words per cycle), the latest input chunk or ofmap drain."""
    if not arrays:
        return []
    segment, need, late = _chunks(_segments(arrays, folds, fetches, bws))
    device = segment // len(_INPUTS)
    worst_late = np.zeros(len(arrays), dtype=np.int64)
    np.maximum.at(worst_late, device, late)  # the scalar's max(worst, default=0), >= 0
    stalls = [float(late) for late in worst_late.tolist()]  # exact: below 2**53
    bounds = np.searchsorted(device, np.arange(len(arrays) + 1)).tolist()
    for p, (array, fold, bw) in enumerate(zip(arrays, folds, bws, strict=True)):
        words = array.sram_words("ofmap")
        # NB: as the scalar: only a port narrower than the array's columns fills the buffer
        if operand_sram_words(fold.mapping.ofmap, fold) <= words // 2 or bw >= array.cols:
            continue
        lo, hi = bounds[p], bounds[p + 1]
        order = np.argsort(need[lo:hi], kind="stable")
        need_sorted = need[lo:hi][order].tolist()
        worst = np.maximum.accumulate(np.maximum(late[lo:hi][order], 0)).tolist()

        def read_stall(cycle: float, needs: list[int] = need_sorted, w: list[int] = worst) -> float:
            index = bisect_right(needs, cycle)
            return float(w[index - 1]) if index else 0.0

        timeline = _shared_timeline(fold.mapping.ofmap, fold.mapping, fold.rows, fold.cols)
        stalls[p] = max(stalls[p], _write_stall(timeline, words, bw, read_stall))
    return [math.ceil(stall) for stall in stalls]


__all__ = ["stall_cycles_many"]
