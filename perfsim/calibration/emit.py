"""A `Calibration` as a hardware YAML file in perfsim's schema, every figure with its source.

Peaks are written per unit per cycle so that the schema's derived figures give back the
measurements: ``macs_per_cycle = FLOP/s / (2 * units * clock)`` and ``flops_per_cycle =
FLOP/s / (units * clock)``, written with 10 significant digits. Bandwidths are aggregate
over all units, divided by ``units`` on per-unit levels (the schema multiplies them back).
This module writes the header and the top-level figures and assembles the sections:
`perfsim.calibration.emit_compute`, `perfsim.calibration.emit_memory`,
`perfsim.calibration.emit_energy` and `perfsim.calibration.emit_host`.
"""

from __future__ import annotations

import json
import re

from perfsim.calibration.emit_compute import matrix_lines, single_thread_lines, vector_lines
from perfsim.calibration.emit_energy import energy_lines
from perfsim.calibration.emit_host import framework_refill_lines, fresh_pages_lines
from perfsim.calibration.emit_memory import memory_lines
from perfsim.calibration.record import CONTENTION_WARNING, Calibration
from perfsim.calibration.yaml_lines import (
    ASSUMED,
    MEASURED,
    TECHNOLOGY_NODE,
    rate_text,
    yaml_line,
)


def _scalar(text: str) -> str:
    """A YAML scalar: bare where safe, else a double-quoted string without ``#``."""
    text = text.replace("#", "")
    return text if re.fullmatch(r"[A-Za-z0-9_.-]+", text) else json.dumps(text)


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
        f"{rate_text(cal.clock_hz, 'Hz')}, calibrated by perfsim calibrate "
        f"(torch {cal.torch_version})"
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
        *framework_refill_lines(cal),
        "compute:",
        yaml_line(2, "units", str(cal.units), MEASURED + units_source),
        yaml_line(2, "clock", f'"{cal.clock_hz / 1e6:.10g} MHz"', _clock_source(cal)),
        *matrix_lines(cal),
        *vector_lines(cal),
        *single_thread_lines(cal),
        *memory_lines(cal),
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
