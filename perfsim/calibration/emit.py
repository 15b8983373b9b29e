"""A `Calibration` as a hardware YAML file in perfsim's schema, every figure with its source.

Peaks are written per unit per cycle so that the schema's derived figures give back the
measurements: ``macs_per_cycle = FLOP/s / (2 * units * clock)`` and ``flops_per_cycle =
FLOP/s / (units * clock)``, written with 10 significant digits. Bandwidths are aggregate
over all units, divided by ``units`` on per-unit levels (the schema multiplies them back).
"""

from __future__ import annotations

import json
import re

from perfsim.calibration.emit_energy import dram_energy_lines, energy_lines
from perfsim.calibration.emit_host import element_cost_lines, exact_bytes, fresh_pages_lines
from perfsim.calibration.record import (
    CONTENTION_WARNING,
    BandwidthResult,
    Calibration,
    MemoryInfo,
    level_bandwidths,
    measured_aggregate_bandwidth,
    per_cycle,
)
from perfsim.calibration.yaml_lines import (
    ASSUMED,
    MEASURED,
    TECHNOLOGY_NODE,
    yaml_line,
)
from perfsim.units import format_quantity


def _scalar(text: str) -> str:
    """A YAML scalar: bare where safe, else a double-quoted string without ``#``."""
    text = text.replace("#", "")
    return text if re.fullmatch(r"[A-Za-z0-9_.-]+", text) else json.dumps(text)


def _rate(value: float, unit: str) -> str:
    return format_quantity(value, unit)


def _shape_list(cal: Calibration, dtype: str) -> str:
    result = cal.gemm_result(dtype)
    parts = [
        f"{m}x{n}x{k} {_rate(rate, 'FLOP/s')}"
        for (m, n, k), rate in zip(result.shapes, result.flops_per_s, strict=True)
    ]
    return ", ".join(parts)


def _single_thread(cal: Calibration) -> list[str]:
    """The ``compute.single_thread`` block: one thread's figures (CPU files, units > 1)."""
    if cal.device != "cpu" or cal.units == 1:
        return []
    lines = [
        yaml_line(
            2,
            "single_thread",
            "",
            f"# one thread alone (the figures above are for all {cal.units} threads); a "
            "1-thread run uses these",
        )
    ]
    if cal.single_thread_op_overhead_s is not None:
        how = "the per-op framework time above, measured again at 1 thread"
        value = f'"{cal.single_thread_op_overhead_s * 1e6:.6g} us"'
        lines.append(yaml_line(4, "op_overhead", value, MEASURED + how))
    hz = _rate(cal.clock_hz, "Hz")
    gemm = [r for r in cal.gemm if r.threads == 1]
    if gemm:
        lines.append(yaml_line(4, "macs_per_cycle", "", f"# FLOP/s of 1 thread / (2 x {hz})"))
    for r in gemm:
        flops = cal.gemm_peak_flops_per_s(r.dtype, 1)
        which = "median" if flops == r.median_flops_per_s else "best"
        how = (
            f"{r.op} {r.dtype}, x @ W^T, 1 thread, {which} of {len(r.shapes)} shapes = "
            f"{_rate(flops, 'FLOP/s')}"
        )
        value = f"{flops / (2.0 * cal.clock_hz):.10g}"
        lines.append(yaml_line(6, r.dtype, value, MEASURED + how))
    vector = [r for r in cal.vector if r.threads == 1]
    if vector:
        lines.append(yaml_line(4, "flops_per_cycle", "", f"# FLOP/s of 1 thread / {hz}"))
    for r in vector:
        how = (
            f"median of out-of-place {'/'.join(r.ops)}, 1 thread = "
            f"{_rate(r.median_flops_per_s, 'FLOP/s')}"
        )
        value = f"{r.median_flops_per_s / cal.clock_hz:.10g}"
        lines.append(yaml_line(6, r.dtype, value, MEASURED + how))
    bandwidth = [r for r in cal.bandwidth if r.threads == 1]
    if bandwidth:
        lines.append(yaml_line(4, "bandwidth", "", "# what 1 thread reaches per level"))
    nearer = float("inf")
    for r in sorted(bandwidth, key=lambda r: [m.name for m in cal.memory].index(r.level)):
        # as for all threads (`level_bandwidths`): a far level cannot outrun a near one
        written = min(r.best_bytes_per_s, nearer)
        nearer = written
        how = f"1 thread: best of {_stream(r)}"
        if written < r.best_bytes_per_s:
            how += f"; capped at the nearer level's {_rate(written, 'B/s')}"
        lines.append(yaml_line(6, r.level, f'"{written / 1e9:.6g} GB/s"', MEASURED + how))
    return lines


def _header(cal: Calibration) -> list[str]:
    what = "threads" if cal.device == "cpu" else "multiprocessors"
    run = "QUICK" if cal.quick else "full"
    lines = [
        f"# Measured by `perfsim calibrate` on {cal.model_name},",
        f"# ISA {cal.isa}, torch {cal.torch_version}, {cal.units} {what}, {run} run in "
        f"{cal.wall_s:.0f} s.",
        "# Each figure comes from a microbenchmark or from what the OS / driver reports, as "
        "its comment says;",
        "# 'assumed' marks what software cannot measure.",
        "# Peaks are sustained torch throughput, not datasheet peaks: macs_per_cycle = "
        "FLOP/s / (2 x units x clock)",
        "# and flops_per_cycle = FLOP/s / (units x clock), so the derived peaks equal the "
        "measurements.",
        *(
            [
                "# Not measured: latencies (schema default 0), per-action energies "
                "(perfsim.energy.defaults at",
                "# technology_node), static power, interconnect.",
            ]
            if cal.power is None
            else [
                "# Measured by NVML: energy per MAC and per DRAM byte at the held top clock, "
                "the baseline",
                "# power, the power limit and the DVFS exponent. Not measured: latencies "
                "(schema default 0),",
                "# vector and L2 energies (perfsim.energy.defaults at technology_node), "
                "interconnect.",
            ]
        ),
    ]
    if cal.contention is not None:
        lines.append(
            f"# Other processes (or the hypervisor) took {100 * cal.contention:.0f}% of the "
            "host's CPU time during the run."
        )
        if cal.contention > CONTENTION_WARNING and cal.quick:
            lines.append(
                "# WARNING: a busy host: the figures are unreliable; rerun when it is quiet."
            )
        elif cal.contention > CONTENTION_WARNING:
            lines.append(
                "# A busy host: each figure is the best of its rounds, whose fastest agreed "
                "(Timing below)."
            )
    if cal.quick:
        lines.append(
            "# QUICK RUN: tiny sizes and few repetitions; the figures are not representative."
        )
    if cal.rounds:
        lines.append(f"# Timing: {cal.rounds}.")
    if cal.adaptation:
        lines.append(f"# Adapted to a busy host: {cal.adaptation}.")
    return lines + [f"# {reason}" for reason in cal.skipped]


def _matrix(cal: Calibration) -> list[str]:
    if cal.device == "cpu":
        kind = yaml_line(4, "type", "simd", f"# torch CPU GEMM (MKL / oneDNN) on {cal.isa}")
    else:
        kind = yaml_line(4, "type", "tensor_core", "# cuBLAS through torch.mm / torch._int_mm")
    tile_source = cal.tile_source
    source = ASSUMED + tile_source.removeprefix("assumed: ")
    if not tile_source.startswith("assumed"):
        source = MEASURED + "detected " + tile_source
    lines = [
        "  matrix:",
        kind,
        yaml_line(4, "tile", f"[{cal.tile[0]}, {cal.tile[1]}]", source),
        *_efficiency(cal),
        yaml_line(
            4,
            "macs_per_cycle",
            "",
            f"# per unit and cycle: FLOP/s on all {cal.units} units / (2 x {cal.units} x "
            f"{_rate(cal.clock_hz, 'Hz')})",
        ),
    ]
    for dtype in cal.gemm_dtypes:
        result = cal.gemm_result(dtype)
        flops = cal.gemm_peak_flops_per_s(dtype)
        how = (
            f"{result.op} {dtype}, x @ W^T, {cal.units} units, median of {len(result.shapes)} "
            f"{'tiny' if cal.quick else 'BERT'} shapes (m x n x k: {_shape_list(cal, dtype)}) "
            f"= {_rate(result.median_flops_per_s, 'FLOP/s')}"
        )
        if flops != result.median_flops_per_s:
            how = (
                f"the best fp32 GEMM rate seen, {_rate(flops, 'FLOP/s')} (efficiency_grid's "
                f"fractions are of it); {how}"
            )
        if cal.device == "cpu" and cal.units > 1:
            how += f"; 1 thread {_rate(cal.gemm_result(dtype, 1).median_flops_per_s, 'FLOP/s')}"
        if cal.device == "cuda" and dtype == "fp32":
            how += " (IEEE fp32 on the CUDA cores, matmul precision 'highest')"
        value = f"{per_cycle(flops, cal, per_mac=True):.10g}"
        lines.append(yaml_line(6, dtype, value, MEASURED + how))
    return lines


def _efficiency(cal: Calibration) -> list[str]:
    """The ``efficiency`` (m, fraction of the fp32 peak), ``efficiency_grid`` (one flow
    mapping: fractions over m and n*k, `perfsim.calibration.gemm_shape`) and
    ``weight_packing_bandwidth`` lines, where they were measured."""
    lines = []
    if cal.gemm_efficiency:
        points = ", ".join(f"[{m}, {fraction:.4g}]" for m, fraction in cal.gemm_efficiency)
        lines.append(yaml_line(4, "efficiency", f"[{points}]", MEASURED + cal.gemm_efficiency_how))
    grid = cal.gemm_efficiency_grid
    if grid is not None:
        rows = ", ".join("[" + ", ".join(f"{f:.4g}" for f in row) + "]" for row in grid.fraction)
        value = (
            f"{{m: [{', '.join(map(str, grid.m))}], nk: [{', '.join(map(str, grid.nk))}], "
            f"fraction: [{rows}]}}"
        )
        lines.append(yaml_line(4, "efficiency_grid", value, MEASURED + grid.how))
    if cal.weight_packing_bytes_per_s is not None:
        lines.append(
            yaml_line(
                4,
                "weight_packing_bandwidth",
                f'"{cal.weight_packing_bytes_per_s / 1e9:.6g} GB/s"',
                MEASURED + cal.weight_packing_how,
            )
        )
    return lines


def _vector_entries(cal: Calibration) -> list[tuple[str, float, str]]:
    """(dtype, FLOP/s, source comment) of each vector dtype."""
    entries = []
    for dtype in cal.vector_dtypes:
        result = cal.vector_result(dtype)
        rates = ", ".join(
            f"{op} {_rate(rate, 'FLOP/s')}"
            for op, rate in zip(result.ops, result.flops_per_s, strict=True)
        )
        how = (
            f"out-of-place {'/'.join(result.ops)} (1 FLOP per element), {cal.units} units, "
            f"slope between {result.elements[0]} and {result.elements[1]} elements: {rates}"
        )
        if cal.device == "cpu":
            median = result.median_flops_per_s
            how = f"median of {how}"
            if cal.units > 1:
                single = cal.vector_result(dtype, 1).median_flops_per_s
                how += f"; 1 thread {_rate(single, 'FLOP/s')}"
            entries.append((dtype, median, MEASURED + how))
            continue
        # NB: torch's element-wise kernels are bandwidth-bound on a GPU, and perfsim
        # charges their bytes to l2/dram already; the ALU rate is the non-tensor GEMM's
        sgemm = cal.gemm_result("fp32").median_flops_per_s
        if dtype == "fp32":
            source = MEASURED + "fp32 GEMM without TF32 (CUDA-core FMA rate); element-wise "
        else:
            source = ASSUMED + "at least the CUDA-core fp32 FMA rate; measured element-wise "
        entries.append((dtype, sgemm, source + f"(bandwidth-bound, not used): {rates}"))
    return entries


def _vector(cal: Calibration) -> list[str]:
    lines = [
        "  vector:",
        yaml_line(
            4,
            "flops_per_cycle",
            "",
            f"# per unit and cycle: FLOP/s on all {cal.units} units / ({cal.units} x "
            f"{_rate(cal.clock_hz, 'Hz')})",
        ),
    ]
    entries = _vector_entries(cal)
    for dtype, flops, source in entries:
        lines.append(yaml_line(6, dtype, f"{per_cycle(flops, cal, per_mac=False):.10g}", source))
    fp32 = next((flops for dtype, flops, _ in entries if dtype == "fp32"), None)
    return lines + element_cost_lines(cal, fp32)


def _stream(result: BandwidthResult) -> str:
    low, high = (format_quantity(size, "B", binary=True) for size in result.working_set_bytes)
    return (
        f"copy {_rate(result.copy_bytes_per_s, 'B/s')} / triad "
        f"{_rate(result.triad_bytes_per_s, 'B/s')} (torch copy_ / add(alpha); bytes read + "
        f"written), slope between working sets {low} and {high}"
    )


def _bandwidth_source(cal: Calibration, level: MemoryInfo, written: float, note: str) -> str:
    everyone = cal.bandwidth_result(level.name)
    single = cal.bandwidth_result(level.name, threads=1)
    parts = []
    if everyone is not None:
        parts.append(f"{cal.units} units: best of {_stream(everyone)}")
        if single is not None:
            parts.append(f"1 thread {_rate(single.best_bytes_per_s, 'B/s')}")
    elif single is not None:
        parts.append(f"1 thread: best of {_stream(single)}")
        if level.per_unit:
            parts.append(f"private level, x {cal.units} units aggregate")
    if note:
        measured = measured_aggregate_bandwidth(cal, level)
        parts.append(
            f"{note}: {_rate(written, 'B/s')} aggregate (measured {_rate(measured, 'B/s')})"
        )
    if level.per_unit:
        parts.append(f"per unit = aggregate / {cal.units}")
    return MEASURED + "; ".join(parts)


def _memory(cal: Calibration) -> list[str]:
    lines = ["memory:"]
    for level, (aggregate, note) in zip(cal.memory, level_bandwidths(cal), strict=True):
        capacity = level.capacity_bytes * (1 if level.per_unit else level.instances)
        share = (
            "per unit"
            if level.per_unit
            else f"{level.instances} shared instance(s) of {exact_bytes(level.capacity_bytes)}"
        )
        per_instance = aggregate / cal.units if level.per_unit else aggregate
        lines += [
            f"  - name: {level.name}",
            yaml_line(
                4,
                "capacity",
                f'"{exact_bytes(capacity)}"',
                f"{MEASURED}read {level.source}; {share}",
            ),
            yaml_line(
                4,
                "bandwidth",
                f'"{per_instance / 1e9:.6g} GB/s"',
                _bandwidth_source(cal, level, aggregate, note),
            ),
        ]
        if level.per_unit:
            lines.append(
                yaml_line(
                    4, "per_unit", "true", f"{MEASURED}one instance per core ({level.source})"
                )
            )
        if level is cal.memory[-1]:
            lines += dram_energy_lines(cal)
    return lines


def calibration_yaml(cal: Calibration, name: str = "host") -> str:
    """The hardware file for ``cal``: perfsim's schema, a source comment on every figure."""
    gpu = cal.device == "cuda"
    units_source = (
        "cudaDeviceProp.multiProcessorCount"
        if gpu
        else f"torch.get_num_threads() = {cal.units} (the threads torch computes on)"
    )
    precision_source = (
        "fp16 tensor-core inference is the usual GPU deployment of BERT"
        if gpu
        else "PyTorch runs BERT on CPUs in fp32 by default"
    )
    description = (
        f"{cal.model_name}, {cal.units} {'SMs' if gpu else 'threads'} @ "
        f"{_rate(cal.clock_hz, 'Hz')}, calibrated by perfsim calibrate (torch {cal.torch_version})"
    )
    lines = [
        *_header(cal),
        "version: 1",
        f"name: {_scalar(name)}",
        f"kind: {'gpu' if gpu else 'cpu'}",
        f"description: {_scalar(description)}",
        yaml_line(
            0,
            "technology_node",
            f'"{TECHNOLOGY_NODE}"',
            ASSUMED
            + "software cannot read the process node; a stated default (only "
            + (
                "the energy defaults of what NVML did not measure use it: vector ops, L2)"
                if cal.power is not None
                else "energy defaults use it, and energy is not calibrated)"
            ),
        ),
        yaml_line(0, "native_precision", "fp16" if gpu else "fp32", ASSUMED + precision_source),
        yaml_line(
            0,
            "op_overhead",
            f'"{cal.op_overhead_s * 1e6:.6g} us"',
            MEASURED + cal.op_overhead_how,
        ),
        *_serial(cal),
        *fresh_pages_lines(cal),
        "compute:",
        yaml_line(2, "units", str(cal.units), MEASURED + units_source),
        yaml_line(2, "clock", f'"{cal.clock_hz / 1e6:.10g} MHz"', _clock_source(cal)),
        *_matrix(cal),
        *_vector(cal),
        *_single_thread(cal),
        *_memory(cal),
        *energy_lines(cal),
        "area:",
        yaml_line(
            2,
            "estimate",
            "false",
            ASSUMED + "no die area: the process node above is a stated default, not the "
            "part's, and the measured memory's kind is not known (perfsim.area)",
        ),
    ]
    return "\n".join(lines) + "\n"


def _serial(cal: Calibration) -> list[str]:
    """The ``op_overhead_serial`` line, only where the overhead adds to each kernel."""
    if not cal.op_overhead_serial:
        return []
    why = (
        "eager CPU execution is synchronous: the thread that dispatches an op then runs its "
        "kernel, so the framework time above adds to every kernel"
    )
    return [yaml_line(0, "op_overhead_serial", "true", ASSUMED + why)]


def _clock_source(cal: Calibration) -> str:
    if cal.clock_source.startswith("assumed"):
        return ASSUMED + cal.clock_source.removeprefix("assumed: ")
    return MEASURED + cal.clock_source
