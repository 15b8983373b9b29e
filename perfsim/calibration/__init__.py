"""``perfsim calibrate``: measure this host (or its CUDA device) and write a hardware file.

Microbenchmarks run through torch, the framework perfsim models, so the peaks are what
torch sustains at BERT's shapes, not datasheet figures::

    from perfsim.calibration import calibrate
    calibrate(Path("hwconfigs/host.yaml"))          # about a minute on a 2-core host
    hw = perfsim.load_hardware("hwconfigs/host.yaml")

`measure_host` returns the raw `Calibration` (single-thread figures included);
`calibration_yaml` writes it in the hardware schema with a source comment on every line.
torch is imported only when measuring.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from perfsim.calibration.contention import Instruments
from perfsim.calibration.emit import calibration_yaml
from perfsim.calibration.host import measure_host
from perfsim.calibration.record import (
    BandwidthResult,
    Calibration,
    GemmResult,
    MemoryInfo,
    VectorResult,
)
from perfsim.calibration.timing import Progress, Timer, UnstableCalibrationError
from perfsim.errors import SpecError

__all__ = [
    "BandwidthResult",
    "Calibration",
    "GemmResult",
    "Instruments",
    "MemoryInfo",
    "Timer",
    "UnstableCalibrationError",
    "VectorResult",
    "calibrate",
    "calibration_yaml",
    "measure_cuda",
    "measure_host",
    "write_hardware_file",
]

logger = logging.getLogger(__name__)
DEVICES = ("cpu", "cuda")


def measure_cuda(*, quick: bool = False, progress: Progress | None = None) -> Calibration:
    """Measure the current CUDA device (see `perfsim.calibration.cuda`).

    Raises:
        SpecError: torch sees no CUDA device.
    """
    import torch

    if not torch.cuda.is_available():
        raise SpecError("--device cuda: torch.cuda.is_available() is False on this host")
    from perfsim.calibration.cuda import measure_cuda as measure

    return measure(quick=quick, progress=progress)


def write_hardware_file(out: Path, text: str) -> Path:
    """Write ``text`` to ``out`` atomically, after checking it loads as a hardware file.

    The text goes to a temporary file beside ``out``, is validated with
    `perfsim.hardware.load_hardware`, and then replaces ``out`` in one rename, so ``out``
    is never left half written or invalid.
    """
    from perfsim.hardware import load_hardware

    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        load_hardware(temporary)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return out


def calibrate(
    out: Path,
    *,
    device: str = "cpu",
    quick: bool = False,
    progress: Progress | None = None,
    threads: int | None = None,
    tools: Instruments | None = None,
) -> Path:
    """Measure ``device`` and write the hardware file ``out`` (its stem becomes ``name``).

    Args:
        out: the YAML file to write (parent folders are created).
        device: ``"cpu"`` (this host, through torch's CPU backend) or ``"cuda"``.
        quick: tiny sizes and few repetitions: seconds instead of about a minute.
        progress: called as ``progress(step, fraction_done)``; the CLI draws a bar.
        threads: CPU threads to calibrate for (default: torch's, fewer on a busy host).
        tools: the clocks and load readings of a CPU calibration (tests inject them).

    Returns:
        ``out``.

    Raises:
        SpecError: an unknown device, ``cuda`` without a CUDA device, threads below 1.
        UnstableCalibrationError: the host was too busy for stable figures; nothing written.
    """
    out = Path(out)
    if device not in DEVICES:
        raise SpecError(f"--device: expected one of {', '.join(DEVICES)}, got {device!r}")
    if threads is not None and threads < 1:
        raise SpecError(f"--threads: expected a positive integer, got {threads}")
    if device == "cuda":
        cal = measure_cuda(quick=quick, progress=progress)
    else:
        cal = measure_host(threads=threads, quick=quick, progress=progress, tools=tools)
    logger.info("calibrated %s in %.1f s; writing %s", cal.model_name, cal.wall_s, out)
    return write_hardware_file(out, calibration_yaml(cal, name=out.stem))
