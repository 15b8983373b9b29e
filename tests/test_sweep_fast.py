"""The sweep's fast path gives exactly the numbers of `estimate_graph` (1e-9 relative)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from perfsim.engines import available
from perfsim.estimate import estimate_graph
from perfsim.hardware import load_hardware
from perfsim.ir import OpGraph
from perfsim.precision import apply_precision
from perfsim.sweep import group_graph, override, point_metrics

HWCONFIGS = Path(__file__).resolve().parent.parent / "hwconfigs"

DEVICES = ["npu", "a100", "xeon-8380", "edge-npu", "fpga-fqbert", "t4"]


def _close(a: float, b: float) -> bool:
    return a == pytest.approx(b, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("engine", available())
@pytest.mark.parametrize(("model", "batch", "seq"), [("bert-tiny", 2, 64), ("bert-mini", 1, 128)])
def test_point_metrics_equal_estimate_graph(
    traced: Callable[..., OpGraph], device: str, engine: str, model: str, batch: int, seq: int
) -> None:
    hw = load_hardware(HWCONFIGS / f"{device}.yaml")
    graph = apply_precision(traced(model, batch=batch, seq=seq), hw.native_precision)
    summary = estimate_graph(graph, hw, engine).summary()
    row = point_metrics(group_graph(graph), hw, engine)
    for key in (
        "latency_s",
        "throughput_samples_per_s",
        "flops",
        "achieved_flops_per_s",
        "peak_flops_per_s",
        "energy_j",
        "n_ops",
    ):
        assert _close(row[key], summary[key]), key
    for level, value in summary["memory_traffic_bytes"].items():
        assert _close(row[f"traffic_{level}_bytes"], value), level
    for part, value in summary["energy_breakdown_j"].items():
        assert _close(row[f"energy_{part}_j"], value), part
    for category, values in summary["by_category"].items():
        assert _close(row[f"latency_{category}_s"], values["latency_s"]), category
    absent = {f"latency_{c}_s" for c in ("optimizer", "collective")} - {
        f"latency_{c}_s" for c in summary["by_category"]
    }
    assert all(row[key] == 0.0 for key in absent)
    if "cycles" in summary:
        for key, value in summary["cycles"].items():
            assert _close(row[key], value), key


def test_grouping_keeps_every_op(traced: Callable[..., OpGraph]) -> None:
    graph = traced("bert-tiny")
    grouped = group_graph(graph)
    assert sum(grouped.counts) == len(graph) == grouped.n_ops
    # bert-tiny's two encoder layers are identical: layer 1 adds no new shape
    assert len(grouped.ops) <= sum(1 for op in graph.ops if op.layer != 1)
    assert {op.name for op in grouped.ops}.isdisjoint(op.name for op in graph.ops if op.layer == 1)


@pytest.mark.parametrize("engine", available())
def test_fast_path_on_overridden_devices(traced: Callable[..., OpGraph], engine: str) -> None:
    npu = load_hardware(HWCONFIGS / "npu.yaml")
    graph = apply_precision(traced("bert-tiny"), "bf16")
    grouped = group_graph(graph)
    for path, value in [
        ("matrix.rows", 32),
        ("memory.sram.capacity", "256 KiB"),
        ("memory.dram.bandwidth", "100 GB/s"),
        ("clock", "500 MHz"),
    ]:
        hw = override(npu, path, value)
        expected = estimate_graph(graph, hw, engine).summary()
        row = point_metrics(grouped, hw, engine)
        assert _close(row["latency_s"], expected["latency_s"]), path
        assert _close(row["energy_j"], expected["energy_j"]), path
