"""Folds of a GEMM on a systolic array: dataflow mapping, fold shapes, SRAM and DRAM words.

The arithmetic behind `perfsim.engines.cycle.systolic` (see its docstring for the model and
its SCALE-Sim 3.0.0 sources): which operand stays, streams by row or by column fold; how many
folds of which shape run; how many words each operand moves through SRAM and from DRAM.
"""

from __future__ import annotations

import functools
import math
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
READ_BUFFER_SETS = 100  # SCALE-Sim splits each read buffer into 100 sets, half of them active


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


@functools.lru_cache(maxsize=1024)  # a sweep's few GEMM shapes, once per point otherwise
def dataflow_mapping(dataflow: Dataflow, m: int, n: int, k: int) -> DataflowMapping:
    """Map ``C[m x n] = A[m x k] @ B[k x n]`` onto (Sr, Sc, T) and operand roles.

    Source: topology_utils.calc_spatio_temporal_params (os: Sr = ofmap pixels, Sc = filters,
    T = window; ws: window, filters, pixels; is: window, pixels, filters).
    """
    sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]
    return DataflowMapping(sr, sc, t, *_ROLES[dataflow], stationary_input=dataflow != "os")


@dataclass(frozen=True, slots=True)
class Folds:
    """Fold geometry; per-fold arrays are in SCALE-Sim's order (column fold outer)."""

    mapping: DataflowMapping
    rows: int
    cols: int
    row_used: IntArray  # array rows used by each row fold, length nr
    col_used: IntArray  # array columns used by each column fold, length nc
    cycles: int  # cycles of every fold
    per_fold_rows: IntArray  # `fold_rows`, computed once (folds are cached and shared)
    per_fold_cols: IntArray

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
        """Array rows used by each fold, in fold order (read-only)."""
        return self.per_fold_rows

    def fold_cols(self) -> IntArray:
        """Array columns used by each fold, in fold order (read-only)."""
        return self.per_fold_cols

    @property
    def preload(self) -> int:
        return self.rows if self.mapping.stationary_input else 0


def _used(extent: int, size: int) -> IntArray:
    """Elements of ``extent`` mapped onto each fold of ``size`` (last one partial)."""
    used = np.full(math.ceil(extent / size), size, dtype=np.int64)
    used[-1] = extent - size * (len(used) - 1)
    return _frozen(used)


def _frozen(array: IntArray) -> IntArray:
    array.setflags(write=False)  # shared by every caller of the cache: a write would leak
    return array


# A sweep costs the same few GEMM shapes on thousands of devices that differ mostly in SRAM
# size and DRAM bandwidth, which the geometry does not read: it is computed once per
# (shape, dataflow, array size) and shared (the arrays are read-only).
GEOMETRY_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=GEOMETRY_CACHE_SIZE)
def fold_mapping(mapping: DataflowMapping, rows: int, cols: int) -> Folds:
    """The folds of a mapped GEMM on a ``rows x cols`` array; every fold lasts
    ``T + rows + cols - 2`` cycles, plus ``rows`` to preload a stationary input."""
    cycles = mapping.t + rows + cols - 2 + (rows if mapping.stationary_input else 0)
    row_used, col_used = _used(mapping.sr, rows), _used(mapping.sc, cols)
    return Folds(
        mapping,
        rows,
        cols,
        row_used,
        col_used,
        cycles,
        _frozen(np.tile(row_used, len(col_used))),
        _frozen(np.repeat(col_used, len(row_used))),
    )


def pipelined_cycles(folds: Folds) -> int:
    """Cycles of ``folds`` run back to back when each fold's stationary tile is shifted in
    while the fold before streams (double-buffered, as TPUv1's weights: Jouppi et al., ISCA
    2017) and consecutive folds' skew overlaps: one preload, each fold but the last taking
    the longer of its ``T`` streaming cycles and the next tile's ``preload``, the last its
    ``T``, then one fill and drain of the skew. One fold takes `fold_mapping`'s cycles;
    never more than ``count x cycles``."""
    t, preload = folds.mapping.t, folds.preload
    return preload + (folds.count - 1) * max(t, preload) + t + folds.rows + folds.cols - 2


def operand_sram_words(role: Role, folds: Folds) -> int:
    """Words an operand of this role moves between its SRAM and the array."""
    m = folds.mapping
    return {"row": folds.nc * m.sr * m.t, "col": folds.nr * m.sc * m.t, "tile": m.sr * m.sc}[role]


def epoch_words(words: int, user_mode: bool) -> int:
    """Distinct words one epoch of a read buffer holds before it is flushed.

    CALC (read_buffer_estimate_bw): 50 sets of ``floor(words / 100)``; fewer than 100 words
    never flush. USER (read_buffer.prepare_hashed_buffer): the active half is
    ``ceil(ceil(words / 2) / e)`` lines of ``e = ceil(words / 100)`` words.
    """
    if user_mode:
        line = math.ceil(words / READ_BUFFER_SETS)
        return math.ceil(math.ceil(words / 2) / line) * line
    per_set = words // READ_BUFFER_SETS
    return READ_BUFFER_SETS // 2 * per_set if per_set else 2**62


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


def dram_fetches(role: Role, folds: Folds, epoch: int) -> IntArray:
    """DRAM words a GEMM input operand of this role fetches in each fold (read-only for
    the tile and row roles: those depend on the buffer only through ``fits`` below)."""
    if role == "col":
        return _repeat_fetches(folds.col_used * folds.mapping.t, folds.nr, epoch)
    fits = role == "row" and folds.row_used.sum() * folds.mapping.t < epoch
    return _geometry_fetches(role, folds.mapping, folds.rows, folds.cols, fits)


@functools.lru_cache(maxsize=GEOMETRY_CACHE_SIZE)
def _geometry_fetches(
    role: Role, mapping: DataflowMapping, rows: int, cols: int, fits: bool
) -> IntArray:
    """`dram_fetches` of the tile and row roles: each tile is used once; row blocks cycle
    once per column fold, read once in all if they fit in an epoch (``fits``)."""
    folds = fold_mapping(mapping, rows, cols)
    if role == "tile":
        return _frozen(folds.fold_rows() * folds.fold_cols())
    blocks = folds.row_used * mapping.t
    if fits:
        return _frozen(np.concatenate([blocks, np.zeros(folds.count - folds.nr, dtype=np.int64)]))
    return _frozen(np.tile(blocks, folds.nc))
