"""The cycle-level engine (``--engine cycle``): matrix units, vector units, buffers, DRAM.

- Systolic arrays: each array runs its share of the GEMM with the fold model of
  `perfsim.engines.cycle.systolic` (fill/drain per fold, OS/WS/IS dataflow, double-buffered
  ifmap/filter/ofmap SRAMs re-fetching what they cannot hold, DRAM stalls), which matches
  SCALE-Sim 3.0. A batched GEMM is spread over the arrays batch-first, then by output
  columns; the busiest array sets the time (wave quantization). Arrays that share a core's
  memory and streamed operand (``arrays_per_core``: a TPU's MXUs) are costed by
  `perfsim.engines.cycle.cores` instead (rows split over cores, blocked to the shared
  buffers, reductions accumulated on chip).
- Tensor cores and SIMD units: where the hardware file lists the tiles its GPU library
  ships, the library's plan (`perfsim.engines.gpu_gemm`, shared with the roofline);
  otherwise the tile schedule of `perfsim.engines.cycle.tiles`.
- Vector ops: slots per element (`perfsim.engines.cycle.vector`) on ``flops_per_cycle / 2``
  lanes per unit, overlapped with streaming their bytes, plus the farthest level's latency.

Memory levels the model does not simulate in detail (a GPU's L2, a CPU's L3) keep the
roofline's traffic; every level bounds the op by its bandwidth, so none is ever ignored.
"""

from __future__ import annotations

import math
from dataclasses import replace

from perfsim.engines import OpCost, register
from perfsim.engines.cycle.arrays import split_over_arrays, systolic_array
from perfsim.engines.cycle.cores import Cores, shared_core_gemm
from perfsim.engines.cycle.systolic import GemmCycles, gemm_cycles
from perfsim.engines.cycle.tiles import TileEngines, best_tile_schedule
from perfsim.engines.cycle.vector import (
    SPECIAL,
    slots_per_element,
    specials_per_element,
    vector_elements,
)
from perfsim.engines.gpu_gemm import GemmPlan, GemmProblem, library_plan, plan_details
from perfsim.engines.roofline import FORMULAS, Roofline
from perfsim.engines.traffic import resident_operands, tiled_matrix_bytes
from perfsim.engines.vector_work import (
    conversion_s,
    kernel_units,
    measured_vector_flops,
    special_function_s,
    stream_efficiency,
)
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import DTYPE_BITS, OpNode

# depth of the K slice a tile engine stages per step (CUTLASS's sm80 threadblock K: 32-64)
K_STEP = 32


def systolic_cost(op: OpNode, hw: HardwareSpec) -> OpCost:
    """A GEMM on the device's systolic arrays."""
    roofline = FORMULAS[op.category](op, hw)
    if roofline.unit != "matrix":  # the arrays lack this dtype: vector engine
        return vector_cost(op, hw)
    dtype = roofline.dtype
    word_bytes = DTYPE_BITS[dtype] / 8
    out_bytes = DTYPE_BITS[op.outputs[0].dtype] / 8 if op.outputs else word_bytes
    dims = op.dims
    k = dims["k"] + dims.get("v", 0)
    matrix = hw.compute.matrix
    if matrix is not None and matrix.arrays_per_core:
        return shared_core_cost(op, hw, roofline, k, word_bytes, out_bytes)
    sequential, columns, arrays = split_over_arrays(dims["b"], dims["n"], hw.compute.units)
    one: GemmCycles = gemm_cycles(dims["m"], columns, k, systolic_array(hw, word_bytes))
    clock = hw.compute.clock
    total_cycles = sequential * one.total_cycles
    compute_cycles = sequential * one.compute_cycles
    jobs = dims["b"] * math.ceil(dims["n"] / columns)  # sub-GEMMs run on all arrays
    sram_bytes = jobs * (
        (one.ifmap_sram_reads + one.filter_sram_reads) * word_bytes
        + one.ofmap_sram_writes * out_bytes
    )
    # operands kept on chip between ops (perfsim.engines.residency) skip DRAM
    # NB: the fold model's DRAM stall cycles are still those of streaming them
    on_chip = resident_operands(op)
    dram_bytes = jobs * (
        (one.ifmap_dram_reads * (not on_chip[0]) + one.filter_dram_reads * (not on_chip[1]))
        * word_bytes
        + one.ofmap_dram_writes * (not on_chip[2]) * out_bytes
    )
    traffic = dict(roofline.traffic_bytes)
    traffic[hw.memory[0].name] = sram_bytes
    traffic[hw.dram.name] = dram_bytes
    details = {
        "total_cycles": float(total_cycles),
        "compute_cycles": float(compute_cycles),
        "stall_cycles": float(sequential * one.stall_cycles),
        "mapping_efficiency": one.mapping_efficiency,
        "compute_utilization": op.macs / (compute_cycles * arrays * _macs(hw, dtype)),
        "overall_utilization": op.macs / (total_cycles * hw.compute.units * _macs(hw, dtype)),
        "arrays_used": float(arrays),
        "sram_ifmap_reads": float(jobs * one.ifmap_sram_reads),
        "sram_filter_reads": float(jobs * one.filter_sram_reads),
        "sram_ofmap_writes": float(jobs * one.ofmap_sram_writes),
        "dram_ifmap_reads": float(jobs * one.ifmap_dram_reads),
        "dram_filter_reads": float(jobs * one.filter_dram_reads),
        "dram_ofmap_writes": float(jobs * one.ofmap_dram_writes),
    }
    # NB: every level still bounds the op by its bandwidth, the simulated ones included:
    # SCALE-Sim's drain of the last ofmap words is not always charged to the array
    return _assemble(
        op, hw, roofline, total_cycles / clock, compute_cycles / clock, traffic, details
    )


def shared_core_cost(
    op: OpNode, hw: HardwareSpec, roofline: OpCost, k: int, word_bytes: float, out_bytes: float
) -> OpCost:
    """A GEMM on arrays that share their core's memory and streamed operand
    (`perfsim.engines.cycle.cores`: a TPU's MXUs, blocked as a compiler blocks them)."""
    matrix = hw.compute.matrix
    assert matrix is not None and matrix.arrays_per_core
    dims = op.dims
    clock = hw.compute.clock
    cores = Cores(
        hw.compute.units,
        matrix.arrays_per_core,
        hw.level_bandwidth(hw.dram) / clock,
        matrix.pipelined_folds,
    )
    problem = GemmProblem(dims["b"], dims["m"], dims["n"], k, word_bytes, out_bytes)
    run = shared_core_gemm(problem, systolic_array(hw, word_bytes), cores)
    on_chip = resident_operands(op)
    sram_bytes = (
        run.sram_ifmap_reads + run.sram_filter_reads
    ) * word_bytes + run.sram_ofmap_writes * out_bytes
    dram_bytes = (
        run.dram_ifmap_reads * (not on_chip[0]) + run.dram_filter_reads * (not on_chip[1])
    ) * word_bytes + run.dram_ofmap_writes * (not on_chip[2]) * out_bytes
    traffic = dict(roofline.traffic_bytes)
    traffic[hw.memory[0].name] = sram_bytes
    traffic[hw.dram.name] = dram_bytes
    macs = _macs(hw, roofline.dtype)
    arrays = run.cores_used * matrix.arrays_per_core
    details = {
        "total_cycles": run.total_cycles,
        "compute_cycles": float(run.compute_cycles),
        "stall_cycles": run.stall_cycles,
        "compute_utilization": op.macs / (run.compute_cycles * arrays * macs),
        "overall_utilization": op.macs / (run.total_cycles * hw.compute.units * macs),
        "arrays_used": float(arrays),
        "blocks": float(run.blocks),
        "dram_ifmap_reads": float(run.dram_ifmap_reads),
        "dram_filter_reads": float(run.dram_filter_reads),
        "dram_ofmap_writes": float(run.dram_ofmap_writes),
    }
    return _assemble(
        op, hw, roofline, run.total_cycles / clock, run.compute_cycles / clock, traffic, details
    )


def _macs(hw: HardwareSpec, dtype: str) -> float:
    matrix = hw.compute.matrix
    assert matrix is not None
    return float(matrix.macs_per_cycle[dtype])  # type: ignore[index]


def library_tile_cost(op: OpNode, hw: HardwareSpec, roofline: OpCost, plan: GemmPlan) -> OpCost:
    """A GEMM as the file's GPU library runs it (`perfsim.engines.gpu_gemm`).

    The plan's cycles (mainloops of the busiest unit, a prologue and an epilogue per
    wave, a split-K reduction); the nearest level re-reads operand panels per tile.
    """
    clock = hw.compute.clock
    busiest = math.ceil(plan.tiles / hw.compute.units)
    compute_cycles = busiest * plan.steps * plan.mac_cycles
    total_cycles = plan.seconds * clock
    rate = plan.tile.m * plan.tile.n * plan.tile.k / plan.mac_cycles  # MACs per cycle
    details = {
        **plan_details(plan),
        "total_cycles": total_cycles,
        "compute_cycles": compute_cycles,
        "stall_cycles": total_cycles - compute_cycles,
        "overall_utilization": op.macs / (total_cycles * hw.compute.units * rate),
    }
    tile = (plan.tile.m, plan.tile.n)
    cycles = (total_cycles / clock, compute_cycles / clock)
    return _tiled(op, hw, roofline, tile, cycles, details)


def measured_gemm_cost(op: OpNode, hw: HardwareSpec, roofline: OpCost) -> OpCost:
    """A GEMM whose rate the file measured at its shape (a CPU BLAS: `perfsim calibrate`'s
    efficiency tables): the library's own tiling, packing and thread split are in that
    rate, so no tile schedule is laid over it (it would count the edge tiles twice); the
    measured compute time plus the first DRAM access, against each level's traffic."""
    clock = hw.compute.clock
    compute_cycles = roofline.compute_s * clock
    total_cycles = max(compute_cycles, max(roofline.level_s.values(), default=0.0) * clock)
    total_cycles += hw.dram.latency * clock
    details = {
        "total_cycles": total_cycles,
        "compute_cycles": compute_cycles,
        "stall_cycles": total_cycles - compute_cycles,
    }
    if "packing_s" in roofline.details:
        details["packing_s"] = roofline.details["packing_s"]
    return _assemble(
        op,
        hw,
        roofline,
        total_cycles / clock,
        roofline.compute_s,
        dict(roofline.traffic_bytes),
        details,
    )


def tile_cost(op: OpNode, hw: HardwareSpec) -> OpCost:
    """A GEMM on tensor cores or SIMD units: the library's plan where the file lists its
    tiles (`library_tile_cost`), else the tile schedule."""
    roofline = FORMULAS[op.category](op, hw)
    plan = library_plan(op, hw, roofline.dtype, on_matrix=roofline.unit == "matrix")
    if plan is not None:
        return library_tile_cost(op, hw, roofline, plan)
    matrix = hw.compute.matrix
    if roofline.unit != "matrix" or matrix is None:
        return vector_cost(op, hw)
    if matrix.efficiency is not None or matrix.efficiency_grid is not None:
        return measured_gemm_cost(op, hw, roofline)
    clock = hw.compute.clock
    nearest = hw.memory[0]

    def level_cycles(tile: tuple[int, int]) -> dict[str, float]:
        cycles = {name: seconds * clock for name, seconds in roofline.level_s.items()}
        # the nearest level re-reads A and B panels once per tile column / row
        cycles[nearest.name] = tiled_matrix_bytes(op, *tile) / hw.level_bandwidth(nearest) * clock
        return cycles

    lanes = max(hw.compute.vector.flops_per_cycle.values()) / 2
    per_unit_bytes = nearest.capacity if nearest.per_unit else nearest.capacity / hw.compute.units
    in_bytes = DTYPE_BITS[roofline.dtype] / 8
    copies = 2 if matrix.double_buffered else 1

    def fits(tile: tuple[int, int]) -> bool:
        # A and B panels of a K_STEP-deep slice (twice when double-buffered) and the
        # fp32 accumulators of the output tile must fit the unit's nearest memory
        tm, tn = tile
        return copies * (tm + tn) * K_STEP * in_bytes + tm * tn * 4 <= per_unit_bytes

    engines = TileEngines(
        units=hw.compute.units,
        # the measured efficiency at this shape (CPU BLAS: few rows, small n*k), 1 without a table
        macs_per_cycle=_macs(hw, roofline.dtype) * hw.gemm_efficiency(op.dims),
        fill_cycles=hw.dram.latency * clock,
        double_buffered=matrix.double_buffered,
        vector_lanes=lanes,
    )
    schedule, tile, split_k = best_tile_schedule(
        op.dims, matrix.output_tile, engines, level_cycles, fits=fits
    )
    details = {
        "total_cycles": float(schedule.total_cycles),
        "compute_cycles": float(schedule.compute_cycles),
        "stall_cycles": float(schedule.stall_cycles),
        "mapping_efficiency": schedule.mapping_efficiency,
        "compute_utilization": op.macs
        / (
            schedule.compute_cycles
            * min(schedule.tiles, hw.compute.units)
            * _macs(hw, roofline.dtype)
        ),
        "overall_utilization": op.macs
        / (schedule.total_cycles * hw.compute.units * _macs(hw, roofline.dtype)),
        "waves": float(schedule.waves),
        "tile_m": float(tile[0]),
        "tile_n": float(tile[1]),
        "split_k": float(split_k),
    }
    cycles = (schedule.total_cycles / clock, schedule.compute_cycles / clock)
    return _tiled(op, hw, roofline, tile, cycles, details)


def vector_cost(op: OpNode, hw: HardwareSpec) -> OpCost:
    """A non-matrix op (or a matrix op without matrix support) on the vector units."""
    roofline = Roofline().op_cost(op, hw)
    clock = hw.compute.clock
    lanes = hw.compute.vector.flops_per_cycle.get(roofline.dtype, 0.0) / 2  # type: ignore[call-overload]
    measured = measured_vector_flops(op, hw)
    if op.category.is_matrix:
        slots = op.macs  # one FMA slot per MAC
    elif measured is not None:
        slots = math.ceil(measured / 2)  # the file's measured cost, 2 FLOPs a slot
    else:
        # a special-function pipe runs the transcendentals, not SPECIAL FMA slots each
        table = slots_per_element(op)
        if hw.compute.vector.special_per_cycle is not None:
            table -= SPECIAL * specials_per_element(op)
        # never fewer slots than FMAs could do its counted FLOPs in (2 FLOPs a slot)
        slots = max(vector_elements(op) * table, math.ceil(op.flops / 2))
    # on the units its kernel occupies (a fused attention kernel's CTAs, `kernel_units`)
    units = kernel_units(op, hw)
    compute_cycles = math.ceil(slots / (lanes * units)) if slots and lanes else 0
    compute_cycles += math.ceil((special_function_s(op, hw) + conversion_s(op, hw)) * clock)
    memory_cycles = max(roofline.level_s.values(), default=0.0) * clock
    # the first access waits a DRAM latency; an op that moves no bytes (one fused into
    # another's kernel, a view) waits for none
    fill = hw.dram.latency * clock if op.bytes_read + op.bytes_written else 0.0
    total_cycles = max(compute_cycles, memory_cycles) + fill  # memory cycles are fractional
    details = {
        "total_cycles": float(total_cycles),
        "compute_cycles": float(compute_cycles),
        "stall_cycles": float(total_cycles - compute_cycles),
        "vector_slots": float(slots),
    }
    return _assemble(
        op,
        hw,
        roofline,
        total_cycles / clock,
        compute_cycles / clock,
        dict(roofline.traffic_bytes),
        details,
    )


def _tiled(
    op: OpNode,
    hw: HardwareSpec,
    roofline: OpCost,
    tile: tuple[int, int],
    seconds: tuple[float, float],
    details: dict[str, float],
) -> OpCost:
    """A tiled GEMM's cost from its (total, compute) seconds: the nearest level serves the
    ``tile``'s operand panels, and a CPU BLAS packs the weights before the tiles run (0
    unless the file models it)."""
    traffic = dict(roofline.traffic_bytes)
    traffic[hw.memory[0].name] = tiled_matrix_bytes(op, *tile)
    packing_s = roofline.details.get("packing_s", 0.0)
    if packing_s:
        details["packing_s"] = packing_s
    total_s, compute_s = seconds
    return _assemble(op, hw, roofline, total_s + packing_s, compute_s + packing_s, traffic, details)


def _assemble(
    op: OpNode,
    hw: HardwareSpec,
    roofline: OpCost,
    simulated_s: float,
    compute_s: float,
    traffic: dict[str, float],
    details: dict[str, float],
) -> OpCost:
    """Bound by the simulated time, every other level's bandwidth (at the op's kernel's
    `stream_efficiency`), and the overhead."""
    streams = stream_efficiency(op, hw)
    level_s = {
        level.name: traffic[level.name] / (hw.level_bandwidth(level) * streams)
        for level in hw.memory
    }
    terms = {"cycles": simulated_s, "overhead": hw.op_overhead}
    terms.update({f"memory:{name}": seconds for name, seconds in level_s.items()})
    bound = max(terms, key=lambda key: terms[key])
    if bound == "cycles":
        stalled = details.get("stall_cycles", 0.0) > details.get("compute_cycles", 0.0)
        bound = f"memory:{hw.dram.name}" if stalled else "compute"
    actions = {key: value for key, value in roofline.actions.items() if not key.endswith(".bytes")}
    actions.update({f"{name}.bytes": value for name, value in traffic.items()})
    # the allocator's page faults stop the kernel's threads: serial with the simulated time
    fresh_s = roofline.details.get("fresh_pages_s", 0.0)
    if fresh_s:
        details = {**details, "fresh_pages_s": fresh_s}
    # the simulated cycles hold the stalls (prologue, epilogue, split-K handoffs) that
    # compute_s leaves out: the kernel runs this long even where the launch floor binds,
    # plus its startup on the device (`HardwareSpec.kernel_startup`)
    kernel_s = max(simulated_s, *level_s.values()) + fresh_s + hw.kernel_startup_s
    return replace(
        roofline,
        compute_s=compute_s,
        memory_s=max(level_s.values()),
        latency_s=hw.op_latency(kernel_s),
        kernel_s=kernel_s,
        bound=bound,
        traffic_bytes=traffic,
        level_s=level_s,
        actions=actions,
        details=details,
    )


@register("cycle")
class Cycle:
    """Cycle-level engine: systolic folds, tensor-core tiles, vector slots, DRAM stalls."""

    name = "cycle"

    def op_cost(self, op: OpNode, hw: HardwareSpec) -> OpCost:
        matrix = hw.compute.matrix
        if op.category.is_matrix and "m" in op.dims and matrix is not None:
            if matrix.type == "systolic":
                return systolic_cost(op, hw)
            return tile_cost(op, hw)
        if op.category in FORMULAS:
            return vector_cost(op, hw)
        return replace(vector_cost(op, hw), supported=False)
