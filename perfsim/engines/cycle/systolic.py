"""Closed-form model of one GEMM on a systolic array, reproducing SCALE-Sim 3.0.0.

Source: SCALE-Sim v3.0.0 (github.com/scalesim-project/scale-sim-v2): compute/systolic_compute_
{os,ws,is}.py (folds, skew), memory/read_buffer_estimate_bw.py (CALC-mode DRAM reads),
memory/read_buffer.py and memory/write_buffer.py (USER-mode prefetch and drain),
single_layer_sim.py (report quantities). No address trace is built: counts are arithmetic per
fold, and stalls take one step per prefetch or drain of half a buffer.

Mapping. ``C[m x n] = A[m x k] @ B[k x n]``; SCALE-Sim calls A the ifmap, B the filter and C the
ofmap. A dataflow (`dataflow_mapping`) picks the spatial rows ``Sr``, spatial columns ``Sc`` and
temporal extent ``T`` -- os: (m, n, k), ws: (k, n, m), is: (k, m, n) -- and gives each operand a
role: the *tile* role stays in the array (ofmap in os, filter in ws, ifmap in is), the *row*
role streams a ``ru x T`` block per row fold and the *col* role a ``T x cu`` block per column
fold. ``nr = ceil(Sr / R)`` times ``nc = ceil(Sc / C)`` folds run column fold outer, row fold
inner, each for ``preload + T + (R - 1) + (C - 1)`` cycles (fill and drain skew), where
``preload = R`` loads the stationary input tile (ws, is) and is 0 for os. Mapping efficiency
is ``Sr * Sc / (folds * R * C)``, compute utilization ``Sr * Sc * T / (cycles * R * C)``.

Traffic. SRAM words: row role ``nc * Sr * T``, col role ``nr * Sc * T``, tile role ``Sr * Sc``.
DRAM reads follow SCALE-Sim's double-buffered read buffer: the half-buffer holds one *epoch* of
distinct words and is flushed when it fills, so a block is re-fetched when an epoch boundary
fell since its last use. Per role: tile blocks are each read once; row blocks cycle, so the
operand is read once if it fits in an epoch, else once per column fold; col blocks repeat
``nr`` times in a row and are tracked epoch by epoch (`_repeat_fetches`). DRAM writes equal
SRAM writes.

Stalls. CALC mode (``dram_words_per_cycle=None``) has none: SCALE-Sim sizes the bandwidth.
USER mode fills the active halves before cycle 0 (not counted, as in SCALE-Sim); an input
that does not fit then arrives in half-buffer chunks, chunk ``j`` at
``j * (ceil(half / bw) + 1) - 1``; the ofmap buffer drains half of itself at ``bw`` once more
than half full and stalls the array when full. A stall delays all later work, so the total
stall is the largest lateness over these release times.

Not copied from SCALE-Sim (its errors; tests/test_systolic_scalesim.py shows each): it reports
the last cycle's index (one less than the count); os ofmap SRAM writes gain ``R + C`` per fold;
ws/is compute utilization counts the ``C - 1`` skew twice; USER mode counts the padding of
partial folds as DRAM reads, doubles read stalls, and re-streams a whole operand when a
request falls behind its prefetch window. Kept for parity: the flush-when-full epochs make os
filter reads a sawtooth in SRAM size.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Dataflow = Literal["os", "ws", "is"]
Role = Literal["row", "col", "tile"]
IntArray = npt.NDArray[np.int64]

# (ifmap, filter, ofmap) roles; source: the fold loops of compute/systolic_compute_*.py.
_ROLES: dict[str, tuple[Role, Role, Role]] = {
    "os": ("row", "col", "tile"),
    "ws": ("row", "tile", "col"),
    "is": ("tile", "row", "col"),
}
_SETS = 100  # SCALE-Sim splits each read buffer into 100 sets, half of them active


@dataclass(frozen=True, slots=True)
class SystolicArray:
    """An ``rows x cols`` array of MACs with three double-buffered SRAMs.

    SRAM sizes are in bytes (SCALE-Sim: ``<name>sramszkB * 1024``), ``word_bytes`` is the
    element size (SCALE-Sim hard-codes 1). ``dram_words_per_cycle`` is each operand's own DRAM
    port in words per cycle (SCALE-Sim USER mode); ``None`` is CALC mode: no stalls.
    """

    rows: int
    cols: int
    dataflow: Dataflow
    ifmap_sram_bytes: float
    filter_sram_bytes: float
    ofmap_sram_bytes: float
    word_bytes: float = 1.0
    dram_words_per_cycle: float | None = None

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1:
            raise ValueError(f"array must be at least 1x1, got {self.rows}x{self.cols}")
        if self.dataflow not in _ROLES:
            raise ValueError(f"dataflow must be one of {sorted(_ROLES)}, got {self.dataflow!r}")
        sizes = (self.ifmap_sram_bytes, self.filter_sram_bytes, self.ofmap_sram_bytes)
        if self.word_bytes <= 0 or min(sizes) < 2 * self.word_bytes:
            raise ValueError("each SRAM must hold at least two words of word_bytes > 0")
        if self.dram_words_per_cycle is not None and self.dram_words_per_cycle <= 0:
            raise ValueError("dram_words_per_cycle must be positive (or None for CALC mode)")

    def sram_words(self, operand: str) -> int:
        """Capacity of one operand's SRAM in words (``floor(bytes / word_bytes)``)."""
        sizes = {
            "ifmap": self.ifmap_sram_bytes,
            "filter": self.filter_sram_bytes,
            "ofmap": self.ofmap_sram_bytes,
        }
        return math.floor(sizes[operand] / self.word_bytes)


@dataclass(frozen=True, slots=True)
class GemmCycles:
    """SCALE-Sim's report quantities for one layer; counts in words and cycles.

    ``compute_cycles`` is the stall-free run (SCALE-Sim "Total Cycles" minus "Stall Cycles",
    plus one: SCALE-Sim reports the index of the last cycle); ``total_cycles`` is compute plus
    stall (SCALE-Sim "Total Cycles"; the initial fill of the buffers, in its "incl. prefetch"
    column, is not counted, as in SCALE-Sim). Utilizations are fractions, not percent.
    """

    compute_cycles: int
    stall_cycles: int  # "Stall Cycles"
    total_cycles: int  # "Total Cycles"
    mapping_efficiency: float  # "Mapping Efficiency %" / 100
    compute_utilization: float  # "Compute Util %" / 100
    overall_utilization: float  # "Overall Util %" / 100
    ifmap_sram_reads: int  # "SRAM IFMAP Reads"
    filter_sram_reads: int  # "SRAM Filter Reads"
    ofmap_sram_writes: int  # "SRAM OFMAP Writes"
    ifmap_dram_reads: int  # "DRAM IFMAP Reads"
    filter_dram_reads: int  # "DRAM Filter Reads"
    ofmap_dram_writes: int  # "DRAM OFMAP Writes"
    folds: int


@dataclass(frozen=True, slots=True)
class DataflowMapping:
    """Where a GEMM's dimensions and operands go under one dataflow."""

    sr: int  # spatial extent along array rows
    sc: int  # spatial extent along array columns
    t: int  # temporal extent streamed per fold
    ifmap: Role
    filter: Role
    ofmap: Role
    stationary_input: bool  # ws, is: an input tile is preloaded for `rows` cycles per fold


def dataflow_mapping(dataflow: Dataflow, m: int, n: int, k: int) -> DataflowMapping:
    """Map ``C[m x n] = A[m x k] @ B[k x n]`` onto (Sr, Sc, T) and operand roles.

    Source: topology_utils.calc_spatio_temporal_params (os: Sr = ofmap pixels, Sc = filters,
    T = window; ws: window, filters, pixels; is: window, pixels, filters).
    """
    sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]
    return DataflowMapping(sr, sc, t, *_ROLES[dataflow], stationary_input=dataflow != "os")


@dataclass(frozen=True, slots=True)
class _Folds:
    """Fold geometry; per-fold arrays are in SCALE-Sim's order (column fold outer)."""

    mapping: DataflowMapping
    rows: int
    cols: int
    row_used: IntArray  # array rows used by each row fold, length nr
    col_used: IntArray  # array columns used by each column fold, length nc
    cycles: int  # cycles of every fold

    @property
    def nr(self) -> int:
        return len(self.row_used)

    @property
    def nc(self) -> int:
        return len(self.col_used)

    @property
    def count(self) -> int:
        return self.nr * self.nc

    def fold_rows(self) -> IntArray:
        return np.tile(self.row_used, self.nc)

    def fold_cols(self) -> IntArray:
        return np.repeat(self.col_used, self.nr)

    @property
    def preload(self) -> int:
        return self.rows if self.mapping.stationary_input else 0


def _used(extent: int, size: int) -> IntArray:
    """Elements of ``extent`` mapped onto each fold of ``size`` (last one partial)."""
    used = np.full(math.ceil(extent / size), size, dtype=np.int64)
    used[-1] = extent - size * (len(used) - 1)
    return used


def _folds(mapping: DataflowMapping, rows: int, cols: int) -> _Folds:
    cycles = mapping.t + rows + cols - 2 + (rows if mapping.stationary_input else 0)
    return _Folds(mapping, rows, cols, _used(mapping.sr, rows), _used(mapping.sc, cols), cycles)


def _sram_words(role: Role, folds: _Folds) -> int:
    """Words an operand of this role moves between its SRAM and the array."""
    m = folds.mapping
    return {"row": folds.nc * m.sr * m.t, "col": folds.nr * m.sc * m.t, "tile": m.sr * m.sc}[role]


def _epoch_words(words: int, user_mode: bool) -> int:
    """Distinct words one epoch of a read buffer holds before it is flushed.

    CALC (read_buffer_estimate_bw): 50 sets of ``floor(words / 100)``; fewer than 100 words
    never flush. USER (read_buffer.prepare_hashed_buffer): the active half is
    ``ceil(ceil(words / 2) / e)`` lines of ``e = ceil(words / 100)`` words.
    """
    if user_mode:
        line = math.ceil(words / _SETS)
        return math.ceil(math.ceil(words / 2) / line) * line
    per_set = words // _SETS
    return _SETS // 2 * per_set if per_set else 2**62


def _repeat_fetches(sizes: IntArray, repeats: int, epoch: int) -> IntArray:
    """DRAM words fetched per visit when each block is visited ``repeats`` times in a row.

    The buffer counts distinct words into the current epoch and starts an empty one when
    ``epoch`` is reached, so a repeated block hits only for the part of it that landed in the
    current epoch. ``[lo, hi)`` is the resident interval of the block in its fixed visit order.
    """
    fetched = np.zeros(len(sizes) * repeats, dtype=np.int64)
    left = epoch
    for block, size in enumerate(sizes.tolist()):
        lo, hi = 0, 0
        for visit in range(repeats):
            segments, start, count = [(0, lo), (hi, size)], -1, 0
            while segments:
                first, end = segments.pop(0)
                take = min(end - first, left)
                count, left = count + take, left - take
                if left == 0:  # epoch full: everything after this word is new again
                    start, left, segments = first + take, epoch, [(first + take, size)]
            fetched[block * repeats + visit] = count
            if start < 0:
                break  # the whole block is resident: later visits all hit
            lo, hi = start, size
    return fetched


def _dram_fetches(role: Role, folds: _Folds, epoch: int) -> IntArray:
    """DRAM words a GEMM input operand of this role fetches in each fold."""
    t = folds.mapping.t
    if role == "tile":  # every tile is used once
        return folds.fold_rows() * folds.fold_cols()
    if role == "row":  # blocks cycle once per column fold
        blocks = folds.row_used * t
        if blocks.sum() < epoch:
            return np.concatenate([blocks, np.zeros(folds.count - folds.nr, dtype=np.int64)])
        return np.tile(blocks, folds.nc)
    return _repeat_fetches(folds.col_used * t, folds.nr, epoch)


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


def _write_timeline(role: Role, folds: _Folds) -> _WriteTimeline:
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


def _read_lateness(
    role: Role, fetches: IntArray, folds: _Folds, words: int, bw: float
) -> tuple[IntArray, IntArray]:
    """(stall-free need cycle, lateness) of each USER-mode prefetch chunk of one input.

    read_buffer.py fills the active half before cycle 0, then fetches the other half
    (``chunk`` words in ``ceil(floor(words / 2) / bw)`` cycles plus one) each time the array
    asks for a word past it; the prefetch engine runs ahead without waiting for the array.
    """
    line = math.ceil(words / _SETS)
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


def _stall_cycles(
    array: SystolicArray, folds: _Folds, fetches: dict[str, IntArray], bw: float
) -> int:
    """USER-mode stall cycles: the latest input chunk or ofmap drain, whichever is later."""
    needs, lateness = [], []
    for operand in ("ifmap", "filter"):
        role = getattr(folds.mapping, operand)
        need, late = _read_lateness(role, fetches[operand], folds, array.sram_words(operand), bw)
        needs.append(need)
        lateness.append(late)
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
    if _sram_words(folds.mapping.ofmap, folds) > words // 2 and bw < array.cols:
        timeline = _write_timeline(folds.mapping.ofmap, folds)
        stall = max(stall, _write_stall(timeline, words, bw, read_stall))
    return math.ceil(stall)


FetchModel = Callable[[Role, _Folds, int], IntArray]


def _cycles(m: int, n: int, k: int, array: SystolicArray, ifmap_fetches: FetchModel) -> GemmCycles:
    """The report for a GEMM whose ifmap DRAM fetches per fold come from ``ifmap_fetches``."""
    mapping = dataflow_mapping(array.dataflow, m, n, k)
    folds = _folds(mapping, array.rows, array.cols)
    user_mode = array.dram_words_per_cycle is not None
    fetches = {}
    for operand, model in (("ifmap", ifmap_fetches), ("filter", _dram_fetches)):
        epoch = _epoch_words(array.sram_words(operand), user_mode)
        fetches[operand] = model(getattr(mapping, operand), folds, epoch)
    compute = folds.count * folds.cycles
    stall = 0
    if array.dram_words_per_cycle is not None:
        stall = _stall_cycles(array, folds, fetches, array.dram_words_per_cycle)
    pes = array.rows * array.cols
    ofmap_writes = _sram_words(mapping.ofmap, folds)
    return GemmCycles(
        compute_cycles=compute,
        stall_cycles=stall,
        total_cycles=compute + stall,
        mapping_efficiency=mapping.sr * mapping.sc / (folds.count * pes),
        compute_utilization=mapping.sr * mapping.sc * mapping.t / (compute * pes),
        overall_utilization=m * n * k / ((compute + stall) * pes),
        ifmap_sram_reads=_sram_words(mapping.ifmap, folds),
        filter_sram_reads=_sram_words(mapping.filter, folds),
        ofmap_sram_writes=ofmap_writes,
        ifmap_dram_reads=int(fetches["ifmap"].sum()),
        filter_dram_reads=int(fetches["filter"].sum()),
        ofmap_dram_writes=ofmap_writes,
        folds=folds.count,
    )


def gemm_cycles(m: int, n: int, k: int, array: SystolicArray) -> GemmCycles:
    """Cycles and traffic of ``C[m x n] = A[m x k] @ B[k x n]`` on ``array``.

    ``m, n, k`` are SCALE-Sim's GEMM topology columns ``M, N, K`` (a row ``name, M, N, K,``):
    the ifmap is A (``M x K``), the filter B (``K x N``), the ofmap C (``M x N``).
    """
    if min(m, n, k) < 1:
        raise ValueError(f"GEMM dimensions must be positive, got m={m}, n={n}, k={k}")
    return _cycles(m, n, k, array, _dram_fetches)


def conv_ofmap_size(ifmap: int, filt: int, stride: int) -> int:
    """Output extent as SCALE-Sim computes it: ``ceil((ifmap - filt + stride) / stride)``."""
    return math.ceil((ifmap - filt + stride) / stride)


def _conv_blocks(role: Role, folds: _Folds, addresses: IntArray) -> list[IntArray]:
    """Distinct ifmap addresses of each fold, in the order the fold first asks for them."""
    rows, cols, nr = folds.rows, folds.cols, folds.nr
    blocks = []
    for fold in range(folds.count):
        fc, fr = divmod(fold, nr)
        if role == "tile":  # is: k (array rows) x m (array columns)
            block = addresses[fc * cols : (fc + 1) * cols, fr * rows : (fr + 1) * rows]
        elif folds.mapping.stationary_input:  # ws: a column block over k, streamed over m
            block = addresses[:, fr * rows : (fr + 1) * rows]
        else:  # os: a row block over m, streamed over k
            block = addresses[fr * rows : (fr + 1) * rows].T
        flat = block.ravel()
        unique, first = np.unique(flat[flat >= 0], return_index=True)
        blocks.append(unique[np.argsort(first)])
    return blocks


def _address_fetches(blocks: list[IntArray], epoch: int, universe: int) -> IntArray:
    """`_repeat_fetches` for blocks that share words: the epoch is tracked per address."""
    stamp = np.full(universe, -1, dtype=np.int64)
    current, count = 0, 0
    fetched = np.zeros(len(blocks), dtype=np.int64)
    for fold, block in enumerate(blocks):
        new = np.flatnonzero(stamp[block] != current)
        if count + len(new) < epoch:
            stamp[block[new]] = current
            count += len(new)
            fetched[fold] = len(new)
            continue
        rest = block[new[epoch - count - 1] + 1 :]  # after the word that filled the epoch
        fetched[fold] = epoch - count
        while len(rest) >= epoch:
            fetched[fold] += epoch
            rest = rest[epoch:]
        current += 1
        stamp[rest] = current
        count = len(rest)
        fetched[fold] += count
    return fetched


def conv_cycles(
    ifmap_h: int,
    ifmap_w: int,
    filter_h: int,
    filter_w: int,
    channels: int,
    num_filters: int,
    stride: int,
    array: SystolicArray,
) -> GemmCycles:
    """A SCALE-Sim convolution row, lowered by im2col exactly as SCALE-Sim does.

    ``M = oh * ow`` (`conv_ofmap_size`, stride in both directions), ``N = num_filters``,
    ``K = filter_h * filter_w * channels``. Compute and SRAM counts are the GEMM's. The im2col
    ifmap repeats words, so its DRAM reads track the read buffer's epoch per address
    (`_address_fetches`). NB: a fold's words are taken in first-use order without the skew,
    which moves where an epoch ends inside a fold.
    """
    oh = conv_ofmap_size(ifmap_h, filter_h, stride)
    ow = conv_ofmap_size(ifmap_w, filter_w, stride)
    m, n, k = oh * ow, num_filters, filter_h * filter_w * channels
    if min(oh, ow, n, channels) < 1:
        raise ValueError("convolution has an empty output")
    # operand_matrix.calc_ifmap_elem_addr: HWC layout, window (row, col, channel) order
    out_row, out_col = np.divmod(np.arange(m), ow)
    f_row, rest = np.divmod(np.arange(k), filter_w * channels)
    f_col, chan = np.divmod(rest, channels)
    in_row = out_row[:, None] * stride + f_row[None, :]
    in_col = out_col[:, None] * stride + f_col[None, :]
    addresses = (in_row * ifmap_w + in_col) * channels + chan[None, :]
    addresses = np.where((in_row < ifmap_h) & (in_col < ifmap_w), addresses, -1)

    def ifmap_fetches(role: Role, folds: _Folds, epoch: int) -> IntArray:
        blocks = _conv_blocks(role, folds, addresses)
        return _address_fetches(blocks, epoch, ifmap_h * ifmap_w * channels)

    return _cycles(m, n, k, array, ifmap_fetches)
