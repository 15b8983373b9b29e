"""A CPU hardware file at fewer threads than it describes: the run's thread count.

A hardware file's figures are for ``compute.units`` threads. A run on fewer threads (a
``torch.set_num_threads`` below the file's units) gets ``units`` lowered, so per-core
figures scale with it while shared levels (L3, DRAM) keep their bandwidth. A 1-thread run
of a file that carries ``compute.single_thread`` (measured by ``perfsim calibrate``) uses
those figures instead: a thread alone reaches more of a shared level than 1/units of it,
and its framework time per op differs from the all-thread one.
"""

from __future__ import annotations

from perfsim.hardware.spec import HardwareSpec, MemoryLevel


def at_threads(spec: HardwareSpec, threads: int) -> HardwareSpec:
    """``spec`` for a run on ``threads`` threads (unchanged at ``units`` threads or more).

    NB: the GEMM efficiency tables (ladder and grid) stay the all-thread ones (not measured
    per thread count).
    """
    compute = spec.compute
    if threads >= compute.units:
        return spec
    single = compute.single_thread
    if threads != 1 or single is None:
        return spec.model_copy(update={"compute": compute.model_copy(update={"units": threads})})
    matrix = compute.matrix
    if matrix is not None and single.macs_per_cycle:
        rates = {**matrix.macs_per_cycle, **single.macs_per_cycle}
        matrix = matrix.model_copy(update={"macs_per_cycle": rates})
    vector = compute.vector.model_copy(
        update={"flops_per_cycle": {**compute.vector.flops_per_cycle, **single.flops_per_cycle}}
    )
    one = compute.model_copy(
        update={"units": 1, "matrix": matrix, "vector": vector, "single_thread": None}
    )
    memory = tuple(_level(level, single.bandwidth.get(level.name)) for level in spec.memory)
    update: dict[str, object] = {"compute": one, "memory": memory}
    if single.op_overhead is not None:
        update["op_overhead"] = single.op_overhead
    return spec.model_copy(update=update)


def _level(level: MemoryLevel, bandwidth: float | None) -> MemoryLevel:
    """``level`` with the bandwidth one thread reaches (per unit = all, at one unit)."""
    if bandwidth is None:
        return level
    return level.model_copy(update={"bandwidth": bandwidth, "achievable": None})
