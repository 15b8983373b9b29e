"""USER-mode DRAM timing of a systolic array: prefetch lateness and ofmap drain stalls.

SCALE-Sim's read_buffer.py fills each input's active half-buffer before cycle 0 and then
prefetches half-buffer chunks; write_buffer.py drains the ofmap buffer half at a time. This
module turns those rules into stall cycles without replaying an address trace (see
`perfsim.engines.cycle.systolic` for the whole model).
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from perfsim.engines.cycle.folds import (
    GEOMETRY_CACHE_SIZE,
    READ_BUFFER_SETS,
    DataflowMapping,
    Folds,
    IntArray,
    Role,
    SystolicArray,
    fold_mapping,
    operand_sram_words,
)


@dataclass(frozen=True, slots=True)
class _WriteTimeline:
    """Stall-free cycle of every ofmap write (1-based index ``w``), built per fold type."""

    fold_cycles: int
    starts: list[int]  # writes before each fold, length folds + 1
    kinds: list[int]  # profile index per fold
    profiles: list[list[int]]  # writes at local cycle <= tau, per fold kind

    def time(self, w: int) -> int:
        fold = bisect_right(self.starts, w - 1) - 1
        profile = self.profiles[self.kinds[fold]]
        return fold * self.fold_cycles + bisect_left(profile, w - self.starts[fold])

    def first_at(self, cycle: float) -> int:
        """Index of the first write at stall-free cycle >= ``cycle``."""
        tau = max(math.ceil(cycle), 0)
        fold = tau // self.fold_cycles
        if fold >= len(self.kinds):
            return self.starts[-1] + 1
        local = tau - fold * self.fold_cycles
        before = self.profiles[self.kinds[fold]][local - 1] if local else 0
        return self.starts[fold] + before + 1


def _write_timeline(role: Role, folds: Folds) -> _WriteTimeline:
    """Ofmap writes: column ``c`` of row ``a`` lands at local cycle ``base + a + c``.

    os (tile role): ``base = T - 1``, rows ``R - ru .. R - 1`` (the block is flipped); ws/is
    (col role): ``base = preload + R - 1``, rows ``0 .. T - 1``.
    """
    t, rows = folds.mapping.t, folds.rows
    fold_rows, fold_cols = folds.fold_rows(), folds.fold_cols()
    kinds: dict[tuple[int, int], int] = {}
    profiles: list[list[int]] = []
    fold_kinds: list[int] = []
    for ru, cu in zip(fold_rows.tolist(), fold_cols.tolist(), strict=True):
        height = ru if role == "tile" else t
        if (height, cu) not in kinds:
            base = t - 1 + rows - ru if role == "tile" else folds.preload + rows - 1
            diag = np.arange(height + cu - 1)  # writes per cycle: a trapezoid
            per_cycle = np.minimum.reduce(
                [diag + 1, np.full_like(diag, min(height, cu)), height + cu - 1 - diag]
            )
            counts = np.zeros(folds.cycles, dtype=np.int64)
            counts[base : base + len(diag)] = per_cycle
            kinds[(height, cu)] = len(profiles)
            profiles.append(np.cumsum(counts).tolist())
        fold_kinds.append(kinds[(height, cu)])
    writes = [profiles[kind][-1] for kind in fold_kinds]
    return _WriteTimeline(folds.cycles, [0, *np.cumsum(writes).tolist()], fold_kinds, profiles)


@functools.lru_cache(maxsize=GEOMETRY_CACHE_SIZE)
def _shared_timeline(role: Role, mapping: DataflowMapping, rows: int, cols: int) -> _WriteTimeline:
    """`_write_timeline` of the folds these fix (it reads nothing else), computed once:
    the devices of a sweep differ in buffer sizes and bandwidth, not in fold geometry.
    Callers only read it."""
    return _write_timeline(role, fold_mapping(mapping, rows, cols))


def _read_lateness(
    role: Role, fetches: IntArray, folds: Folds, words: int, bw: float
) -> tuple[IntArray, IntArray]:
    """(stall-free need cycle, lateness) of each USER-mode prefetch chunk of one input.

    read_buffer.py fills the active half before cycle 0, then fetches the other half
    (``chunk`` words in ``ceil(floor(words / 2) / bw)`` cycles plus one) each time the array
    asks for a word past it; the prefetch engine runs ahead without waiting for the array.
    """
    line = math.ceil(words / READ_BUFFER_SETS)
    active = math.ceil(math.ceil(words / 2) / line) * line
    chunk = math.ceil((words // 2) / line) * line
    cumulative = np.cumsum(fetches)
    if cumulative[-1] <= active:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    first_word = active + chunk * np.arange(math.ceil((cumulative[-1] - active) / chunk))
    fold = np.searchsorted(cumulative, first_word, side="right")
    before = np.where(fold > 0, cumulative[np.maximum(fold - 1, 0)], 0)
    fraction = (first_word - before) / fetches[fold]
    start, span = (0, folds.rows) if role == "tile" else (folds.preload, folds.mapping.t)
    need = fold * folds.cycles + start + np.floor(fraction * span).astype(np.int64)
    ready = (np.arange(1, len(need) + 1) * (math.ceil((words // 2) / bw) + 1) - 1).astype(np.int64)
    return need, ready - 1 - need


def _write_stall(
    timeline: _WriteTimeline, words: int, bw: float, read_stall: Callable[[float], float]
) -> float:
    """Stall from a full ofmap buffer (write_buffer.py), given read stalls up to a cycle.

    A write that finds no drain in flight and more than ``half = floor(words / 2)`` words
    buffered starts draining ``ceil(half / bw)`` lines of ``bw`` words (freed at once, done
    ``ceil(half / bw) - 1`` cycles later); a write that fills the buffer while a drain is in
    flight waits for it. One iteration per drain.
    """
    total = timeline.starts[-1]
    half = words // 2
    lines = math.ceil(half / bw)
    used, done, drain_end, stall = 0.0, 0, 0.0, 0.0

    def delay(cycle: float) -> float:
        return max(stall, read_stall(cycle))

    while True:
        trigger = done + max(math.ceil(half + 1 - used), 1)
        if trigger > total:
            return stall
        now = timeline.time(done + 1)
        trigger = max(trigger, timeline.first_at(drain_end - delay(now)))
        full = done + math.ceil(words - used)
        if full < trigger:  # buffer full while the drain is in flight: wait for it
            cycle = timeline.time(full)
            stall = max(stall, drain_end - cycle)
            trigger = full + 1
        if trigger > total:
            return stall
        used += trigger - done
        used -= min(lines * bw, used)
        done = trigger
        cycle = timeline.time(done)
        drain_end = cycle + delay(cycle) + lines - 1


def stall_cycles(
    array: SystolicArray, folds: Folds, fetches: dict[str, IntArray], bw: float
) -> int:
    """USER-mode stall cycles: the latest input chunk or ofmap drain, whichever is later."""
    needs, lateness = [], []
    for operand in ("ifmap", "filter"):
        role = getattr(folds.mapping, operand)
        need, late = _read_lateness(role, fetches[operand], folds, array.sram_words(operand), bw)
        needs.append(need)
        lateness.append(late)
    need_sorted: list[int] = []
    worst: list[int] = []
    if len(needs[0]) or len(needs[1]):  # else both inputs fit their active halves: no chunk
        need, late = np.concatenate(needs), np.concatenate(lateness)
        order = np.argsort(need, kind="stable")
        need_sorted = need[order].tolist()
        worst = np.maximum.accumulate(np.maximum(late[order], 0)).tolist()

    def read_stall(cycle: float) -> float:
        index = bisect_right(need_sorted, cycle)
        return float(worst[index - 1]) if index else 0.0

    stall = max(worst, default=0)
    words = array.sram_words("ofmap")
    # NB: the array writes at most `cols` words a cycle, which a port that wide drains in time
    # (CALC mode picks exactly that width), so only a narrower port can fill the buffer.
    if operand_sram_words(folds.mapping.ofmap, folds) > words // 2 and bw < array.cols:
        timeline = _shared_timeline(folds.mapping.ofmap, folds.mapping, folds.rows, folds.cols)
        stall = max(stall, _write_stall(timeline, words, bw, read_stall))
    return math.ceil(stall)
