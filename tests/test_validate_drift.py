"""The machine-against-file check of ``perfsim validate`` (`perfsim.validation.drift`).

Hand-derived: the change is now / calibrated - 1, a move past `NOTICE` either way is
named, smaller ones are the calibration's own repeatability; files without the figure
are not checked; the probe itself runs and gives a positive rate on this host.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from perfsim.cli import cli
from perfsim.hardware import load_hardware
from perfsim.validation.drift import NOTICE, Drift, drift_line, pool_bytes, weight_stream_drift

HWCONFIGS = Path(__file__).resolve().parent.parent / "hwconfigs"


def test_the_change_and_the_line() -> None:
    slow = Drift("GEMM weights from DRAM", calibrated=24e9, now=18e9)
    assert slow.change == pytest.approx(-0.25)
    line = drift_line(slow, Drift("GEMM weights from DRAM", 24e9, 19.2e9))
    assert "18 GB/s before the cases, 19.2 after, 24 in the file (-25%, -20%)" in line
    assert "slower than when it was calibrated" in line
    steady = Drift("x", 24e9, 24e9 * (1 - NOTICE / 2))
    assert "own repeatability" in drift_line(steady, steady)
    fast = Drift("x", 24e9, 24e9 * (1 + 2 * NOTICE))
    assert "faster" in drift_line(steady, fast)


def test_files_without_the_figure_are_not_checked() -> None:
    assert weight_stream_drift(load_hardware(HWCONFIGS / "a100.yaml")) is None  # a GPU
    assert weight_stream_drift(load_hardware(HWCONFIGS / "npu.yaml")) is None


def test_the_pool_outgrows_the_caches() -> None:
    host = load_hardware(HWCONFIGS / "host.yaml")
    largest = max(host.level_capacity(level) for level in host.memory[:-1])
    assert pool_bytes(host) == 2 * largest


def test_the_probe_runs_here() -> None:
    host = load_hardware(HWCONFIGS / "host.yaml")
    assert host.compute.matrix is not None and host.compute.matrix.weight_packing_bandwidth
    drift = weight_stream_drift(host)
    assert drift is not None and drift.now > 0
    assert drift.calibrated == host.compute.matrix.weight_packing_bandwidth


def test_validate_prints_the_line_and_writes_it(tmp_path: Path) -> None:
    out = tmp_path / "validation"
    args = [
        "validate",
        "-m",
        "bert-tiny",
        "-b",
        "1",
        "-s",
        "8",
        "--hw",
        str(HWCONFIGS / "host.yaml"),
    ]
    result = CliRunner().invoke(cli, [*args, "--repeats", "1", "--warmup", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    line = (out / "drift.txt").read_text(encoding="utf-8").strip()
    assert line in result.stderr  # the file holds the line as printed
    shape = (
        r"machine against the file, GEMM weights from DRAM: [\d.]+ GB/s before the cases, "
        r"[\d.]+ after, [\d.]+ in the file \([+-]\d+%, [+-]\d+%\): .+"
    )
    assert re.fullmatch(shape, line), line
