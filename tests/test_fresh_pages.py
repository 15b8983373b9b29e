"""Fresh output pages: the allocator's share of an eager CPU op (issue 13).

Hand-derived: an output at or above the threshold costs ``bytes / bandwidth`` seconds,
serial with the kernel, in both engines; an in-place op, a fused intermediate and a file
without the block cost nothing. The calibration's reading of its fills is checked on
made-up timings, and its block round-trips through a loadable file.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfsim.calibration import measure_host
from perfsim.calibration.emit import calibration_yaml
from perfsim.calibration.fresh_pages import MIB, FreshPagesResult, fresh_pages
from perfsim.engines import get_cost_model
from perfsim.engines.allocation import fresh_output_s, writes_in_place
from perfsim.engines.roofline_batch import structure
from perfsim.hardware import HardwareSpec, load_hardware
from perfsim.hardware.ideal import ideal_hardware
from perfsim.ir import OpNode
from perfsim.scenario import Scenario
from perfsim.validation.validate import measured_scenario
from perfsim.workload import load_workload
from tests.test_roofline import DEVICE, device, vector_add

THRESHOLD = 32 * MIB
BANDWIDTH = 4e9  # bytes/s


def host(**changes: object) -> HardwareSpec:
    """The test device as a serial-overhead host with a fresh-pages block."""
    data = {**DEVICE, "op_overhead_serial": True}
    data["fresh_pages"] = {"threshold": "32 MiB", "bandwidth": "4 GB/s"}
    return HardwareSpec.model_validate({**data, **changes})


def big_add(elements: int = 16 * MIB) -> OpNode:
    """An fp32 add whose output is ``4 * elements`` bytes (64 MiB by default)."""
    return vector_add(elements)


def test_output_at_or_above_the_threshold_pays_bytes_over_bandwidth() -> None:
    hw = host()
    assert hw.fresh_pages_s(THRESHOLD) == pytest.approx(THRESHOLD / BANDWIDTH)
    assert hw.fresh_pages_s(THRESHOLD - 1) == 0.0
    assert fresh_output_s(big_add(), hw) == pytest.approx(64 * MIB / BANDWIDTH)  # 16.8 ms
    assert fresh_output_s(big_add(), device()) == 0.0  # no block: not modelled


def test_in_place_and_fused_outputs_allocate_nothing() -> None:
    hw = host()
    in_place = replace(big_add(), target="aten.add_.Tensor")
    assert writes_in_place(in_place) and not writes_in_place(big_add())
    assert fresh_output_s(in_place, hw) == 0.0
    kept_on_chip = replace(big_add(), bytes_written=0)  # a fused group's intermediate
    assert fresh_output_s(kept_on_chip, hw) == 0.0


@pytest.mark.parametrize("engine", ["roofline", "cycle"])
def test_both_engines_add_the_fresh_pages_to_the_kernel(engine: str) -> None:
    op = big_add()
    model = get_cost_model(engine)
    without = model.op_cost(op, replace_fresh(host(), None))
    with_pages = model.op_cost(op, host())
    assert with_pages.latency_s - without.latency_s == pytest.approx(64 * MIB / BANDWIDTH)
    assert with_pages.details["fresh_pages_s"] == pytest.approx(64 * MIB / BANDWIDTH)


def replace_fresh(hw: HardwareSpec, value: object) -> HardwareSpec:
    data = hw.model_dump()
    data["fresh_pages"] = value
    return HardwareSpec.from_si(data)


@given(elements=st.integers(1, 40 * MIB), bandwidth=st.floats(1e8, 1e11))
def test_cycle_engine_never_beats_the_roofline_with_fresh_pages(
    elements: int, bandwidth: float
) -> None:
    hw = host(fresh_pages={"threshold": "32 MiB", "bandwidth": f"{bandwidth} B/s"})
    op = vector_add(elements)
    roofline = get_cost_model("roofline").op_cost(op, hw)
    cycle = get_cost_model("cycle").op_cost(op, hw)
    assert cycle.latency_s >= roofline.latency_s * (1 - 1e-12)
    assert roofline.latency_s >= fresh_output_s(op, hw)


def test_files_with_fresh_pages_take_the_scalar_engine_in_sweeps() -> None:
    assert structure(host()) is None
    assert structure(device()) is not None


def test_the_ideal_bound_pays_no_page_faults() -> None:
    hw = host()
    ideal = ideal_hardware(hw)
    assert ideal.fresh_pages is None
    model = get_cost_model("roofline")
    assert model.op_cost(big_add(), ideal).latency_s < model.op_cost(big_add(), hw).latency_s


def test_a_file_without_the_block_dumps_as_before() -> None:
    assert "fresh_pages" not in device().model_dump()
    assert host().model_dump()["fresh_pages"] == {"threshold": THRESHOLD, "bandwidth": BANDWIDTH}


def test_threshold_is_the_first_size_from_which_every_size_pays() -> None:
    sizes = (8 * MIB, 16 * MIB, 32 * MIB, 64 * MIB)
    kept = tuple(size / 20e9 for size in sizes)  # a 20 GB/s fill
    extra = (0.0, 1e-3, 32 * MIB / 4e9, 64 * MIB / 5e9)  # 16 MiB pays a little only
    result = fresh_pages(sizes, [k + e for k, e in zip(kept, extra, strict=True)], kept)
    assert result.threshold == 32 * MIB
    assert result.bandwidth == pytest.approx(4.5e9)  # median of 4 and 5 GB/s
    nothing = fresh_pages(sizes, kept, kept)
    assert nothing.threshold is None and nothing.bandwidth is None


def test_a_boundary_between_the_sizes_is_glibcs_largest_threshold() -> None:
    # 16 MiB pays nothing, 64 MiB pays: glibc's 32 MiB lies between them
    sizes = (8 * MIB, 16 * MIB, 64 * MIB)
    kept = tuple(size / 20e9 for size in sizes)
    fresh = (kept[0], kept[1], kept[2] + 64 * MIB / 4e9)
    result = fresh_pages(sizes, fresh, kept)
    assert result.threshold == 32 * MIB and result.bandwidth == pytest.approx(4e9)
    assert "DEFAULT_MMAP_THRESHOLD_MAX" in result.how
    # another allocator that maps from 8 MiB on: the smallest paying size
    everywhere = tuple(k + size / 4e9 for k, size in zip(kept, sizes, strict=True))
    assert fresh_pages(sizes, everywhere, kept).threshold == 8 * MIB


def test_the_calibrated_block_loads(tmp_path: Path) -> None:
    cal = measure_host(quick=True, threads=1)
    assert cal.fresh_pages is not None and cal.fresh_pages.threshold is None  # quick: not measured
    assert "fresh_pages" not in calibration_yaml(cal)
    measured = FreshPagesResult(32 * MIB, 4.2e9, "fills, by hand")
    text = calibration_yaml(replace(cal, fresh_pages=measured))
    path = tmp_path / "host.yaml"
    path.write_text(text, encoding="utf-8")
    spec = load_hardware(path)
    assert spec.fresh_pages is not None
    assert spec.fresh_pages.threshold == 32 * MIB
    assert spec.fresh_pages.bandwidth == pytest.approx(4.2e9)
    assert "# source: measured by perfsim calibrate: fills, by hand" in text


def test_validation_costs_the_attention_backend_it_measures() -> None:
    scenario = Scenario.from_workload(load_workload("bert-tiny", batch=1, seq=32))
    fused = measured_scenario(scenario, "auto")
    traced = measured_scenario(scenario, "math")
    assert fused.runtime == traced.runtime == "eager"
    assert fused.whatifs.fusion == ("attention",)
    assert not traced.whatifs.fusion
