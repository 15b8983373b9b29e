"""The model against the measurements of a real H200 (results/validation/gpu-h200-checks).

The CSVs were measured once on a lent H200 by ``benchmarks/gpu_checks.py``; the model
costs each row from the shipped datasheet file ``hwconfigs/h200.yaml``. What agrees is
asserted; what is a known miss (issue 12) is a strict xfail, so a fix shows up here.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from perfsim.hardware import HardwareSpec, resolve_hardware

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ROOT / "results" / "validation" / "gpu-h200-checks"


def _hw(name: str = "h200") -> HardwareSpec:
    return resolve_hardware(ROOT / "hwconfigs" / f"{name}.yaml")


def _compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_h200_compare", CHECKS / "compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(name: str) -> list[dict[str, str]]:
    with open(CHECKS / name, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_hbm_copy_bandwidth_within_5_percent() -> None:
    # 4 GiB device-to-device copy: 4.24 TB/s measured; the file's achievable fraction 0.88
    (row,) = _compare().copy_rows(_read("copy.csv"), _hw())
    assert row["roofline_tb_per_s"] == pytest.approx(row["measured_tb_per_s"], rel=0.05)


@pytest.mark.parametrize(
    ("measured", "within"),
    # the host's speed differs between lent machines (bert-base b1: 3.80 ms on the first,
    # 5.46 ms on the second); the model has one host figure per runtime
    [("inference-machine1.csv", 0.10), ("inference.csv", 0.40)],
)
def test_eager_batch1_host_bound(measured: str, within: float) -> None:
    # bert-base and bert-large b1 fp16, eager PyTorch, SDPA attention: host-bound, so the
    # host's launches and folded-view dispatch set the time (perfsim.timeline)
    rows = [row for row in _read(measured) if row["runtime"] == "eager" and row["batch"] == "1"]
    compared = _compare().workload_rows(rows, _hw(), training=False)
    assert len(compared) == 2
    for row in compared:
        assert abs(float(row["roofline_error"])) <= within, row


def test_eager_batched_kernel_time_within_20_percent() -> None:
    """The device's own time (the profiled kernels) of the batched SDPA rows: within 20%,
    bert-base within 25%. The model is too slow on bert-base's many short kernels: each
    pays the 2.11 us startup, which includes the gap between graph-replayed kernels that a
    profiler's kernel durations leave out (+19% / +18% in session 12; +20.5% / +19.5%
    since session 14 prices PyTorch's fp16 LayerNorm at its measured rate)."""
    rows = [
        row for row in _read("inference.csv") if row["runtime"] == "eager" and row["batch"] != "1"
    ]
    for row in _compare().workload_rows(rows, _hw(), training=False):
        within = 0.25 if row["model"] == "bert-base" else 0.20
        assert abs(float(row["roofline_kernel_error"])) <= within, row


def test_dense_fp16_product_within_15_percent() -> None:
    """sustained.csv: the H200 holds 644 TFLOP/s on 8192^3 fp16 products at its 700 W limit
    (1,440 MHz). The file's achievable fraction (0.83, the GH200's published best-shape
    rate) is the 0.827 of that clock's peak measured here; the model's clock under the
    limit is still higher than the held one (the per-MAC energy short at that clock), so
    the roofline lands +14%, inside the check."""
    rows = [row for row in _read("sustained.csv") if row["dtype"] == "fp16"]
    (fp16,) = [row for row in _compare().sustained_rows(rows, _hw()) if row["dtype"] == "fp16"]
    assert fp16["roofline_tflops"] == pytest.approx(fp16["measured_tflops"], rel=0.15)


@pytest.mark.parametrize("name", ["h200", "h200-calibrated"])
def test_energy_per_action_at_the_held_clock(name: str) -> None:
    """duty.csv: joules per MAC and per HBM byte at 1980 MHz (the slope of power over rate).
    The datasheet file's measured whole-core energies (GH200, Antepara et al.) land within
    35% for the tensor-core dtypes it quotes and the HBM byte; the file calibrated on other
    lent H200 boards by `perfsim calibrate --device cuda` within 10% of every action."""
    rows = {row["action"]: row for row in _compare().duty_rows(_read("duty.csv"), _hw(name))}
    assert set(rows) == {f"mac.{d}" for d in ("fp32", "tf32", "fp16", "bf16", "int8")} | {
        "hbm.bytes"
    }
    checked = (
        rows
        if name == "h200-calibrated"
        else {key: rows[key] for key in ("mac.fp16", "mac.bf16", "mac.tf32", "hbm.bytes")}
    )
    within = 0.10 if name == "h200-calibrated" else 0.35
    for action, row in checked.items():
        assert abs(float(row["model_error"])) <= within, (action, row)
