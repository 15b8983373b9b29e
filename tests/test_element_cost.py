"""Measured element costs of vector ops (issue 13): both engines charge an op of a kind the
file measured ``elements x cost`` FLOPs of vector time; hand-derived examples, the schema's
check of kind names, and the calibrated block read back."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfsim.calibration import measure_host
from perfsim.calibration.emit import calibration_yaml
from perfsim.calibration.kernels import ELEMENT_KINDS
from perfsim.calibration.record import ElementCostResult
from perfsim.counting import ELEMENTWISE_KINDS, VECTOR_KINDS
from perfsim.engines import get_cost_model
from perfsim.engines.cycle.vector import ELEMENTWISE_SLOTS, SLOTS_PER_ELEMENT
from perfsim.engines.roofline_batch import structure
from perfsim.errors import SpecError
from perfsim.hardware import HardwareSpec, load_hardware
from perfsim.ir import Category, OpNode
from tests.test_roofline import DEVICE, device, vector_add

PEAK = 8e9  # the test device's fp32 vector FLOP/s (flops_per_cycle 8, 1 unit, 1 GHz)


def measured(**costs: float) -> HardwareSpec:
    data = {**DEVICE, "compute": {**DEVICE["compute"]}}
    data["compute"]["vector"] = {**DEVICE["compute"]["vector"], "element_cost": costs}
    return HardwareSpec.model_validate(data)


def gelu(elements: int) -> OpNode:
    """An fp32 erf GELU over ``elements`` values: 5 FLOPs each (`perfsim.counting`)."""
    add = vector_add(elements)
    return replace(
        add,
        name="gelu",
        category=Category.GELU,
        target="aten.gelu.default",
        inputs=add.inputs[:1],
        flops=5 * elements,
        bytes_read=4 * elements,
    )


def test_device_peak_is_what_the_examples_assume() -> None:
    assert device().vector_peak_flops("fp32") == PEAK


def test_roofline_charges_elements_times_the_measured_cost() -> None:
    op = gelu(1000)
    counted = get_cost_model("roofline").op_cost(op, device())
    priced = get_cost_model("roofline").op_cost(op, measured(gelu=12.5))
    assert counted.compute_s == pytest.approx(5 * 1000 / PEAK)
    assert priced.compute_s == pytest.approx(12.5 * 1000 / PEAK)  # 6.25 us
    assert priced.flops == op.flops  # the count stays the count
    other = get_cost_model("roofline").op_cost(op, measured(softmax=3.0))
    assert other.compute_s == counted.compute_s  # a kind not listed: counted FLOPs


def test_cycle_engine_charges_the_same_work_in_slots() -> None:
    op = gelu(1001)
    cost = get_cost_model("cycle").op_cost(op, measured(gelu=12.5))
    slots = math.ceil(12.5 * 1001 / 2)  # 2 FLOPs a slot
    assert cost.details["vector_slots"] == slots
    assert cost.details["compute_cycles"] == math.ceil(slots / 4)  # 8 FLOPs = 4 lanes, 1 unit


@given(elements=st.integers(1, 10**7), cost=st.floats(0.1, 50))
def test_cycle_engine_never_beats_the_roofline(elements: int, cost: float) -> None:
    hw = measured(gelu=cost)
    roofline = get_cost_model("roofline").op_cost(gelu(elements), hw)
    cycle = get_cost_model("cycle").op_cost(gelu(elements), hw)
    assert cycle.latency_s >= roofline.latency_s * (1 - 1e-12)


def test_kinds_are_the_tables_kinds() -> None:
    assert set(ELEMENTWISE_SLOTS) == ELEMENTWISE_KINDS
    assert set(SLOTS_PER_ELEMENT) | ELEMENTWISE_KINDS == VECTOR_KINDS
    assert set(ELEMENT_KINDS) <= VECTOR_KINDS


def test_an_unknown_kind_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="element_cost names no kind of vector op: \\['gleu'\\]"):
        measured(gleu=3.0)


def test_files_without_costs_dump_and_batch_as_before() -> None:
    assert "element_cost" not in device().model_dump()["compute"]["vector"]
    assert structure(measured(gelu=3.0)) is None


def test_the_calibrated_costs_read_back(tmp_path: Path) -> None:
    cal = measure_host(quick=True, threads=1)
    rates = tuple(float(10**8 * (i + 1)) for i in range(len(ELEMENT_KINDS)))
    cal = replace(cal, element_costs=ElementCostResult(1, ELEMENT_KINDS, rates, (512, 1024)))
    path = tmp_path / "host.yaml"
    path.write_text(calibration_yaml(cal), encoding="utf-8")
    spec = load_hardware(path)
    fp32 = spec.vector_peak_flops("fp32")
    costs = spec.compute.vector.element_cost
    assert costs is not None and set(costs) == set(ELEMENT_KINDS)
    for kind, rate in zip(ELEMENT_KINDS, rates, strict=True):
        assert costs[kind] == pytest.approx(fp32 / rate, rel=1e-5)


def test_a_bad_kind_in_a_file_is_a_one_line_spec_error(tmp_path: Path) -> None:
    text = Path("hwconfigs/npu.yaml").read_text(encoding="utf-8")
    assert "  vector:\n" in text
    bad = text.replace("  vector:\n", "  vector:\n    element_cost: {gleu: 3}\n", 1)
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(SpecError, match="element_cost"):
        load_hardware(path)
