"""GPU matrix work as libraries run it: shipped tile shapes, mainloop, waves, split-K.

A CUTLASS / cuBLAS / TensorRT GEMM is a grid of threadblock tiles, each ``tile.m x tile.n``
outputs over the whole reduction. The library ships a fixed list of tile configurations per
architecture (the hardware file's ``compute.matrix.library_tiles``: m, n, k, pipeline
stages and the CTA's warp grid), and its heuristic picks one per GEMM. For each shipped
tile that fits a unit's shared memory, `plan_gemm` predicts:

- **mainloop**: ``ceil(k / tile.k)`` steps (``ceil(k / split / tile.k)`` with split-K); a
  step lasts the longest of its MACs at the unit's rate, its shared-memory traffic at the
  nearest level's bytes per cycle, and its loads from the next level. The shared-memory
  traffic is the A and B tiles written once (``(m + n) * k`` elements, global to shared)
  and read by the warps that need them: each of the ``warps_n`` warp columns reads the A
  tile and each of the ``warps_m`` warp rows the B tile. The loads are those same
  ``(m + n) * k`` elements through the next level (the L2: Ampere's ``cp.async`` global to
  shared copies), whose achievable bandwidth the units running tiles share, never more
  than one unit's port (the nearest level's bytes per cycle). A tile that starves on either
  runs below the MAC rate: small tiles, which re-load each operand from L2 for fewer
  outputs, do (a 64 x 64 int8 tile on all of an A100's SMs needs ~52 B a cycle a unit of
  the L2's ~36). Hopper's kernels launch thread-block clusters whose CTAs share tiles by
  TMA multicast (the file's ``compute.matrix.library_clusters``): a CTA of a ``cm x cn``
  cluster loads ``m / cn + n / cm`` rows of operands a step, and the heuristic picks the
  cluster shape with the tile.
- **prologue**: the first stage's load waits one latency of the farthest memory level;
  the other ``stages - 1`` are in flight behind it (the multistage pipeline).
- **epilogue**: the accumulators are staged through shared memory (written and read) on
  their way to global memory.
- **waves**: ``tiles_per_unit = floor(shared memory / tile's stages)`` tiles share a unit;
  ``waves = ceil(tiles / (units * tiles_per_unit))``, and each wave exposes one prologue and
  one epilogue. The busiest unit runs ``ceil(tiles / units)`` mainloops at the unit's rate.
- **split-K** (as cuBLAS does): only when the output tiles are fewer than the units and
  each split keeps the pipeline full (at least ``stages`` steps). The splits of one output
  tile sum serially, as CUTLASS's ``GemmUniversal`` does in its ``kGemm`` mode
  (``include/cutlass/gemm/kernel/gemm_universal.h``): the split ``i`` waits on a semaphore
  until split ``i - 1`` has written its partial into the output (in the output's dtype),
  reads it, adds its own and writes the sum. Every split after the first therefore adds,
  after the mainloops, one handoff (the next level's latency: a release seen by the
  waiting CTA) and a read and a write of the tile through one unit's port (its nearest
  level's bytes per cycle, never more than the next level's bandwidth).
- **batched GEMMs** (attention QK^T, AV): the batch dimension multiplies the tiles.

The MAC rate is the fraction ``compute.matrix.library_achievable`` of the unit's peak
that the library's best GEMM holds at the dtype (a published best-shape rate over the
datasheet peak: the mainloop's issue and synchronisation losses that no tile term
models), 1 where the file does not list the dtype; a kernel the file gives its own
relative rate (a tile row's seventh value) runs at that fraction of it: cuBLAS's Hopper
SIMT kernels hold 57-100% of their best one's rate, by outputs per thread.

A **product inside a fused attention kernel** (``dims["flash"]``, the `attention` fusion
pass) is not a library GEMM: a FlashAttention-style kernel gives each CTA a block of
``FLASH_BLOCK_ROWS`` query rows of one (batch, head) (or the kernel's own
``dims["cta_rows"]``: `perfsim.hardware.attention_kernel`) and runs the whole product over the
keys on chip (the scores never leave the SM, so there are no output tiles over the keys,
no split-K and no epilogue between the two products); `flash_plan` costs it as
``ceil(CTAs / units)`` such blocks on the busiest unit at the library's rate, plus one
prologue a wave. The softmax between the two products is a vector op of the same kernel
(`perfsim.engines.vector_work`).

The heuristic minimises the predicted time over tiles and split factors (ties: the first
in the file's order). Every term only adds time to ``MACs / (units * rate)``, so the
ideal datasheet peak is never above this estimate. Pure functions; SI units (seconds,
bytes, bytes per second, hertz); cycles are the unit's clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from perfsim.hardware.attention_kernel import FLASH2_BLOCK_ROWS as FLASH_BLOCK_ROWS
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import DTYPE_BITS, OpNode

SPLIT_K: Final[tuple[int, ...]] = (1, 2, 3, 4, 5, 6, 8, 16)


@dataclass(frozen=True, slots=True)
class LibraryTile:
    """One shipped threadblock configuration: tile m x n x k, stages, warp grid m x n.

    ``rate``: the kernel's mainloop MAC rate relative to the dtype's best kernel (the one
    ``library_achievable`` measures), 1 unless the file gives it: a measured figure (the
    file's source), since a library's kernels of one dtype do not all hold its best rate
    (cuBLAS's Hopper SIMT kernels run slower the fewer outputs a thread holds).
    """

    m: int
    n: int
    k: int
    stages: int
    warps_m: int
    warps_n: int
    rate: float = 1.0

    @classmethod
    def from_row(cls, row: Sequence[float]) -> LibraryTile:
        """``[m, n, k, stages, warps_m, warps_n]`` and optionally ``rate``, as in the
        hardware file."""
        shape = (int(value) for value in row[:6])
        return cls(*shape, *(float(value) for value in row[6:7]))

    def smem_bytes(self, in_bytes: float) -> float:
        """Shared memory the multistage pipeline holds: ``stages`` A and B tiles."""
        return self.stages * (self.m + self.n) * self.k * in_bytes


@dataclass(frozen=True, slots=True)
class GemmProblem:
    """``batch`` independent ``m x n x k`` GEMMs; element sizes in bytes."""

    batch: int
    m: int
    n: int
    k: int
    in_bytes: float
    out_bytes: float

    @property
    def macs(self) -> int:
        return self.batch * self.m * self.n * self.k


@dataclass(frozen=True, slots=True)
class GpuUnits:
    """The units (SMs, CUs) a GEMM runs on, one unit's figures per cycle.

    ``macs_per_cycle``: one unit's MAC rate at the dtype (tensor cores, or CUDA-core FMAs);
    ``smem_bytes_per_cycle`` / ``smem_bytes``: one unit's shared memory (the nearest level);
    ``fill_s``: latency of the farthest level; ``reduce_bandwidth`` / ``reduce_latency_s``:
    bytes/s and latency of the level split-K partials pass through; ``load_bandwidth``: the
    achievable bytes/s of the level the mainloop loads its tiles from (all units together).
    """

    units: int
    clock: float
    macs_per_cycle: float
    smem_bytes_per_cycle: float
    smem_bytes: float
    fill_s: float = 0.0
    reduce_bandwidth: float = math.inf
    reduce_latency_s: float = 0.0
    load_bandwidth: float = math.inf


@dataclass(frozen=True, slots=True)
class GemmPlan:
    """The predicted run of one GEMM with one tile and split factor."""

    tile: LibraryTile
    split_k: int
    tiles: int  # threadblocks: batch x split x output tiles
    tiles_per_unit: int  # resident at once on a unit (shared-memory occupancy)
    waves: int
    steps: int  # mainloop steps per tile
    mac_cycles: float  # one step's MACs at the unit's rate
    smem_cycles: float  # one step's shared-memory traffic
    load_cycles: float  # one step's loads from the next level, at the unit's share
    prologue_cycles: float
    epilogue_cycles: float
    reduce_s: float  # the serial split-K handoffs after the mainloops
    seconds: float

    @property
    def step_cycles(self) -> float:
        return max(self.mac_cycles, self.smem_cycles, self.load_cycles)


def step_cycles(tile: LibraryTile, problem: GemmProblem, units: GpuUnits) -> tuple[float, float]:
    """(MAC cycles, shared-memory cycles) of one mainloop step of one tile."""
    macs = tile.m * tile.n * tile.k / (units.macs_per_cycle * tile.rate)
    written = (tile.m + tile.n) * tile.k
    read = (tile.warps_n * tile.m + tile.warps_m * tile.n) * tile.k
    smem = (written + read) * problem.in_bytes / units.smem_bytes_per_cycle
    return macs, smem


def load_cycles(
    tile: LibraryTile,
    problem: GemmProblem,
    units: GpuUnits,
    busy: int,
    cluster: tuple[int, int] = (1, 1),
) -> float:
    """Cycles one mainloop step's A and B tiles take to arrive from the next level when
    ``busy`` units run tiles at once: each gets an equal share of the level's achievable
    bandwidth, at most its own port (the nearest level's bytes per cycle). In a ``cluster``
    of (CTAs along m, CTAs along n) the CTAs along n share the A tile and those along m the
    B tile (TMA multicast): each loads its share."""
    share = units.load_bandwidth / max(1, busy) / units.clock
    port = min(share, units.smem_bytes_per_cycle)
    along_m, along_n = cluster
    rows = tile.m / along_n + tile.n / along_m
    return rows * tile.k * problem.in_bytes / port


def plan_gemm(
    problem: GemmProblem,
    tile: LibraryTile,
    split_k: int,
    units: GpuUnits,
    cluster: tuple[int, int] = (1, 1),
) -> GemmPlan | None:
    """The run of ``problem`` with ``tile``, ``split_k`` and thread-block ``cluster``;
    None if the tile cannot run."""
    resident = math.floor(units.smem_bytes / tile.smem_bytes(problem.in_bytes))
    if resident < 1:
        return None
    output_tiles = problem.batch * math.ceil(problem.m / tile.m) * math.ceil(problem.n / tile.n)
    tiles = output_tiles * split_k
    steps = math.ceil(math.ceil(problem.k / split_k) / tile.k)
    waves = math.ceil(tiles / (units.units * resident))
    busiest = math.ceil(tiles / units.units)
    mac_cycles, smem_cycles = step_cycles(tile, problem, units)
    loads = load_cycles(tile, problem, units, min(tiles, units.units), cluster)
    prologue = units.fill_s * units.clock
    epilogue = 2 * tile.m * tile.n * problem.out_bytes / units.smem_bytes_per_cycle
    reduce_s = (split_k - 1) * serial_handoff_s(tile, problem, units)
    step = max(mac_cycles, smem_cycles, loads)
    cycles = busiest * steps * step + waves * (prologue + epilogue)
    return GemmPlan(
        tile=tile,
        split_k=split_k,
        tiles=tiles,
        tiles_per_unit=resident,
        waves=waves,
        steps=steps,
        mac_cycles=mac_cycles,
        smem_cycles=smem_cycles,
        load_cycles=loads,
        prologue_cycles=prologue,
        epilogue_cycles=epilogue,
        reduce_s=reduce_s,
        seconds=cycles / units.clock + reduce_s,
    )


def serial_handoff_s(tile: LibraryTile, problem: GemmProblem, units: GpuUnits) -> float:
    """One serial split-K handoff: the semaphore's latency, then the running sum of one
    output tile read and written again through one unit's port (seconds)."""
    port = min(units.smem_bytes_per_cycle * units.clock, units.reduce_bandwidth)
    return units.reduce_latency_s + 2 * tile.m * tile.n * problem.out_bytes / port


def split_factors(problem: GemmProblem, tile: LibraryTile, units: GpuUnits) -> tuple[int, ...]:
    """Split-K factors a library would try: 1, and more only while tiles < units.

    A split is allowed while the split tiles still fit one pass over the units and each
    split keeps at least ``tile.stages`` mainloop steps (a full pipeline).
    """
    output_tiles = problem.batch * math.ceil(problem.m / tile.m) * math.ceil(problem.n / tile.n)
    if output_tiles >= units.units:
        return (1,)
    return tuple(
        split
        for split in SPLIT_K
        if split == 1
        or (
            output_tiles * split <= units.units
            and math.ceil(problem.k / split) >= tile.stages * tile.k
        )
    )


def choose_plan(
    problem: GemmProblem,
    tiles: Sequence[LibraryTile],
    units: GpuUnits,
    clusters: Sequence[tuple[int, int]] = ((1, 1),),
) -> GemmPlan | None:
    """The library heuristic: the fastest predicted plan over shipped tiles, clusters and
    splits.

    None when no shipped tile fits a unit's shared memory.
    """
    best: GemmPlan | None = None
    for tile in tiles:
        for cluster in clusters:
            for split in split_factors(problem, tile, units):
                plan = plan_gemm(problem, tile, split, units, cluster)
                if plan is not None and (best is None or plan.seconds < best.seconds):
                    best = plan
    return best


def flash_plan(problem: GemmProblem, units: GpuUnits, cta_rows: int | None = None) -> GemmPlan:
    """One product of a fused attention kernel (see the module docstring): a CTA per block
    of ``cta_rows`` (default ``FLASH_BLOCK_ROWS``) query rows of each instance, its whole
    ``n x k`` product on chip, the busiest unit running ``ceil(CTAs / units)`` of them one
    after another."""
    rows = min(cta_rows or FLASH_BLOCK_ROWS, problem.m)
    tile = LibraryTile(m=rows, n=problem.n, k=problem.k, stages=1, warps_m=4, warps_n=1)
    ctas = problem.batch * math.ceil(problem.m / rows)
    busiest = math.ceil(ctas / units.units)
    mac_cycles = rows * problem.n * problem.k / units.macs_per_cycle
    prologue = units.fill_s * units.clock
    return GemmPlan(
        tile=tile,
        split_k=1,
        tiles=ctas,
        tiles_per_unit=1,
        waves=busiest,
        steps=1,
        mac_cycles=mac_cycles,
        smem_cycles=0.0,
        load_cycles=0.0,
        prologue_cycles=prologue,
        epilogue_cycles=0.0,
        reduce_s=0.0,
        seconds=busiest * (mac_cycles + prologue) / units.clock,
    )


def ideal_seconds(problem: GemmProblem, units: GpuUnits) -> float:
    """The datasheet-peak time: every MAC at the full rate on every unit."""
    return problem.macs / (units.units * units.macs_per_cycle * units.clock)


def gpu_units(hw: HardwareSpec, macs_per_cycle: float) -> GpuUnits:
    """A device's units for `plan_gemm`: shared memory is the nearest level."""
    units = hw.compute.units
    nearest = hw.memory[0]
    share = 1 if nearest.per_unit else units
    reduce_level = hw.memory[1] if len(hw.memory) > 1 else hw.dram
    return GpuUnits(
        units=units,
        clock=hw.compute.clock,
        macs_per_cycle=macs_per_cycle,
        smem_bytes_per_cycle=nearest.bandwidth / share / hw.compute.clock,
        smem_bytes=nearest.capacity / share,
        fill_s=hw.dram.latency,
        reduce_bandwidth=hw.level_bandwidth(reduce_level),
        reduce_latency_s=reduce_level.latency,
        load_bandwidth=hw.level_bandwidth(reduce_level),
    )


def library_plan(op: OpNode, hw: HardwareSpec, dtype: str, on_matrix: bool) -> GemmPlan | None:
    """How the file's library would run matrix op ``op`` at ``dtype``; None: no tiles.

    ``on_matrix``: on the matrix engine's MACs, else on the vector engine's FMAs (one MAC
    per two FLOPs), in both cases at the fraction ``compute.matrix.library_achievable``
    the library's best GEMM holds at the dtype (1 where unlisted). A fused attention op's
    ``v`` counts as extra k, as in its FLOPs.
    """
    matrix = hw.compute.matrix
    if matrix is None or not matrix.library_tiles or "m" not in op.dims:
        return None
    rows = matrix.library_tiles.get(dtype)  # type: ignore[call-overload]
    if not rows:
        return None
    if on_matrix:
        rate = float(matrix.macs_per_cycle[dtype]) * hw.gemm_efficiency(op.dims)  # type: ignore[index]
    else:
        rate = hw.compute.vector.flops_per_cycle.get(dtype, 0.0) / 2  # type: ignore[call-overload]
    if rate <= 0:
        return None
    # the library's mainloop holds this fraction of the rate at its best shape (published)
    rate *= (matrix.library_achievable or {}).get(dtype, 1.0)  # type: ignore[call-overload]
    dims = op.dims
    problem = GemmProblem(
        batch=dims.get("b", 1) * dims.get("passes", 1),
        m=dims["m"],
        n=dims["n"],
        k=dims["k"] + dims.get("v", 0),
        in_bytes=DTYPE_BITS[dtype] / 8,
        out_bytes=DTYPE_BITS[op.outputs[0].dtype] / 8 if op.outputs else DTYPE_BITS[dtype] / 8,
    )
    if "flash" in dims:  # a product of a fused attention kernel
        return flash_plan(problem, gpu_units(hw, rate), dims.get("cta_rows"))
    tiles = [LibraryTile.from_row(row) for row in rows]
    # thread-block clusters are a tensor-core kernel's (Hopper's); SIMT kernels have none
    clusters = (matrix.library_clusters if on_matrix else None) or ((1, 1),)
    return choose_plan(problem, tiles, gpu_units(hw, rate), clusters)


def plan_details(plan: GemmPlan) -> dict[str, float]:
    """The plan as an OpCost's ``details`` (tile shape, split-K, waves, steps)."""
    return {
        "tile_m": float(plan.tile.m),
        "tile_n": float(plan.tile.n),
        "tile_k": float(plan.tile.k),
        "stages": float(plan.tile.stages),
        "split_k": float(plan.split_k),
        "waves": float(plan.waves),
        "tiles": float(plan.tiles),
        "mainloop_steps": float(plan.steps),
        "smem_bound": float(plan.smem_cycles > plan.mac_cycles),
        "load_bound": float(plan.load_cycles > max(plan.mac_cycles, plan.smem_cycles)),
    }
