"""The measured-power part of a calibrated GPU file (`perfsim.calibration.gpu_energy`):
energy per MAC and per DRAM byte, static power, the power limit and the DVFS exponent."""

from __future__ import annotations

from perfsim.calibration.gpu_energy import ActionEnergy
from perfsim.calibration.record import Calibration
from perfsim.calibration.yaml_lines import ASSUMED, MEASURED, TECHNOLOGY_NODE, yaml_line
from perfsim.energy.defaults import sram_energy_per_byte_45nm
from perfsim.energy.technology import energy_scale
from perfsim.units import parse_quantity


def dram_energy_lines(cal: Calibration) -> list[str]:
    """The DRAM level's ``energy_per_byte`` line where NVML measured it, else none."""
    dram = _action(cal, "dram.bytes")
    if dram is None:
        return []
    nearer = nearer_levels_j_per_byte(cal)
    return [
        yaml_line(
            4,
            "energy_per_byte",
            f'"{(dram.joules - nearer) * 1e12:.4g} pJ"',
            f"{MEASURED}1 GiB device copy: {dram.joules * 1e12:.4g} pJ per byte read "
            f"or written, whole stack, less the {nearer * 1e12:.3g} pJ the nearer "
            f"levels' default energies charge the same byte: {dram.how()}",
        )
    ]


def nearer_levels_j_per_byte(cal: Calibration) -> float:
    """Joules per byte the levels in front of DRAM charge by default (no energy of their
    own in the file: `perfsim.energy.prices` prices them as SRAMs of their capacity at
    ``TECHNOLOGY_NODE``), so a measured whole-stack DRAM byte is not counted twice."""
    scale = energy_scale(parse_quantity(TECHNOLOGY_NODE, "length"))
    return sum(sram_energy_per_byte_45nm(level.capacity_bytes) for level in cal.memory[:-1]) * scale


def _action(cal: Calibration, action: str) -> ActionEnergy | None:
    """The measured energy of ``action`` (e.g. ``dram.bytes``), None if not measured."""
    if cal.power is None:
        return None
    return next((a for a in cal.power.actions if a.action == action), None)


def energy_lines(cal: Calibration) -> list[str]:
    """The ``energy`` section and ``tdp``: measured where NVML was read, else static 0 W."""
    power = cal.power
    if power is None:
        return [
            "energy:",
            yaml_line(
                2,
                "static_power",
                '"0 W"',
                ASSUMED + "not measured by perfsim calibrate (per-action energies come from "
                "perfsim.energy.defaults at technology_node)",
            ),
        ]
    macs = [a for a in power.actions if a.action.startswith("mac.")]
    lines = ["energy:"]
    if macs:
        lines += [
            yaml_line(
                2,
                "mac_whole_core",
                "true",
                "# the mac figures are whole-core energies measured on the device",
            ),
            "  mac:",
        ]
        for action in macs:
            dtype = action.action.removeprefix("mac.")
            where = "the CUDA cores" if dtype == "fp32" else "tensor cores"
            lines.append(
                yaml_line(
                    4,
                    dtype,
                    f'"{action.joules * 1e12:.4g} pJ"',
                    f"{MEASURED}one large {dtype} product on {where}, random data: {action.how()}",
                )
            )
    exponent = power.dvfs_exponent
    if exponent is not None:
        throttled = [a.action for a in macs if a.dvfs_exponent is not None]
        lines.append(
            yaml_line(
                2,
                "dvfs_exponent",
                f"{exponent:.3g}",
                f"{MEASURED}median over {', '.join(throttled)} of ln(E_full / E_top) / "
                "ln(f_full / f_top), the energy per MAC at full duty (clock lowered by the "
                "power limit) against the held top clock's",
            )
        )
    lines += [
        yaml_line(
            2,
            "static_power",
            f'"{power.baseline_w:.4g} W"',
            f"{MEASURED}median intercept of the energy fits: the board's power with its "
            "clocks up and no work (NVML)",
        ),
        yaml_line(
            0,
            "tdp",
            f'"{power.power_limit_w:.4g} W"',
            f"{MEASURED}NVML enforced power limit",
        ),
    ]
    return lines
