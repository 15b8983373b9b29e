"""SCALE-Sim ``.cfg`` files as perfsim hardware, so existing studies come over unchanged.

SCALE-Sim describes one systolic array and counts cycles and words. The mapping:

- ``ArrayHeight`` x ``ArrayWidth`` and ``Dataflow`` → one systolic array (units: 1);
- ``IfmapSramSzkB`` / ``FilterSramSzkB`` / ``OfmapSramSzkB`` → the array's operand buffers;
  the nearest level ``sram`` holds all three;
- ``InterfaceBandwidth: USER`` with ``Bandwidth`` (words per cycle per DRAM port) → a DRAM
  of three such ports (ifmap, filter, ofmap: the cycle engine gives each array three equal
  ports; SCALE-Sim takes the ifmap and filter ports from its ``[layout]`` bank bandwidths,
  which perfsim takes to equal ``Bandwidth``); ``CALC`` (SCALE-Sim sizes the ports so
  nothing stalls) → ports too wide to ever stall;
- a word is one byte (SCALE-Sim hard-codes ``word_size = 1``) and ``kB`` means KiB: 1024
  words.

Assumed, since SCALE-Sim has no such notions (stated in the spec's description): a 1 GHz
clock (cycles read as nanoseconds), a 45 nm node (Horowitz's energies unscaled), and a
vector unit of one 2-FLOP lane per array column for the non-GEMM ops of a traced model.
"""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from perfsim.errors import SpecError
from perfsim.hardware.spec import HardwareSpec
from perfsim.yamlio import validation_message

CLOCK_HZ = 1e9
WORD_BYTES = 1
CALC_BANDWIDTH_BYTES_PER_S = 1e18  # CALC mode: ports that never stall the array
DRAM_PORTS = 3  # ifmap, filter and ofmap each have their own DRAM port


def _get(config: configparser.ConfigParser, path: Path, section: str, key: str) -> str:
    try:
        return config.get(section, key).split("#")[0].strip()
    except (configparser.NoSectionError, configparser.NoOptionError):
        raise SpecError(f"{path}: {section}.{key}: missing required field") from None


def _positive_int(config: configparser.ConfigParser, path: Path, section: str, key: str) -> int:
    text = _get(config, path, section, key)
    try:
        value = int(text)
    except ValueError:
        raise SpecError(
            f"{path}: {section}.{key}: expected a positive integer, got {text!r}"
        ) from None
    if value <= 0:
        raise SpecError(f"{path}: {section}.{key}: expected a positive integer, got {value}")
    return value


def _read_config(path: Path) -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    try:
        read = config.read(path, encoding="utf-8")
    except configparser.Error as error:
        raise SpecError(
            f"{path}: malformed SCALE-Sim config: {str(error).splitlines()[0]}"
        ) from None
    if not read:
        raise SpecError(f"{path}: file not found")
    return config


def _dram_bandwidth(config: configparser.ConfigParser, path: Path) -> float:
    """Bytes/s of the DRAM: USER mode's ``Bandwidth`` on each of `DRAM_PORTS` ports, or
    CALC mode's ports that never stall."""
    arch = "architecture_presets"
    mode = _get(config, path, "run_presets", "InterfaceBandwidth").upper()
    if mode == "CALC":
        return CALC_BANDWIDTH_BYTES_PER_S
    if mode != "USER":
        raise SpecError(
            f"{path}: run_presets.InterfaceBandwidth: expected USER or CALC, got {mode!r}"
        )
    words = _get(config, path, arch, "Bandwidth").split(",")[0]
    try:
        dram_bandwidth = DRAM_PORTS * float(words) * WORD_BYTES * CLOCK_HZ
    except ValueError:
        raise SpecError(
            f"{path}: {arch}.Bandwidth: expected words per cycle, got {words!r}"
        ) from None
    if dram_bandwidth <= 0:
        raise SpecError(f"{path}: {arch}.Bandwidth: expected a positive number of words per cycle")
    return dram_bandwidth


def scalesim_hardware_dict(path: Path) -> dict[str, Any]:
    """The hardware mapping of a SCALE-Sim config, as SI data for `HardwareSpec.from_si`."""
    config = _read_config(path)
    arch = "architecture_presets"
    rows = _positive_int(config, path, arch, "ArrayHeight")
    cols = _positive_int(config, path, arch, "ArrayWidth")
    ifmap_kb = _positive_int(config, path, arch, "IfmapSramSzkB")
    filter_kb = _positive_int(config, path, arch, "FilterSramSzkB")
    ofmap_kb = _positive_int(config, path, arch, "OfmapSramSzkB")
    dataflow = _get(config, path, arch, "Dataflow").lower()
    if dataflow not in ("os", "ws", "is"):
        raise SpecError(f"{path}: {arch}.Dataflow: expected os, ws or is, got {dataflow!r}")
    dram_bandwidth = _dram_bandwidth(config, path)
    name = config.get("general", "run_name", fallback=path.stem).strip()
    kib = 1024 * WORD_BYTES
    sram_bytes = (ifmap_kb + filter_kb + ofmap_kb) * kib
    return {
        "version": 1,
        "name": name,
        "kind": "npu",
        "description": (
            f"SCALE-Sim config {path.name}: {rows}x{cols} {dataflow.upper()} array; "
            "assumed 1 GHz clock, 45 nm, 1-byte words, one vector lane per column"
        ),
        "technology_node": 45e-9,
        "native_precision": "int8",
        "op_overhead": 0.0,
        "compute": {
            "units": 1,
            "clock": CLOCK_HZ,
            "matrix": {
                "type": "systolic",
                "rows": rows,
                "cols": cols,
                "dataflow": dataflow,
                "macs_per_cycle": {"int8": rows * cols},
                "buffers": {
                    "ifmap": ifmap_kb * kib,
                    "filter": filter_kb * kib,
                    "ofmap": ofmap_kb * kib,
                },
            },
            "vector": {"flops_per_cycle": {"fp32": 2 * cols, "fp16": 2 * cols, "bf16": 2 * cols}},
        },
        "memory": [
            {
                "name": "sram",
                "capacity": float(sram_bytes),
                # SCALE-Sim's SRAMs never limit the array: rows + 2 x cols words per cycle
                # (an operand edge of each kind plus the outputs) keep it fed
                "bandwidth": (rows + 2 * cols) * WORD_BYTES * CLOCK_HZ,
            },
            {"name": "dram", "capacity": float(2**40), "bandwidth": dram_bandwidth},
        ],
    }


def load_scalesim_config(path: str | Path) -> HardwareSpec:
    """A SCALE-Sim ``.cfg`` → `HardwareSpec`; errors name the section and key."""
    path = Path(path)
    data = scalesim_hardware_dict(path)
    try:
        return HardwareSpec.from_si(data)
    except ValidationError as error:
        raise SpecError(validation_message(path, error)) from None
