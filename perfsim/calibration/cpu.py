"""Host CPU microbenchmarks with torch: GEMM, element-wise, STREAM bandwidth, dispatch cost.

All timing is wall clock (`perfsim.calibration.timing`): best of several rounds, each the
median of loop-averaged batches, every figure's rounds taken in turn with the others'
(`perfsim.calibration.rounds`); the foreign load decides threads and rounds first
(`perfsim.calibration.contention`), and unsettled figures stop the run (nothing written).
Each step here *builds* its measurement (tensors, loop sizes, a warm-up) and returns it as a
`Measurement`; its probes run at the step's thread count whenever their rounds come.
Element-wise and bandwidth figures are two-size slopes so torch's per-call dispatch cost
cancels; GEMM figures are per call, dispatch included (it is small next to a BERT GEMM).
torch's thread count is set per round and restored afterwards.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import Final, TypeVar

from perfsim.calibration.eager import gemm_ladder, packing_ladder
from perfsim.calibration.framework import per_op_overhead
from perfsim.calibration.framework_refill import RefillResult, measure_refill
from perfsim.calibration.fresh_pages import SIZES as FRESH_SIZES
from perfsim.calibration.fresh_pages import FreshPagesResult, measure_fresh_pages
from perfsim.calibration.gemm_shape import gemm_grid
from perfsim.calibration.kernels import (
    ELEMENT_KINDS,
    ROW,
    TRIAD_BYTES,
    VECTOR_OPS,
    copy_call,
    element_call,
    gemm_call,
    triad_call,
    vector_call,
)
from perfsim.calibration.record import (
    BandwidthResult,
    ElementCostResult,
    GemmResult,
    MemoryInfo,
    Shape,
    VectorResult,
)
from perfsim.calibration.rounds import Measurement, Step, best_times, slope_rates
from perfsim.calibration.timing import Effort, Probe

logger = logging.getLogger(__name__)
T = TypeVar("T")

# BERT's GEMMs as (m, n, k), m = tokens: Q/K/V/output projection and FFN-up of BERT-base at
# seq 128, and a BERT-large projection at seq 512
GEMM_SHAPES: Final[tuple[Shape, ...]] = ((128, 768, 768), (128, 3072, 768), (512, 1024, 1024))
QUICK_GEMM_SHAPES: Final[tuple[Shape, ...]] = ((32, 96, 96), (32, 384, 96), (64, 128, 128))
GEMM_DTYPES: Final = ("fp32", "fp16", "bf16", "int8")
VECTOR_DTYPES: Final = ("fp32", "fp16", "bf16")
# at::internal::GRAIN_SIZE: torch splits an element-wise loop across threads only in
# chunks of at least this many elements
GRAIN: Final = 32768
QUICK_WORKING_SET: Final = 4 * 2**20  # quick runs never touch more than this per size


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``; restore the setting after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def threaded(threads: int, build: Callable[[], Measurement[T]]) -> Measurement[T]:
    """``build()`` at ``threads`` torch threads (its loops are sized there), with every
    probe's rounds run at ``threads`` too, whenever they come."""

    def at(probe: Probe) -> Probe:
        def one_round() -> tuple[float, ...]:
            with torch_threads(threads):
                return probe.one_round()

        return replace(probe, one_round=one_round)

    with torch_threads(threads):
        built = build()
    return replace(built, probes=tuple(at(probe) for probe in built.probes))


def measure_gemm(
    dtype: str, threads: int, shapes: tuple[Shape, ...], how: Effort
) -> Measurement[GemmResult]:
    """Sustained GEMM FLOP/s per shape: ``2*m*n*k`` over the best round's call time."""
    op = "torch._int_mm" if dtype == "int8" else "torch.mm"

    def result(times: tuple[float, ...]) -> GemmResult:
        rates = tuple(2.0 * math.prod(s) / t for s, t in zip(shapes, times, strict=True))
        return GemmResult(dtype, threads, op, shapes, rates)

    def build() -> Measurement[GemmResult]:
        calls = [
            (f"GEMM {dtype} {'x'.join(map(str, s))}, {threads} thread(s)", gemm_call(dtype, s))
            for s in shapes
        ]
        return best_times(calls, how, result)

    return threaded(threads, build)


def vector_elements(threads: int, quick: bool) -> tuple[int, int]:
    """(small, large) tensor sizes: ``GRAIN`` and ``2*GRAIN`` elements per thread.

    Both split evenly across the threads and stay in a core's L2 (3 fp32 arrays of 64 Ki
    elements = 768 KiB per thread at the large size), so the rate is not DRAM-bound.
    """
    return (2048, 4096) if quick else (GRAIN * threads, 2 * GRAIN * threads)


def measure_vector(dtype: str, threads: int, how: Effort, quick: bool) -> Measurement[VectorResult]:
    """Element-wise FLOP/s (one FLOP per output element, `perfsim.counting`) per op."""
    lo, hi = vector_elements(threads, quick)

    def build() -> Measurement[VectorResult]:
        sizes = [
            (
                f"element-wise {op} {dtype}, {threads} thread(s)",
                (vector_call(op, dtype, lo), float(lo)),
                (vector_call(op, dtype, hi), float(hi)),
            )
            for op in VECTOR_OPS
        ]
        return slope_rates(
            sizes, how, lambda rates: VectorResult(dtype, threads, VECTOR_OPS, rates, (lo, hi))
        )

    return threaded(threads, build)


def measure_element_costs(threads: int, how: Effort, quick: bool) -> Measurement[ElementCostResult]:
    """Elements/s of each of `ELEMENT_KINDS` in fp32, at the sizes of `measure_vector`
    (rounded to whole rows of `ROW`): the file's ``element_cost`` is the fp32 vector rate
    over these."""
    lo, hi = (max(ROW, size // ROW * ROW) for size in vector_elements(threads, quick))

    def build() -> Measurement[ElementCostResult]:
        sizes = [
            (
                f"element cost {kind}, {threads} thread(s)",
                (element_call(kind, lo), float(lo)),
                (element_call(kind, hi), float(hi)),
            )
            for kind in ELEMENT_KINDS
        ]
        return slope_rates(
            sizes, how, lambda rates: ElementCostResult(threads, ELEMENT_KINDS, rates, (lo, hi))
        )

    return threaded(threads, build)


def measure_bandwidth(
    level: str, threads: int, working_sets: tuple[int, int], how: Effort
) -> Measurement[BandwidthResult]:
    """Copy and triad bytes/s of one level: the slope between two working-set sizes."""
    lo, hi = working_sets
    label = f"{level}, {threads} thread(s)"

    def result(rates: tuple[float, ...]) -> BandwidthResult:
        copy, triad = rates
        return BandwidthResult(level, threads, copy, triad, working_sets)

    def build() -> Measurement[BandwidthResult]:
        sizes = [
            (f"copy {label}", copy_call(lo), copy_call(hi)),
            (f"triad {label}", triad_call(lo), triad_call(hi)),
        ]
        return slope_rates(sizes, how, result)

    return threaded(threads, build)


def working_sets(
    memory: tuple[MemoryInfo, ...], index: int, threads: int, *, quick: bool, spare_bytes: int
) -> tuple[int, int]:
    """(small, large) total working sets, bytes, that sit in ``memory[index]`` for ``threads``.

    First level: 1/8 and 1/2 of one instance (measured on one thread). Caches further out:
    the large size is the geometric mean of what the nearer level and this one hold for
    ``threads`` threads (well past the one, well inside the other), the small one half of
    it. Device memory: 4x and 2x the last cache. With several threads the small size
    holds at least ``GRAIN`` triad elements per thread so torch splits it evenly. The
    two sizes together stay under ``spare_bytes``.
    """

    def held(level: MemoryInfo) -> int:
        return level.capacity_bytes * (threads if level.per_unit else level.instances)

    level = memory[index]
    if index == 0:
        hi = level.capacity_bytes // 2 if len(memory) > 1 else 256 * 2**20
        lo = hi // 4
    else:
        near = held(memory[index - 1])
        hi = 4 * near if index == len(memory) - 1 else math.isqrt(near * held(level))
        lo = hi // 2
    if threads > 1:
        lo = max(lo, GRAIN * threads * TRIAD_BYTES)
        hi = max(hi, 2 * lo)
    limit = QUICK_WORKING_SET if quick else max(spare_bytes * 2 // 3, 2 * 2**20)
    hi = min(hi, limit)
    return min(lo, hi // 2), hi


def bandwidth_plan(memory: tuple[MemoryInfo, ...], threads: int) -> tuple[tuple[int, int], ...]:
    """(level index, threads) pairs to measure: one thread everywhere, all threads past L1.

    NB: the first level is private and too small for torch to split across threads, so
    it is measured on one thread and counted once per unit.
    """
    counts = (1,) if threads == 1 else (1, threads)
    return tuple(
        (index, count)
        for index, level in enumerate(memory)
        for count in counts
        if not (index == 0 and level.per_unit and count > 1)
    )


def dispatch_overhead_s(threads: int, how: Effort) -> Measurement[float]:
    """Best-round seconds of one tiny eager op: ``torch.add`` of two 1-element fp32 tensors."""
    import torch

    def build() -> Measurement[float]:
        a, b = torch.ones(1), torch.ones(1)
        call = partial(torch.add, a, b)
        return best_times([("dispatch overhead", call)], how, lambda times: times[0])

    return threaded(threads, build)


def framework_overhead(threads: int, how: Effort) -> Measurement[tuple[float, str]]:
    """(seconds of framework time per op of a tiny-width HF BERT, how measured)."""
    label = f"per-op framework time, {threads} thread(s)"
    return threaded(threads, partial(per_op_overhead, how, label))


def framework_refill(threads: int, how: Effort, quick: bool) -> Measurement[RefillResult]:
    """The framework time per op over BERT widths (`perfsim.calibration.framework_refill`)."""
    return threaded(threads, partial(measure_refill, how, quick=quick))


def efficiency_ladder(
    threads: int, how: Effort, quick: bool
) -> Measurement[tuple[tuple[int, int, float], ...]]:
    """fp32 GEMM call times over a ladder of row counts (`perfsim.calibration.eager`)."""
    return threaded(threads, partial(gemm_ladder, how, quick=quick))


def efficiency_grid(
    threads: int, how: Effort, quick: bool
) -> Measurement[tuple[tuple[Shape, float], ...]]:
    """fp32 GEMM call times over (m, n*k) beyond the ladder (`perfsim.calibration.gemm_shape`)."""
    return threaded(threads, partial(gemm_grid, how, quick=quick))


def weight_packing(
    threads: int, how: Effort, pool_bytes: int, quick: bool
) -> Measurement[tuple[tuple[int, int, float, float], ...]]:
    """GEMM call times with a cached weight and with weights from DRAM (`eager`)."""
    return threaded(threads, partial(packing_ladder, how, pool_bytes, quick=quick))


def fresh_page_cost(
    threads: int, how: Effort, quick: bool, spare_bytes: int
) -> Measurement[FreshPagesResult]:
    """Fills of new and kept tensors at sizes around the allocator's mmap threshold
    (`perfsim.calibration.fresh_pages`); nothing is measured in a quick run (its sizes
    stay small) or where the kept tensors and one new one would not fit ``spare_bytes``."""
    why = "quick run" if quick else "too little spare memory"
    if quick or sum(FRESH_SIZES) + max(FRESH_SIZES) > spare_bytes:
        return Measurement((), lambda _: FreshPagesResult(None, None, f"not measured ({why})"))
    return threaded(threads, partial(measure_fresh_pages, how))


@dataclass(frozen=True, slots=True)
class HostPlan:
    """What a host calibration measures: ``units`` threads (and one), the GEMM dtypes
    torch can run here, the memory levels found, and the weight pool for packing."""

    units: int
    how: Effort
    quick: bool
    memory: tuple[MemoryInfo, ...]
    spare_bytes: int  # a quarter of the memory available, the most the steps may touch
    pool_bytes: int  # weights walked from a pool twice the largest cache (all instances)
    gemm_dtypes: tuple[str, ...]

    @property
    def thread_counts(self) -> tuple[int, ...]:
        return (1,) if self.units == 1 else (1, self.units)


def weight_pool_bytes(memory: tuple[MemoryInfo, ...], spare_bytes: int, quick: bool) -> int:
    """Twice the largest cache (all instances), within ``spare_bytes``."""
    caches = [level.aggregate_capacity_bytes for level in memory[:-1]] or [2**20]
    return QUICK_WORKING_SET if quick else min(2 * max(caches), spare_bytes)


def host_steps(plan: HostPlan) -> list[Step]:
    """The calibration's steps in order: (label, build its `Measurement`). The first seven
    are the dispatch cost, per-op framework time (all threads, then one), GEMM efficiency
    ladder, weight packing, GEMM efficiency over shape and the cost of fresh output pages.

    NB: every step's tensors live until the last round (rounds are taken in turn), so the
    bandwidth steps share the spare memory: each sizes its working sets within
    ``spare_bytes / (2 * steps)``, and its two kernels (copy, triad) at two sizes touch at
    most twice that: ``spare_bytes`` in all, beside the weight pool.
    """
    units, how, quick = plan.units, plan.how, plan.quick
    shapes = QUICK_GEMM_SHAPES if quick else GEMM_SHAPES
    steps: list[Step] = [
        ("dispatch overhead", partial(dispatch_overhead_s, units, how)),
        ("per-op framework time", partial(framework_overhead, units, how)),
        ("per-op framework time, 1 thread", partial(framework_overhead, 1, how)),
        ("GEMM efficiency over m", partial(efficiency_ladder, units, how, quick)),
        ("GEMM weight packing", partial(weight_packing, units, how, plan.pool_bytes, quick)),
        ("GEMM efficiency over shape", partial(efficiency_grid, units, how, quick)),
        ("fresh output pages", partial(fresh_page_cost, units, how, quick, plan.spare_bytes)),
    ]
    steps += [
        (f"GEMM {d}, {t} thread(s)", partial(measure_gemm, d, t, shapes, how))
        for t in plan.thread_counts
        for d in plan.gemm_dtypes
    ]
    steps += [
        (f"element-wise {d}, {t} thread(s)", partial(measure_vector, d, t, how, quick))
        for t in plan.thread_counts
        for d in VECTOR_DTYPES
    ]
    steps.append(("element costs", partial(measure_element_costs, units, how, quick)))
    steps.append(("framework time over width", partial(framework_refill, units, how, quick)))
    memory, levels = plan.memory, bandwidth_plan(plan.memory, units)
    share = plan.spare_bytes // (2 * len(levels))
    steps += [
        (
            f"bandwidth {memory[i].name}, {t} thread(s)",
            partial(
                measure_bandwidth,
                memory[i].name,
                t,
                working_sets(memory, i, t, quick=quick, spare_bytes=share),
                how,
            ),
        )
        for i, t in levels
    ]
    return steps
