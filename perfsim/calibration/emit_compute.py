"""The ``compute`` section of a calibrated hardware file: matrix and vector peaks, GEMM
efficiency over shape, weight packing, element costs and the one-thread block, each figure
with its source (`perfsim.calibration.emit` assembles the file)."""

from __future__ import annotations

from perfsim.calibration.emit_host import element_cost_lines
from perfsim.calibration.emit_memory import stream_text
from perfsim.calibration.record import Calibration, per_cycle
from perfsim.calibration.yaml_lines import ASSUMED, MEASURED, rate_text, yaml_line


def _shape_list(cal: Calibration, dtype: str) -> str:
    result = cal.gemm_result(dtype)
    parts = [
        f"{m}x{n}x{k} {rate_text(rate, 'FLOP/s')}"
        for (m, n, k), rate in zip(result.shapes, result.flops_per_s, strict=True)
    ]
    return ", ".join(parts)


def single_thread_lines(cal: Calibration) -> list[str]:
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
    hz = rate_text(cal.clock_hz, "Hz")
    gemm = [r for r in cal.gemm if r.threads == 1]
    if gemm:
        lines.append(yaml_line(4, "macs_per_cycle", "", f"# FLOP/s of 1 thread / (2 x {hz})"))
    for r in gemm:
        flops = cal.gemm_peak_flops_per_s(r.dtype, 1)
        which = "median" if flops == r.median_flops_per_s else "best"
        how = (
            f"{r.op} {r.dtype}, x @ W^T, 1 thread, {which} of {len(r.shapes)} shapes = "
            f"{rate_text(flops, 'FLOP/s')}"
        )
        value = f"{flops / (2.0 * cal.clock_hz):.10g}"
        lines.append(yaml_line(6, r.dtype, value, MEASURED + how))
    vector = [r for r in cal.vector if r.threads == 1]
    if vector:
        lines.append(yaml_line(4, "flops_per_cycle", "", f"# FLOP/s of 1 thread / {hz}"))
    for r in vector:
        how = (
            f"median of out-of-place {'/'.join(r.ops)}, 1 thread = "
            f"{rate_text(r.median_flops_per_s, 'FLOP/s')}"
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
        how = f"1 thread: best of {stream_text(r)}"
        if written < r.best_bytes_per_s:
            how += f"; capped at the nearer level's {rate_text(written, 'B/s')}"
        lines.append(yaml_line(6, r.level, f'"{written / 1e9:.6g} GB/s"', MEASURED + how))
    return lines


def matrix_lines(cal: Calibration) -> list[str]:
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
            f"{rate_text(cal.clock_hz, 'Hz')})",
        ),
    ]
    for dtype in cal.gemm_dtypes:
        result = cal.gemm_result(dtype)
        flops = cal.gemm_peak_flops_per_s(dtype)
        how = (
            f"{result.op} {dtype}, x @ W^T, {cal.units} units, median of {len(result.shapes)} "
            f"{'tiny' if cal.quick else 'BERT'} shapes (m x n x k: {_shape_list(cal, dtype)}) "
            f"= {rate_text(result.median_flops_per_s, 'FLOP/s')}"
        )
        if flops != result.median_flops_per_s:
            how = (
                f"the best fp32 GEMM rate seen, {rate_text(flops, 'FLOP/s')} (efficiency_grid's "
                f"fractions are of it); {how}"
            )
        if cal.device == "cpu" and cal.units > 1:
            how += f"; 1 thread {rate_text(cal.gemm_result(dtype, 1).median_flops_per_s, 'FLOP/s')}"
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
            f"{op} {rate_text(rate, 'FLOP/s')}"
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
                how += f"; 1 thread {rate_text(single, 'FLOP/s')}"
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


def vector_lines(cal: Calibration) -> list[str]:
    lines = [
        "  vector:",
        yaml_line(
            4,
            "flops_per_cycle",
            "",
            f"# per unit and cycle: FLOP/s on all {cal.units} units / ({cal.units} x "
            f"{rate_text(cal.clock_hz, 'Hz')})",
        ),
    ]
    entries = _vector_entries(cal)
    for dtype, flops, source in entries:
        lines.append(yaml_line(6, dtype, f"{per_cycle(flops, cal, per_mac=False):.10g}", source))
    fp32 = next((flops for dtype, flops, _ in entries if dtype == "fp32"), None)
    return lines + element_cost_lines(cal, fp32)
