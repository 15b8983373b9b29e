"""What a calibration measured: frozen records in SI units (FLOP/s, bytes/s, seconds, bytes).

The records keep the raw measurements. What perfsim's schema needs from them (one peak per
dtype, one aggregate bandwidth per level) is derived by the pure functions at the bottom,
so the YAML writer and the tests read the same numbers.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from perfsim.calibration.framework_refill import RefillResult
    from perfsim.calibration.fresh_pages import FreshPagesResult
    from perfsim.calibration.gemm_shape import EfficiencyTable
    from perfsim.calibration.gpu_energy import PowerCalibration

CONTENTION_WARNING: Final = 0.05  # others' share of the CPUs above which figures are suspect

Shape = tuple[int, int, int]  # (m, n, k): an (m, k) @ (k, n) product, 2*m*n*k FLOPs


@dataclass(frozen=True, slots=True)
class GemmResult:
    """Sustained GEMM throughput of one dtype at one thread count, one figure per shape.

    ``op`` names the call timed (``torch.mm``, ``torch._int_mm``); each figure is
    ``2*m*n*k`` over the median time of one call, dispatch included.
    """

    dtype: str
    threads: int
    op: str
    shapes: tuple[Shape, ...]
    flops_per_s: tuple[float, ...]

    @property
    def median_flops_per_s(self) -> float:
        """Median over the shapes, FLOP/s (the figure the hardware file uses)."""
        return statistics.median(self.flops_per_s)


@dataclass(frozen=True, slots=True)
class VectorResult:
    """Element-wise throughput of one dtype at one thread count: one FLOP per output element.

    ``elements`` are the two tensor sizes whose time difference gave each rate (the
    fixed per-call dispatch cost cancels); ``ops`` and ``flops_per_s`` pair up.
    """

    dtype: str
    threads: int
    ops: tuple[str, ...]
    flops_per_s: tuple[float, ...]
    elements: tuple[int, int]

    @property
    def median_flops_per_s(self) -> float:
        """Median over the ops, FLOP/s."""
        return statistics.median(self.flops_per_s)


@dataclass(frozen=True, slots=True)
class ElementCostResult:
    """Elements per second of each kind of vector op (``kinds`` and ``elements_per_s``
    pair up), fp32 at ``threads`` threads: the slope between ``elements`` sizes."""

    threads: int
    kinds: tuple[str, ...]
    elements_per_s: tuple[float, ...]
    elements: tuple[int, int]


@dataclass(frozen=True, slots=True)
class MemoryInfo:
    """One level of the host's hierarchy as the OS reports it, nearest first.

    ``capacity_bytes`` is one instance's; ``instances`` how many serve the threads used;
    ``per_unit`` whether each compute unit has its own instance (a private cache).
    """

    name: str
    capacity_bytes: int
    per_unit: bool
    instances: int
    source: str  # where the capacity and sharing were read

    @property
    def aggregate_capacity_bytes(self) -> int:
        """Capacity of all instances together, bytes."""
        return self.capacity_bytes * self.instances


@dataclass(frozen=True, slots=True)
class BandwidthResult:
    """STREAM-style bandwidth of one level at one thread count, bytes read + written per s.

    ``copy`` moves 8 B per fp32 element (a read and a write), ``triad`` 12 B
    (``a = b + s*c``: two reads, a write); write-allocate traffic is not counted, as in
    STREAM. ``working_set_bytes`` are the two sizes (all arrays, all threads) whose
    time difference gave the rate.
    """

    level: str
    threads: int
    copy_bytes_per_s: float
    triad_bytes_per_s: float
    working_set_bytes: tuple[int, int]

    @property
    def best_bytes_per_s(self) -> float:
        """The faster kernel: the level's bandwidth, the slower one being kernel-limited."""
        return max(self.copy_bytes_per_s, self.triad_bytes_per_s)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Everything `measure_host` (or the CUDA path) measured on one device, SI units.

    ``threads`` is the compute-unit count the hardware file uses: the threads torch runs
    on a CPU, the multiprocessors of a GPU (whose results carry ``threads == units``).
    """

    device: Literal["cpu", "cuda"]
    model_name: str
    torch_version: str
    units: int
    clock_hz: float
    clock_source: str
    isa: str
    tile: tuple[int, int]
    tile_source: str
    memory: tuple[MemoryInfo, ...]  # nearest first, device memory last
    gemm: tuple[GemmResult, ...]
    vector: tuple[VectorResult, ...]
    bandwidth: tuple[BandwidthResult, ...]
    op_overhead_s: float
    op_overhead_how: str
    skipped: tuple[str, ...] = ()  # "int8: why it was not measured"
    quick: bool = False
    wall_s: float = 0.0
    # share of the host's CPU time that other processes (or the hypervisor) took during
    # the run, from /proc/stat; None where it could not be read
    contention: float | None = None
    # the framework's per-op time adds to each kernel (CPU eager) rather than overlapping
    # it (asynchronous GPU launch); `op_overhead_s` is then per-op framework time
    op_overhead_serial: bool = False
    # (m, fraction of the fp32 GEMM peak) for GEMMs with m output rows, and how measured
    gemm_efficiency: tuple[tuple[int, float], ...] = ()
    gemm_efficiency_how: str = ""
    # fraction of the fp32 peak over (m, n*k); where set, its peak (the best fp32 GEMM rate
    # seen) is the file's fp32 peak and the ladder above is of that peak too
    gemm_efficiency_grid: EfficiencyTable | None = None
    # bytes/s at which a GEMM's weight is brought from DRAM and packed (None: not measured)
    weight_packing_bytes_per_s: float | None = None
    weight_packing_how: str = ""
    # per-op framework time with one thread (None: not measured, or units == 1)
    single_thread_op_overhead_s: float | None = None
    # how the figures were timed: rounds per figure and their agreement (one line)
    rounds: str = ""
    # what the foreign load changed (fewer threads, more rounds); "" on a quiet host
    adaptation: str = ""
    # a GPU's energy per action, baseline power and power limit (None: not measured)
    power: PowerCalibration | None = None
    # what a freshly mapped output costs a CPU op (None: not measured)
    fresh_pages: FreshPagesResult | None = None
    # element rates of the vector ops whose cost no FLOP count says (None: not measured)
    element_costs: ElementCostResult | None = None
    # extra framework time per op over the bytes each layer streams (None: not measured)
    framework_refill: RefillResult | None = None

    def gemm_result(self, dtype: str, threads: int | None = None) -> GemmResult:
        """The GEMM record of ``dtype`` at ``threads`` (default: all units)."""
        wanted = self.units if threads is None else threads
        for result in self.gemm:
            if result.dtype == dtype and result.threads == wanted:
                return result
        raise KeyError(f"no GEMM result for {dtype} at {wanted} threads")

    def gemm_peak_flops_per_s(self, dtype: str, threads: int | None = None) -> float:
        """The peak the file writes for ``dtype`` at ``threads`` (default: all units), FLOP/s.

        The median of the BERT shapes, except fp32 where the efficiency grid was measured:
        there the grid's fractions are of the best fp32 GEMM rate seen, so the peak is that
        rate (all threads) and the best of the shapes at one thread (the same definition).
        NB: other dtypes keep the median; the grid, measured in fp32, scales them as well.
        """
        result = self.gemm_result(dtype, threads)
        if dtype != "fp32" or self.gemm_efficiency_grid is None:
            return result.median_flops_per_s
        if result.threads == self.units:
            return self.gemm_efficiency_grid.peak_flops_per_s
        return max(result.flops_per_s)

    def vector_result(self, dtype: str, threads: int | None = None) -> VectorResult:
        """The element-wise record of ``dtype`` at ``threads`` (default: all units)."""
        wanted = self.units if threads is None else threads
        for result in self.vector:
            if result.dtype == dtype and result.threads == wanted:
                return result
        raise KeyError(f"no element-wise result for {dtype} at {wanted} threads")

    def bandwidth_result(self, level: str, threads: int | None = None) -> BandwidthResult | None:
        """The bandwidth record of ``level`` at ``threads`` (default: all units), if any."""
        wanted = self.units if threads is None else threads
        for result in self.bandwidth:
            if result.level == level and result.threads == wanted:
                return result
        return None

    @property
    def gemm_dtypes(self) -> tuple[str, ...]:
        """Dtypes with a GEMM figure, in measuring order."""
        return tuple(dict.fromkeys(result.dtype for result in self.gemm))

    @property
    def vector_dtypes(self) -> tuple[str, ...]:
        """Dtypes with an element-wise figure, in measuring order."""
        return tuple(dict.fromkeys(result.dtype for result in self.vector))


def measured_aggregate_bandwidth(cal: Calibration, level: MemoryInfo) -> float:
    """A level's measured bandwidth over all units, bytes/s, before any ordering cap.

    A private level measured on one thread only (the L1: torch does not split a working
    set that small across threads) counts one thread's figure once per unit.
    """
    everyone = cal.bandwidth_result(level.name)
    if everyone is not None:
        return everyone.best_bytes_per_s
    single = cal.bandwidth_result(level.name, threads=1)
    if single is None:
        raise KeyError(f"no bandwidth measured for {level.name}")
    return single.best_bytes_per_s * (cal.units if level.per_unit else 1)


def level_bandwidths(cal: Calibration) -> tuple[tuple[float, str], ...]:
    """(aggregate bytes/s, why it differs from the measurement or "") per level, nearest first.

    Two physical bounds catch what noise on a shared host does to a two-size slope:
    all threads together cannot beat ``units`` times one thread alone on the same level
    (a lone thread has the level, and the highest turbo clock, to itself), and a far
    level cannot outrun a near one (its data passes through the near ones; perfsim's
    hardware files require the order too).
    """
    rows: list[tuple[float, str]] = []
    for level in cal.memory:
        value, notes = measured_aggregate_bandwidth(cal, level), []
        single = cal.bandwidth_result(level.name, threads=1)
        if cal.bandwidth_result(level.name) is not None and single is not None:
            bound = cal.units * single.best_bytes_per_s
            if value > bound:
                value = bound
                notes.append(f"capped at {cal.units} x the 1-thread figure")
        if rows and value > rows[-1][0]:
            value = rows[-1][0]
            notes.append("capped at the nearer level's aggregate")
        rows.append((value, "; ".join(notes)))
    return tuple(rows)


def ordered_bandwidths(cal: Calibration) -> tuple[float, ...]:
    """Aggregate bandwidth per level, nearest first, as written (see `level_bandwidths`)."""
    return tuple(value for value, _ in level_bandwidths(cal))


def per_cycle(flops_per_s: float, cal: Calibration, *, per_mac: bool) -> float:
    """A measured rate as per-unit per-cycle work: MACs (2 FLOPs each) or FLOPs.

    The inverse of `HardwareSpec.matrix_peak_flops` / ``vector_peak_flops``, so the
    file's peak equals the measurement.
    """
    flops_per_unit_cycle = flops_per_s / (cal.units * cal.clock_hz)
    return flops_per_unit_cycle / 2.0 if per_mac else flops_per_unit_cycle
