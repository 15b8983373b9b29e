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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from perfsim.engines.cycle.folds import (
    Dataflow,
    DataflowMapping,
    Folds,
    GemmCycles,
    IntArray,
    Role,
    SystolicArray,
    dataflow_mapping,
    dram_fetches,
    epoch_words,
    fold_mapping,
    operand_sram_words,
)
from perfsim.engines.cycle.memory import stall_cycles
from perfsim.engines.cycle.memory_batch import stall_cycles_many

__all__ = [
    "ConvLayer",
    "Dataflow",
    "DataflowMapping",
    "GemmCycles",
    "SystolicArray",
    "conv_cycles",
    "conv_ofmap_size",
    "dataflow_mapping",
    "gemm_cycles",
    "gemm_cycles_many",
    "im2col_addresses",
]

FetchModel = Callable[[Role, Folds, int], IntArray]


def _fetches(
    m: int, n: int, k: int, array: SystolicArray, ifmap_fetches: FetchModel
) -> tuple[DataflowMapping, Folds, dict[str, IntArray]]:
    """The mapping, the folds and each input's DRAM words per fold of a GEMM."""
    mapping = dataflow_mapping(array.dataflow, m, n, k)
    folds = fold_mapping(mapping, array.rows, array.cols)
    user_mode = array.dram_words_per_cycle is not None
    fetches = {}
    for operand, model in (("ifmap", ifmap_fetches), ("filter", dram_fetches)):
        epoch = epoch_words(array.sram_words(operand), user_mode)
        fetches[operand] = model(getattr(mapping, operand), folds, epoch)
    return mapping, folds, fetches


def _report(
    m: int,
    n: int,
    k: int,
    array: SystolicArray,
    folds: Folds,
    fetches: dict[str, IntArray],
    stall: int,
) -> GemmCycles:
    """SCALE-Sim's report of a GEMM from its folds, DRAM fetches and stall cycles."""
    mapping = folds.mapping
    compute = folds.count * folds.cycles
    pes = array.rows * array.cols
    ofmap_writes = operand_sram_words(mapping.ofmap, folds)
    return GemmCycles(
        compute_cycles=compute,
        stall_cycles=stall,
        total_cycles=compute + stall,
        mapping_efficiency=mapping.sr * mapping.sc / (folds.count * pes),
        compute_utilization=mapping.sr * mapping.sc * mapping.t / (compute * pes),
        overall_utilization=m * n * k / ((compute + stall) * pes),
        ifmap_sram_reads=operand_sram_words(mapping.ifmap, folds),
        filter_sram_reads=operand_sram_words(mapping.filter, folds),
        ofmap_sram_writes=ofmap_writes,
        ifmap_dram_reads=int(fetches["ifmap"].sum()),
        filter_dram_reads=int(fetches["filter"].sum()),
        ofmap_dram_writes=ofmap_writes,
        folds=folds.count,
    )


def _cycles(m: int, n: int, k: int, array: SystolicArray, ifmap_fetches: FetchModel) -> GemmCycles:
    """The report for a GEMM whose ifmap DRAM fetches per fold come from ``ifmap_fetches``."""
    _, folds, fetches = _fetches(m, n, k, array, ifmap_fetches)
    stall = 0
    if array.dram_words_per_cycle is not None:
        stall = stall_cycles(array, folds, fetches, array.dram_words_per_cycle)
    return _report(m, n, k, array, folds, fetches, stall)


def gemm_cycles(m: int, n: int, k: int, array: SystolicArray) -> GemmCycles:
    """Cycles and traffic of ``C[m x n] = A[m x k] @ B[k x n]`` on ``array``.

    ``m, n, k`` are SCALE-Sim's GEMM topology columns ``M, N, K`` (a row ``name, M, N, K,``):
    the ifmap is A (``M x K``), the filter B (``K x N``), the ofmap C (``M x N``).
    """
    if min(m, n, k) < 1:
        raise ValueError(f"GEMM dimensions must be positive, got m={m}, n={n}, k={k}")
    return _cycles(m, n, k, array, dram_fetches)


def gemm_cycles_many(
    m: int, n: Sequence[int], k: int, arrays: Sequence[SystolicArray]
) -> list[GemmCycles]:
    """``[gemm_cycles(m, n_i, k, array_i) ...]``: one GEMM shape (up to its columns) on
    many arrays, as a sweep batch asks it; the USER-mode stalls of all arrays are
    simulated together (`perfsim.engines.cycle.memory_batch.stall_cycles_many`)."""
    if min(m, k, *n, 1) < 1:
        raise ValueError(f"GEMM dimensions must be positive, got m={m}, n={list(n)}, k={k}")
    found = [
        _fetches(m, columns, k, array, dram_fetches)
        for columns, array in zip(n, arrays, strict=True)
    ]
    stalls = [0] * len(arrays)
    user = [p for p, array in enumerate(arrays) if array.dram_words_per_cycle is not None]
    simulated = stall_cycles_many(
        [arrays[p] for p in user],
        [found[p][1] for p in user],
        [found[p][2] for p in user],
        [arrays[p].dram_words_per_cycle or 0.0 for p in user],
    )
    for p, stall in zip(user, simulated, strict=True):
        stalls[p] = stall
    return [
        _report(m, columns, k, array, folds, fetches, stall)
        for columns, array, (_, folds, fetches), stall in zip(n, arrays, found, stalls, strict=True)
    ]


def conv_ofmap_size(ifmap: int, filt: int, stride: int) -> int:
    """Output extent as SCALE-Sim computes it: ``ceil((ifmap - filt + stride) / stride)``."""
    return math.ceil((ifmap - filt + stride) / stride)


def _conv_blocks(role: Role, folds: Folds, addresses: IntArray) -> list[IntArray]:
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


@dataclass(frozen=True, slots=True)
class ConvLayer:
    """A SCALE-Sim convolution topology row: ``IFMAP Height, IFMAP Width, Filter Height,
    Filter Width, Channels, Num Filter, Strides`` (one stride in both directions)."""

    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    num_filters: int
    stride: int

    @property
    def ofmap_hw(self) -> tuple[int, int]:
        """Output height and width (`conv_ofmap_size`)."""
        return (
            conv_ofmap_size(self.ifmap_h, self.filter_h, self.stride),
            conv_ofmap_size(self.ifmap_w, self.filter_w, self.stride),
        )

    @property
    def ifmap_words(self) -> int:
        return self.ifmap_h * self.ifmap_w * self.channels


def im2col_addresses(layer: ConvLayer) -> IntArray:
    """The ifmap address each element of the im2col matrix (``M x K``) reads; -1 off the
    ifmap. Source: operand_matrix.calc_ifmap_elem_addr (HWC layout, window in (row, col,
    channel) order)."""
    oh, ow = layer.ofmap_hw
    m, k = oh * ow, layer.filter_h * layer.filter_w * layer.channels
    out_row, out_col = np.divmod(np.arange(m), ow)
    f_row, rest = np.divmod(np.arange(k), layer.filter_w * layer.channels)
    f_col, chan = np.divmod(rest, layer.channels)
    in_row = out_row[:, None] * layer.stride + f_row[None, :]
    in_col = out_col[:, None] * layer.stride + f_col[None, :]
    addresses = (in_row * layer.ifmap_w + in_col) * layer.channels + chan[None, :]
    return np.where((in_row < layer.ifmap_h) & (in_col < layer.ifmap_w), addresses, -1)


def conv_cycles(layer: ConvLayer, array: SystolicArray) -> GemmCycles:
    """A SCALE-Sim convolution row, lowered by im2col exactly as SCALE-Sim does.

    ``M = oh * ow`` (`conv_ofmap_size`, stride in both directions), ``N = num_filters``,
    ``K = filter_h * filter_w * channels``. Compute and SRAM counts are the GEMM's. The im2col
    ifmap repeats words, so its DRAM reads track the read buffer's epoch per address
    (`_address_fetches`). NB: a fold's words are taken in first-use order without the skew,
    which moves where an epoch ends inside a fold.
    """
    oh, ow = layer.ofmap_hw
    m, n, k = oh * ow, layer.num_filters, layer.filter_h * layer.filter_w * layer.channels
    if min(oh, ow, n, layer.channels) < 1:
        raise ValueError("convolution has an empty output")
    addresses = im2col_addresses(layer)

    def ifmap_fetches(role: Role, folds: Folds, epoch: int) -> IntArray:
        blocks = _conv_blocks(role, folds, addresses)
        return _address_fetches(blocks, epoch, layer.ifmap_words)

    return _cycles(m, n, k, array, ifmap_fetches)
