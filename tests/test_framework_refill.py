"""The eager framework time that grows with the bytes each layer streams (issue 13).

Hand-derived: the refill table interpolates linearly in bytes, adds nothing below its
first point and holds its last; a layer's bytes are the mean over layers of its forward
ops' reads and writes; a host with a refill pays ``ops x extra`` more in both engines, on
the sweep's path as on ``perfsim run``'s. The calibration's reading of its profiled
forwards is checked on made-up times, and its block round-trips through a loadable file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from perfsim.calibration import measure_host
from perfsim.calibration.emit import calibration_yaml
from perfsim.calibration.framework_refill import RefillResult, refill_points
from perfsim.engines.framework import layer_stream_bytes, with_framework_refill
from perfsim.estimate import estimate_graph
from perfsim.hardware import HardwareSpec, load_hardware
from perfsim.hardware.components import FrameworkRefill
from perfsim.hardware.ideal import ideal_hardware
from perfsim.ir import OpGraph
from perfsim.sweep import group_graph, point_metrics
from perfsim.sweep.batch import batch_metrics
from tests.test_roofline import vector_add

HWCONFIGS = Path(__file__).resolve().parent.parent / "hwconfigs"
REFILL = {"points": [["1 MB", "0 us"], ["10 MB", "9 us"], ["50 MB", "30 us"]]}


def host(refill: dict[str, object] | None = REFILL) -> HardwareSpec:
    """The shipped calibrated host file, with the refill table above (or none)."""
    spec = load_hardware(HWCONFIGS / "host.yaml")
    assert spec.op_overhead_serial and spec.framework_refill is None
    data = spec.model_dump()
    if refill is not None:
        data["framework_refill"] = FrameworkRefill.model_validate(refill).model_dump()
    return HardwareSpec.from_si(data)


def test_the_table_is_linear_in_bytes_zero_below_and_held_above() -> None:
    table = FrameworkRefill.model_validate(REFILL)
    assert table.seconds(0.5e6) == 0.0
    assert table.seconds(1e6) == 0.0
    assert table.seconds(5.5e6) == pytest.approx(4.5e-6)  # halfway from 1 to 10 MB
    assert table.seconds(30e6) == pytest.approx(9e-6 + 21e-6 * 20 / 40)
    assert table.seconds(1e9) == pytest.approx(30e-6)


def test_points_out_of_order_are_a_schema_error() -> None:
    with pytest.raises(ValidationError, match="bytes ascending"):
        FrameworkRefill.model_validate({"points": [["10 MB", "1 us"], ["1 MB", "0 us"]]})


def test_a_layers_bytes_are_the_mean_of_its_forward_ops() -> None:
    add = vector_add(1000)  # 4,000 bytes read twice, written once: 12,000
    ops = [
        replace(add, name="embed", layer=-1),  # outside the stack: not counted
        replace(add, name="l0.a", layer=0),
        replace(add, name="l0.b", layer=0),
        replace(add, name="l1.a", layer=1),
        replace(add, name="l1.grad", layer=1, phase="backward"),  # not a forward op
    ]
    assert layer_stream_bytes(ops) == pytest.approx((3 * 12_000) / 2)
    assert layer_stream_bytes(ops[:1]) == 0.0


@pytest.mark.parametrize("engine", ["roofline", "cycle"])
def test_a_host_with_a_refill_pays_it_on_every_op(
    traced: Callable[..., OpGraph], engine: str
) -> None:
    graph = traced("bert-mini", batch=1, seq=32)
    layer = layer_stream_bytes(graph.ops)
    # bert-mini: 4 x 256^2 + 2 x 256 x 1,024 weights and 3,328 biases and norms a layer,
    # 3.16 MB in fp32, plus the activations of 32 tokens
    assert 3.16e6 < layer < 10e6
    extra = FrameworkRefill.model_validate(REFILL).seconds(layer)
    assert extra > 0
    without = estimate_graph(graph, host(None), engine).latency_s
    with_refill = estimate_graph(graph, host(), engine)
    assert with_refill.latency_s - without == pytest.approx(len(graph.ops) * extra, rel=1e-9)
    assert with_refill.hw.framework_refill is not None  # the result reports the file as given


def test_the_sweep_path_charges_what_run_charges(traced: Callable[..., OpGraph]) -> None:
    graph = traced("bert-mini", batch=1, seq=32)
    hw = host()
    row = point_metrics(group_graph(graph), hw, "roofline")
    assert row["latency_s"] == pytest.approx(estimate_graph(graph, hw).latency_s, rel=1e-12)


@pytest.mark.parametrize("engine", ["roofline", "cycle"])
def test_the_batched_sweep_charges_it_per_device(
    traced: Callable[..., OpGraph], engine: str
) -> None:
    graph = traced("bert-mini", batch=1, seq=32)
    devices = [host(), host(None)]
    rows = batch_metrics(group_graph(graph), devices, engine)
    for row, hw in zip(rows, devices, strict=True):
        assert row["latency_s"] == pytest.approx(estimate_graph(graph, hw, engine).latency_s)
    assert rows[0]["latency_s"] > rows[1]["latency_s"]


def test_applying_the_refill_twice_changes_nothing(traced: Callable[..., OpGraph]) -> None:
    graph = traced("bert-mini", batch=1, seq=32)
    once = with_framework_refill(host(), graph.ops)
    assert once.framework_refill is None and once.op_overhead > host().op_overhead
    assert with_framework_refill(once, graph.ops) is once
    assert with_framework_refill(host(None), graph.ops) == host(None)


def test_calibration_points_take_the_hidden_8_model_off() -> None:
    # three rounds of outside-op times, ms: the hidden-8 model and three widths, the third
    # a dip (noise); round 2 ran slow for everyone
    rounds = (
        (1.0e-3, 1.5e-3, 1.0e-3),
        (1.2e-3, 1.7e-3, 1.25e-3),  # differences 0.2, 0.2, 0.25: median 0.2
        (1.1e-3, 1.6e-3, 1.1e-3),
        (2.3e-3, 2.9e-3, 2.2e-3),  # differences 1.3, 1.4, 1.2: median 1.3
    )
    points = refill_points(rounds, (8e3, 3e6, 12e6, 28e6), (65,) * 4)
    assert [key for key, _ in points] == [8e3, 3e6, 12e6, 28e6]
    extras = [seconds for _, seconds in points]
    assert extras[0] == 0.0
    assert extras[1] == pytest.approx(0.2e-3 / 65)
    assert extras[2] == extras[1]  # never below a narrower width's
    assert extras[3] == pytest.approx(1.3e-3 / 65)


@given(
    st.lists(st.floats(0, 1e-2), min_size=2, max_size=6),
    st.lists(st.floats(1e3, 1e9), min_size=2, max_size=6, unique=True),
)
def test_calibration_points_are_a_valid_table(outside: list[float], keys: list[float]) -> None:
    n = min(len(outside), len(keys))
    keys = sorted(keys[:n])
    rounds = [(time, 2 * time) for time in outside[:n]]  # two rounds each
    points = refill_points(rounds, keys, (65,) * n)
    table = FrameworkRefill.model_validate({"points": points}, context={"si": True})
    extras = [seconds for _, seconds in table.points]
    assert extras[0] == 0.0 and all(e >= 0 for e in extras)
    assert extras == sorted(extras)


def test_the_calibrated_block_loads(tmp_path: Path) -> None:
    cal = measure_host(quick=True, threads=1)
    assert cal.framework_refill is not None and len(cal.framework_refill.points) == 2
    measured = RefillResult(((8e3, 0.0), (28e6, 18e-6)), "profiled forwards, by hand")
    text = calibration_yaml(replace(cal, framework_refill=measured))
    path = tmp_path / "host.yaml"
    path.write_text(text, encoding="utf-8")
    spec = load_hardware(path)
    assert spec.framework_refill is not None
    flat = [value for point in spec.framework_refill.points for value in point]
    assert flat == pytest.approx([8e3, 0.0, 28e6, 18e-6])
    assert "# source: measured by perfsim calibrate: profiled forwards, by hand" in text


def test_the_ideal_bound_drops_the_refill(traced: Callable[..., OpGraph]) -> None:
    graph = traced("bert-mini", batch=1, seq=32)
    bound = ideal_hardware(host())
    assert bound.framework_refill is None
    assert estimate_graph(graph, bound).latency_s < estimate_graph(graph, host()).latency_s
