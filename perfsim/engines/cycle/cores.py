"""Systolic arrays that share a core's on-chip memory and its moving operand (TPUs).

A TPU TensorCore puts its MXUs next to one vector memory: TPUv3 has two 128 x 128 MXUs per
core and 16 MiB of VMEM, the MXUs accumulate in fp32, and XLA runs each core as its own
replica (Norrie et al., "The Design Process for Google's Training Chips: TPUv2 and TPUv3",
IEEE Micro 2021; Cloud TPU v3 documentation). The per-array model of
`perfsim.engines.cycle.systolic` (SCALE-Sim) gives every array its own buffers and DRAM
ports, streams every array's own copy of the moving operand from HBM, and writes the
partial sums of every fold of the reduction to DRAM. A hardware file with
``compute.matrix.arrays_per_core`` is costed here instead. For ``C[m x n] = A[m x k] @
B[k x n]``:

- **cores**: ``units / arrays_per_core``; the batch of a batched GEMM is split over them
  when it covers them, else the rows ``m`` (each core is a replica with its share of the
  tokens).
- **one core**: its arrays side by side are one ``rows x (arrays x cols)`` array: ``A``
  streams once from the shared memory into every array (reused across arrays), ``B``'s
  tiles sit in the arrays, and the core's buffers are its arrays' shares together.
- **blocking, as a compiler tiles for a scratchpad**: the core's rows are cut into blocks
  of ``s`` rows whose fp32 accumulators (``s`` rows of one column fold) fit the ofmap
  buffer, so the reduction's folds accumulate on chip and ``C`` is written once. A block's
  ``A`` panel (``s x k``) is read once when it fits half the shared ifmap buffer (the
  other half loads the next block), else once per column fold; ``B`` is read once per
  block. Per block, the folds run as SCALE-Sim runs them without stalls (its fold preload
  and skew paid per fold), or, where the file says ``pipelined_folds``, back to back with
  each fold's stationary tile shifted in while the one before streams and one preload,
  fill and drain a block (`perfsim.engines.cycle.folds.pipelined_cycles`: "after that
  initial bubble, new inputs and weights can be loaded in without an additional bubble",
  jax-ml/scaling-book, "How to Think About TPUs", Appendix B), and loads of the next
  block overlap this block's folds (double buffering): a block takes the longer of its
  folds and its DRAM time at the core's share of the device's bandwidth; as in SCALE-Sim,
  the first fill of the buffers is not counted. ``s`` is the fastest of
  `block_candidates` (the largest that fits each buffer and the powers of two between):
  fewer blocks pay fewer folds, smaller ones may spare re-reads of ``A``.

NB: side by side, the fold skew is that of one array ``arrays x cols`` wide (``C - 1``
cycles more per fold than two arrays in parallel): under 3% of a fold at BERT's rows.
Pure functions; words and cycles unless named otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from perfsim.engines.cycle.folds import dataflow_mapping, fold_mapping, pipelined_cycles
from perfsim.engines.cycle.systolic import SystolicArray, gemm_cycles
from perfsim.engines.gpu_gemm import GemmProblem

ACCUMULATOR_BYTES = 4  # MXU results accumulate in fp32 (Norrie et al. IEEE Micro 2021)


@dataclass(frozen=True, slots=True)
class CoreRun:
    """One GEMM over every core: the busiest core's cycles and the device's word counts."""

    total_cycles: float
    compute_cycles: int
    blocks: int  # blocks one core runs
    cores_used: int
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    dram_ifmap_reads: int
    dram_filter_reads: int
    dram_ofmap_writes: int

    @property
    def stall_cycles(self) -> float:
        return self.total_cycles - self.compute_cycles


def core_array(array: SystolicArray, arrays_per_core: int) -> SystolicArray:
    """One core's arrays side by side with their buffers together, run without DRAM
    stalls (the blocks' DRAM time is costed by `shared_core_gemm`)."""
    return replace(
        array,
        cols=array.cols * arrays_per_core,
        ifmap_sram_bytes=array.ifmap_sram_bytes * arrays_per_core,
        filter_sram_bytes=array.filter_sram_bytes * arrays_per_core,
        ofmap_sram_bytes=array.ofmap_sram_bytes * arrays_per_core,
        dram_words_per_cycle=None,
    )


def block_candidates(rows: int, k: int, core: SystolicArray) -> tuple[int, ...]:
    """Rows per block a compiler would try: the most whose ``A`` panel fits half the
    ifmap buffer, the most whose fp32 accumulators (one column fold) fit the ofmap buffer,
    and their powers of two in between; never more than ``rows``, at least one."""
    panel = math.floor(core.ifmap_sram_bytes / 2 / (k * core.word_bytes))
    accumulators = math.floor(core.ofmap_sram_bytes / (core.cols * ACCUMULATOR_BYTES))
    top = max(1, min(rows, accumulators))
    found = {top, max(1, min(top, panel))}
    size = 1 << max(0, top.bit_length() - 1)
    while size > max(1, min(top, panel)):
        found.add(size)
        size //= 2
    return tuple(sorted(found))


def split_over_cores(b: int, m: int, cores: int) -> tuple[int, int, int, int]:
    """(GEMMs one after another per core, rows per GEMM, GEMMs the device runs, cores used)."""
    if b >= cores:
        return math.ceil(b / cores), m, b, cores
    rows = math.ceil(m / cores)
    jobs = b * math.ceil(m / rows)
    return 1, rows, jobs, min(jobs, cores)


def _blocked(
    rows: int,
    n: int,
    k: int,
    step: int,
    core: SystolicArray,
    bandwidth: float,
    out_bytes: float,
    pipelined: bool = False,
) -> tuple[float, int, list[int], int, int]:
    """One core's rows in blocks of ``step``: (cycles, fold cycles, SRAM words [ifmap,
    filter, ofmap], DRAM words of ``A``, blocks). ``A``'s panel is read once when it fits
    half the ifmap buffer, else once per column fold (the folds stream it again); with
    ``pipelined`` a block's folds run back to back (`pipelined_cycles`)."""
    full, rest = divmod(rows, step)
    sizes = [(step, full)] if full else []
    if rest:
        sizes.append((rest, 1))
    column_folds = math.ceil(n / core.cols)
    total, compute, a_words = 0.0, 0, 0
    sram = [0, 0, 0]
    for size, count in sizes:
        report = gemm_cycles(size, n, k, core)
        folds_cycles = report.compute_cycles
        if pipelined:
            mapping = dataflow_mapping(core.dataflow, size, n, k)
            folds_cycles = pipelined_cycles(fold_mapping(mapping, core.rows, core.cols))
        fits = size * k * core.word_bytes <= core.ifmap_sram_bytes / 2
        panel = size * k * (1 if fits else column_folds)
        moved = (panel + k * n) * core.word_bytes + size * n * out_bytes
        total += count * max(folds_cycles, moved / bandwidth)
        compute += count * folds_cycles
        a_words += count * panel
        sram[0] += count * report.ifmap_sram_reads
        sram[1] += count * report.filter_sram_reads
        sram[2] += count * report.ofmap_sram_writes
    return total, compute, sram, a_words, full + (1 if rest else 0)


@dataclass(frozen=True, slots=True)
class Cores:
    """A device's arrays grouped into cores: ``units`` arrays, ``arrays_per_core`` to a
    core, ``dram_bytes_per_cycle`` of DRAM bandwidth shared by the cores."""

    units: int
    arrays_per_core: int
    dram_bytes_per_cycle: float
    pipelined_folds: bool = False  # a block's folds back to back (`pipelined_cycles`)

    @property
    def count(self) -> int:
        return max(1, self.units // self.arrays_per_core)


def shared_core_gemm(problem: GemmProblem, array: SystolicArray, cores: Cores) -> CoreRun:
    """``problem`` (``batch`` GEMMs ``m x n x k``) on ``cores`` (module docstring), blocked
    the fastest way `block_candidates` offers (ties: fewer blocks). ``array``: one array
    with its own share of the buffers, at ``problem.in_bytes`` a word."""
    b, m, n, k, out_bytes = problem.batch, problem.m, problem.n, problem.k, problem.out_bytes
    sequential, rows, jobs, used = split_over_cores(b, m, cores.count)
    core = core_array(array, cores.arrays_per_core)
    bandwidth = cores.dram_bytes_per_cycle / used
    plans = [
        _blocked(rows, n, k, step, core, bandwidth, out_bytes, cores.pipelined_folds)
        for step in block_candidates(rows, k, core)
    ]
    total, compute, sram, a_words, blocks = min(plans, key=lambda plan: (plan[0], plan[4]))
    return CoreRun(
        total_cycles=sequential * total,
        compute_cycles=sequential * compute,
        blocks=blocks,
        cores_used=used,
        sram_ifmap_reads=jobs * sram[0],
        sram_filter_reads=jobs * sram[1],
        sram_ofmap_writes=jobs * sram[2],
        dram_ifmap_reads=jobs * a_words,
        dram_filter_reads=jobs * blocks * k * n,
        dram_ofmap_writes=b * m * n,
    )


__all__ = [
    "ACCUMULATOR_BYTES",
    "CoreRun",
    "Cores",
    "block_candidates",
    "core_array",
    "shared_core_gemm",
    "split_over_cores",
]
