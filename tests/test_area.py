"""Die area (perfsim.area) and power figures: published die areas, hand-derived component
areas, invariants (hypothesis), and the fields they add to runs and sweeps."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.area import (
    area_breakdown,
    design_metrics,
    die_area,
    die_units,
    mac_area_m2,
    memory_interface_count,
    register_file_area_m2,
    sram_area_m2,
    storage_area_m2,
)
from perfsim.area.technology import logic_area_scale, sram_bitcell_m2
from perfsim.cli import main
from perfsim.engines.power import peak_power_w
from perfsim.errors import SpecError
from perfsim.hardware import available_hardware, load_hardware, resolve_hardware
from perfsim.sweep import override, run_sweep
from tests.published_die_areas import ACCELERATORS, EDGE_NPUS, GPUS_WITHIN_25, REPORTED

# ---- against published die areas ---------------------------------------------------------


@pytest.mark.parametrize("stem", sorted(ACCELERATORS))
def test_accelerator_area_within_25_percent_of_published(stem: str) -> None:
    published, what, source = ACCELERATORS[stem]
    predicted = area_breakdown(resolve_hardware(stem)).total_mm2
    assert abs(predicted / published - 1) <= 0.25, (stem, predicted, what, source)


def test_tpu_v1_and_v4i_land_where_the_readme_says() -> None:
    # the README table: TPU v1 290 mm^2 (-12 %), TPUv3 706 (+9 %), TPUv4i 326 (-18 %)
    assert area_breakdown(resolve_hardware("tpu-v1")).total_mm2 == pytest.approx(290.0, rel=0.01)
    assert area_breakdown(resolve_hardware("tpu-v3")).total_mm2 == pytest.approx(706.0, rel=0.01)
    assert area_breakdown(resolve_hardware("npu")).total_mm2 == pytest.approx(326.5, rel=0.01)


@pytest.mark.parametrize("stem", sorted(REPORTED))
def test_gpu_estimates_stay_below_the_die(stem: str) -> None:
    # the GPU files describe SMs (all of the die's, with register files), caches, HBM and
    # links, but no texture, raster or media engines: the estimate must come out smaller
    published = REPORTED[stem][0]
    predicted = area_breakdown(resolve_hardware(stem)).total_mm2
    assert 0.25 * published < predicted < published


@pytest.mark.parametrize("stem", sorted(GPUS_WITHIN_25))
def test_gpu_estimates_within_25_percent_where_the_readme_says(stem: str) -> None:
    published, what, source = REPORTED[stem]
    predicted = area_breakdown(resolve_hardware(stem)).total_mm2
    assert abs(predicted / published - 1) <= 0.25, (stem, predicted, what, source)


@pytest.mark.parametrize("stem", sorted(EDGE_NPUS))
def test_edge_npu_estimate_is_low_but_bounded(stem: str) -> None:
    # Exynos 2400 NPU: 7.19 mm^2 against 12 (-40 %): 17,408 int8 MACs at 85 um^2 (TPU v1's
    # PE scaled 28 -> 4 nm by Stillmaker & Baas, extrapolated below 7 nm) = 1.48 mm^2, 6 MiB
    # NPUMEM 3.97 mm^2; the GTE's other precisions and its Q-caches are not published
    published, what, source = EDGE_NPUS[stem]
    predicted = area_breakdown(resolve_hardware(stem)).total_mm2
    assert predicted == pytest.approx(7.19, rel=0.01)
    assert 0.5 * published < predicted < published, (stem, predicted, what, source)


def test_gpu_die_units_and_register_files_by_hand() -> None:
    # A100: 128 SMs on the GA100 die (108 enabled) -> per-SM blocks x 128 / 108
    a100 = resolve_hardware("a100")
    full = area_breakdown(a100).breakdown_mm2()
    enabled = area_breakdown(override(a100, "area.die_units", None)).breakdown_mm2()
    assert full["matrix"] / enabled["matrix"] == pytest.approx(128 / 108)
    assert full["l1"] / enabled["l1"] == pytest.approx(128 / 108)
    assert full["l2"] == enabled["l2"]  # shared, not per SM
    # register file: 128 SMs x 256 KiB, SRAM (256 KiB macros, efficiency 0.526) at 7 nm
    assert full["register_file"] == pytest.approx(128 * storage_area_m2(256 * 1024, 7e-9) / 1e-6)


def test_eyeriss_scratchpads_are_register_files() -> None:
    # 168 PEs x 520 B x 8 bit x 5.98 um^2 (Aladdin 40 nm register) x logic 65 nm / 40 nm
    # (1.5 / 0.7647 = 1.9616) = 8.198 mm^2; no memory interface inside the 3.5 mm core
    # (pads in the ring): total 14.52 mm^2 against 12.25 (+18.5 %)
    predicted = area_breakdown(resolve_hardware("eyeriss"))
    parts = predicted.breakdown_mm2()
    assert parts["spad"] == pytest.approx(8.198, rel=1e-3)
    assert parts["memory_interface"] == 0.0
    assert predicted.total_mm2 == pytest.approx(14.52, rel=0.01)


# ---- components, by hand ----------------------------------------------------------------


def test_logic_scaling_is_stillmaker_baas() -> None:
    assert logic_area_scale(45e-9) == 1.0
    assert logic_area_scale(7e-9) == 0.059
    assert logic_area_scale(16e-9) == 0.19
    # 28 nm between 32 nm (0.46) and 20 nm (0.21), linear in log-log:
    # 0.46 x (28/32)^(ln(0.21/0.46)/ln(20/32)) = 0.46 x 0.875^1.668 = 0.3680
    assert logic_area_scale(28e-9) == pytest.approx(0.3680, rel=1e-3)


def test_sram_bitcells_are_the_published_ones() -> None:
    assert sram_bitcell_m2(7e-9) == pytest.approx(0.027e-12)
    assert sram_bitcell_m2(28e-9) == pytest.approx(0.127e-12)
    assert sram_bitcell_m2(12e-9) == sram_bitcell_m2(16e-9)  # 12FFN is a 16FF derivative


def test_mac_area_anchor_and_precision_order() -> None:
    # TPU v1: Matrix Multiply Unit 24 % of 331 mm^2 over 65,536 MACs = 1212.2 um^2 at 28 nm
    assert mac_area_m2("int8", 28e-9) == pytest.approx(0.24 * 331e-6 / 65536)
    areas = [mac_area_m2(d, 7e-9) for d in ("int4", "int8", "bf16", "fp16", "fp32")]
    assert areas == sorted(areas) and len(set(areas)) == len(areas)
    # bf16 / int8 from Horowitz's 45 nm gates: (820 + 4184 + 5.98 x 80) / (282 + 137 +
    # 5.98 x 56) = 5482.4 / 753.9 = 7.272
    assert mac_area_m2("bf16", 28e-9) / mac_area_m2("int8", 28e-9) == pytest.approx(7.272, 1e-3)


def test_sram_area_per_mib_by_capacity_class() -> None:
    # TPU v1's Unified Buffer: 29 % of 331 mm^2 for 24 MiB = 3.999 mm^2/MiB at 28 nm
    assert sram_area_m2(24 * 2**20, 28e-9) == pytest.approx(0.29 * 331e-6)
    # at 7 nm the bitcell shrinks 0.027 / 0.127: 3.999 x 0.2126 = 0.8503 mm^2/MiB
    assert sram_area_m2(2**20, 7e-9) == pytest.approx(0.8503e-6, rel=1e-3)
    # a 32 KiB buffer is built of less efficient arrays: 0.602 / 0.393 = 1.532 x per byte
    small, large = sram_area_m2(32 * 1024, 7e-9), sram_area_m2(2**20, 7e-9)
    assert small * 32 / large == pytest.approx(0.602 / 0.393)


def test_storage_is_the_cheaper_of_sram_and_flip_flops() -> None:
    # 65 nm, 520 B: flip-flops 4160 x 5.98 um^2 x 1.9616 = 0.04880 mm^2; the SRAM macro at
    # the 4 KiB efficiency would cost more, so the register file is taken
    assert register_file_area_m2(520, 65e-9) == pytest.approx(0.04880e-6, rel=1e-3)
    assert storage_area_m2(520, 65e-9) == register_file_area_m2(520, 65e-9)
    assert sram_area_m2(520, 65e-9) > register_file_area_m2(520, 65e-9)
    # 64 KiB is an SRAM macro at any node
    for node in (65e-9, 28e-9, 7e-9):
        assert storage_area_m2(65536, node) == sram_area_m2(65536, node)


@settings(max_examples=40, deadline=None)
@given(capacity=st.floats(min_value=1, max_value=2**24), factor=st.floats(1.0, 64.0))
def test_storage_area_grows_with_capacity(capacity: float, factor: float) -> None:
    small, large = storage_area_m2(capacity, 16e-9), storage_area_m2(capacity * factor, 16e-9)
    assert 0 < small <= large * (1 + 1e-12)


def test_die_units_never_below_the_enabled_units() -> None:
    # a sweep raising A100's 108 SMs past the die's 128 grows the die with them
    a100 = resolve_hardware("a100")
    assert die_units(a100) == 128
    assert die_units(override(a100, "compute.units", 256)) == 256
    assert die_units(override(a100, "compute.units", 64)) == 128


def test_memory_interfaces_counted_from_bandwidth() -> None:
    # TPU v1: 34 GB/s of DDR3-2133 (17.06 GB/s per 64-bit channel) = 2 channels
    assert memory_interface_count(resolve_hardware("tpu-v1")) == 2
    # TPUv4i: 614 GB/s of HBM2 at 307.2 GB/s per stack = 2 stacks
    assert memory_interface_count(resolve_hardware("npu")) == 2
    # H100 (HBM3, 819.2 GB/s per stack): 3350 GB/s -> 5 stacks, as the whitepaper's five
    assert memory_interface_count(resolve_hardware("h100")) == 5


def test_breakdown_adds_up_and_uncore_is_23_percent() -> None:
    area = area_breakdown(resolve_hardware("npu"))
    parts = area.breakdown_mm2()
    assert sum(parts.values()) == pytest.approx(area.total_mm2)
    assert parts["uncore"] / area.total_mm2 == pytest.approx(0.23)
    assert set(parts) == {
        "matrix",
        "vector",
        "vmem",
        "extra_sram",
        "memory_interface",
        "interconnect",
        "uncore",
    }


# ---- invariants -------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)  # each example validates two specs
@given(
    small=st.sampled_from([8, 16, 32, 64, 128]),
    grow=st.sampled_from([1, 2, 4]),
)
def test_area_grows_with_macs(small: int, grow: int) -> None:
    base = resolve_hardware("npu")
    a = area_breakdown(override(override(base, "matrix.rows", small), "matrix.cols", small))
    big = small * grow
    b = area_breakdown(override(override(base, "matrix.rows", big), "matrix.cols", big))
    assert 0 < a.total_mm2 <= b.total_mm2


@settings(max_examples=40, deadline=None)  # each example validates two specs
@given(
    capacity=st.floats(min_value=1024, max_value=2**30),
    factor=st.floats(min_value=1.0, max_value=64.0),
)
def test_area_grows_with_sram_capacity(capacity: float, factor: float) -> None:
    base = resolve_hardware("npu")
    a = area_breakdown(override(base, "memory.sram.capacity", capacity))
    b = area_breakdown(override(base, "memory.sram.capacity", capacity * factor))
    assert 0 < a.total_mm2 <= b.total_mm2 * (1 + 1e-12)


@settings(max_examples=40, deadline=None)  # each example validates two specs
@given(
    bandwidth=st.floats(min_value=1e9, max_value=1e13),
    factor=st.floats(min_value=1.0, max_value=100.0),
)
def test_area_grows_with_dram_bandwidth(bandwidth: float, factor: float) -> None:
    base = resolve_hardware("npu")
    a = area_breakdown(override(base, "memory.dram.bandwidth", bandwidth))
    b = area_breakdown(override(base, "memory.dram.bandwidth", bandwidth * factor))
    assert 0 < a.total_mm2 <= b.total_mm2


# calibrated files: measured on a machine whose process node software cannot read
NO_AREA = {"host", "host-1thread", "h100-calibrated", "h200-calibrated"}


@pytest.mark.parametrize("stem", sorted(available_hardware()))
def test_every_shipped_file_has_a_positive_area_and_peak_power(stem: str) -> None:
    hw = resolve_hardware(stem)
    area = area_breakdown(hw)
    assert area.total_mm2 > 0 and all(v >= 0 for v in area.parts.values())
    assert (die_area(hw) is None) == (stem in NO_AREA)
    assert peak_power_w(hw) > hw.energy.static_power


def test_no_estimate_gives_no_area_and_no_perf_per_mm2() -> None:
    hw = resolve_hardware("h100-calibrated")
    row = {"latency_s": 1.0, "energy_j": 2.0, "throughput_samples_per_s": 8.0}
    metrics = design_metrics(hw, row)
    assert metrics["area_mm2"] is None and metrics["perf_per_mm2"] is None
    assert metrics["perf_per_w"] == pytest.approx(4.0)


# ---- power ------------------------------------------------------------------------------

POWER_FILE = """\
version: 1
name: power-check
kind: npu
technology_node: "7 nm"
native_precision: int8
compute:
  units: 2
  clock: "1 GHz"
  matrix: {type: systolic, rows: 10, cols: 10, dataflow: ws, macs_per_cycle: {int8: 100}}
  vector: {flops_per_cycle: {fp16: 8}}
memory:
  - {name: sram, capacity: "1 MiB", bandwidth: "100 GB/s", energy_per_byte: "1 pJ"}
  - {name: dram, capacity: "1 GiB", bandwidth: "10 GB/s", energy_per_byte: "20 pJ"}
energy:
  mac: {int8: "0.5 pJ"}
  vector_op: {fp16: "2 pJ"}
  operands: {int8: "0 J"}
  register_file: "0 J"
  instruction: "0 J"
  clock_share: 0
  static_power: "3 W"
tdp: "10 W"
"""


def test_peak_power_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "power-check.yaml"
    path.write_text(POWER_FILE, encoding="utf-8")
    hw = load_hardware(path)
    # static 3 W + MACs 2 x 100 x 1e9 x 0.5 pJ = 0.1 W + vector 2 x 8 x 1e9 x 2 pJ = 0.032 W
    # + sram 100e9 x 1 pJ = 0.1 W + dram 10e9 x 20 pJ = 0.2 W  = 3.432 W
    assert peak_power_w(hw) == pytest.approx(3.432)


def test_bad_area_block_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(POWER_FILE + "area: {memory_interface: hbm9}\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_hardware(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert "area.memory_interface" in message


# ---- runs and sweeps ----------------------------------------------------------------------


@pytest.fixture
def run_json(
    capsys: pytest.CaptureFixture[str], graph_cache: Path
) -> Callable[[str], dict[str, Any]]:
    def run(hw: str) -> dict[str, Any]:
        argv = ["run", "-m", "bert-tiny", "--hw", hw, "--seq", "32", "--format", "json"]
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main([*argv, "--cache-dir", str(graph_cache)])
        out, err = capsys.readouterr()
        assert done.value.code == 0, err
        result: dict[str, Any] = json.loads(out)
        return result

    return run


@pytest.mark.parametrize("stem", sorted(available_hardware()))
def test_run_json_has_area_for_every_shipped_file(
    stem: str, run_json: Callable[[str], dict[str, Any]]
) -> None:
    summary = run_json(stem)
    if stem in NO_AREA:
        assert summary["area_mm2"] is None and summary["area_breakdown_mm2"] is None
    else:
        assert isinstance(summary["area_mm2"], float) and summary["area_mm2"] > 0
        total = sum(summary["area_breakdown_mm2"].values())
        assert total == pytest.approx(summary["area_mm2"])
    average = summary["energy_j"] / summary["latency_s"]
    assert summary["average_power_w"] == pytest.approx(average)
    hw = resolve_hardware(stem)
    assert summary["tdp_w"] == hw.tdp
    assert summary["peak_power_w"] == pytest.approx(peak_power_w(hw))
    if hw.tdp is not None:  # the sustained clock keeps a run within its power limit
        assert summary["average_power_w"] <= hw.tdp * (1 + 1e-6)


def test_tdp_is_none_without_a_limit(run_json: Callable[[str], dict[str, Any]]) -> None:
    assert run_json("xeon-8380")["tdp_w"] is None


SWEEP = """\
version: 1
name: area-constraints
base: {model: bert-tiny, hw: npu, batch: 2, seq: 64}
axes:
  matrix.rows: [32, 128]
  matrix.cols: [32, 128]
  memory.dram.bandwidth: ["300 GB/s", "2.4 TB/s"]
zip: [[matrix.rows, matrix.cols]]
constraints:
  - "area_mm2 <= 350"
  - "peak_power_w <= 220 W"
  - "average_power_w < 175 W"
"""


def test_sweep_rows_and_constraints_on_area_and_power(tmp_path: Path, graph_cache: Path) -> None:
    from perfsim.cache import GraphStore

    path = tmp_path / "area.yaml"
    path.write_text(SWEEP, encoding="utf-8")
    frame = run_sweep(path, write=False, store=GraphStore(graph_cache)).frame
    expected = (
        (frame["area_mm2"] <= 350)
        & (frame["peak_power_w"] <= 220)
        & (frame["average_power_w"] < 175)
    )
    assert frame["feasible"].tolist() == expected.tolist()
    assert 0 < expected.sum() < len(frame)  # the budgets cut some designs, not all
    throughput = frame["throughput_samples_per_s"]
    assert (frame["perf_per_mm2"] == throughput / frame["area_mm2"]).all()
    assert frame["perf_per_w"].to_numpy() == pytest.approx(
        (throughput / frame["average_power_w"]).to_numpy()
    )
    for _, row in frame.iterrows():
        hw = override(
            override(
                override(resolve_hardware("npu"), "matrix.rows", row["matrix.rows"]),
                "matrix.cols",
                row["matrix.cols"],
            ),
            "memory.dram.bandwidth",
            row["memory.dram.bandwidth"],
        )
        assert row["area_mm2"] == pytest.approx(area_breakdown(hw).total_mm2)
        metrics = design_metrics(hw, row.to_dict())
        assert math.isclose(metrics["peak_power_w"], row["peak_power_w"])


HOST_SWEEP = """\
version: 1
name: host-area
base: {model: bert-tiny, hw: host, batch: 1, seq: 32}
axes:
  compute.clock: ["1 GHz", "2 GHz"]
constraints: ["area_mm2 <= 350"]
"""


def test_sweep_over_a_file_without_area(tmp_path: Path, graph_cache: Path) -> None:
    # no area: NaN in the table, an area budget is not met, the front leaves area out
    from perfsim.cache import GraphStore
    from perfsim.report.sweep_plots import pareto_front
    from perfsim.sweep.pareto import DEFAULT_OBJECTIVES

    path = tmp_path / "host.yaml"
    path.write_text(HOST_SWEEP, encoding="utf-8")
    frame = run_sweep(path, write=False, store=GraphStore(graph_cache)).frame
    assert frame["area_mm2"].isna().all() and frame["perf_per_mm2"].isna().all()
    assert not frame["feasible"].any()
    assert pareto_front(frame, DEFAULT_OBJECTIVES).tolist() == [False, True]  # 2 GHz wins
