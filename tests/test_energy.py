"""Energy: node scaling, the default table, file overrides, and per-shipped-file sanity."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.energy import energy_prices, price
from perfsim.energy_defaults import MAC_ENERGY_45NM_J, sram_energy_per_byte_45nm
from perfsim.hardware import load_hardware
from perfsim.technology import energy_scale
from tests.conftest import HWCONFIGS
from tests.test_roofline import device, square_gemm


@pytest.mark.parametrize(
    ("node_nm", "factor"),
    [
        (45, 1.0),
        # HP7 at 0.9 V: 0.1776*0.81 - 0.09097*0.9 + 0.02447 = 0.086453;
        # HP45: 1.018*0.81 - 0.3107*0.9 + 0.1539 = 0.698850; ratio 0.12371
        (7, 0.086453 / 0.698850),
        # HP16: 0.2958*0.81 - 0.1241*0.9 + 0.03024 = 0.158148 → 0.22630
        (16, 0.158148 / 0.698850),
        (5, 0.086453 / 0.698850),  # clamped at the fit's 7 nm end
    ],
)
def test_energy_scale_follows_stillmaker_baas(node_nm: float, factor: float) -> None:
    assert energy_scale(node_nm * 1e-9) == pytest.approx(factor, rel=1e-4)


@given(st.floats(7, 180), st.floats(7, 180))
def test_smaller_nodes_never_cost_more_energy(a: float, b: float) -> None:
    small, large = sorted((a, b))
    assert energy_scale(small * 1e-9) <= energy_scale(large * 1e-9) + 1e-12


def test_sram_fit_matches_horowitz_points() -> None:
    # Horowitz ISSCC 2014: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ per 64-bit access
    assert sram_energy_per_byte_45nm(8 * 1024) == pytest.approx(10e-12 / 8)
    assert sram_energy_per_byte_45nm(32 * 1024) == pytest.approx(20e-12 / 8)
    assert sram_energy_per_byte_45nm(1 << 20) == pytest.approx(100e-12 / 8, rel=0.15)


def test_defaults_fill_what_a_file_leaves_out() -> None:
    hw = device(energy={"mac": {}, "vector_op": {}, "static_power": "0 W"}, technology_node="7 nm")
    prices = energy_prices(hw)
    scale = energy_scale(7e-9)
    assert prices.mac_j["fp32"] == pytest.approx(MAC_ENERGY_45NM_J["fp32"] * scale)
    # the test device gives its levels' energies: those are kept as they are
    assert prices.level_j_per_byte == {"sram": pytest.approx(1e-12), "dram": pytest.approx(10e-12)}


def test_file_entries_override_defaults() -> None:
    prices = energy_prices(device())
    assert prices.mac_j["fp32"] == pytest.approx(1e-12)  # the file's figure
    assert prices.mac_j["int8"] == pytest.approx(MAC_ENERGY_45NM_J["int8"])  # default at 45 nm


@pytest.mark.parametrize("path", sorted(HWCONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_breakdown_sums_to_total_for_every_shipped_file(path) -> None:
    hw = load_hardware(path)
    prices = energy_prices(hw)
    actions = {f"{level.name}.bytes": 1e6 for level in hw.memory}
    dtype = next(iter(hw.compute.matrix.macs_per_cycle)) if hw.compute.matrix else "fp32"
    actions[f"mac.{dtype}"] = 1e9
    breakdown = price(actions, 1e-3, prices)
    assert set(breakdown) == {"compute", "static", *(level.name for level in hw.memory)}
    assert all(value >= 0 for value in breakdown.values())
    assert breakdown["static"] == pytest.approx(hw.energy.static_power * 1e-3)


@settings(max_examples=40, deadline=None)
@given(st.integers(8, 512))
def test_gemm_energy_per_mac_between_mac_and_mac_plus_dram_fetches(size: int) -> None:
    from perfsim.energy import with_energy
    from perfsim.engines import available, get_cost_model

    hw = device(
        energy={"mac": {"fp32": "1 pJ"}, "vector_op": {"fp32": "0.5 pJ"}, "static_power": "0 W"}
    )
    prices = energy_prices(hw)
    op = square_gemm(size)
    for engine in available():
        cost = with_energy(get_cost_model(engine).op_cost(op, hw), prices)
        per_mac = cost.energy_j / op.macs
        # at least the MAC itself; at most the MAC plus every operand fetched through
        # every level (3 words of 4 bytes per MAC: A, B read and C written)
        worst = prices.mac_j["fp32"] + 3 * 4 * sum(prices.level_j_per_byte.values())
        assert prices.mac_j["fp32"] <= per_mac <= worst


@pytest.mark.parametrize("path", sorted(HWCONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
@pytest.mark.parametrize("size", [16, 128, 1024])
def test_shipped_gemm_energy_per_mac_is_bounded(path, size: int) -> None:
    from perfsim.energy import with_energy
    from perfsim.engines import available, get_cost_model
    from perfsim.ir import DTYPE_BITS
    from perfsim.precision import POLICIES, retype_op

    hw = load_hardware(path)
    prices = energy_prices(hw)
    op = retype_op(square_gemm(size), POLICIES[hw.native_precision])
    dtype = POLICIES[hw.native_precision].matrix_input
    element = DTYPE_BITS[dtype] / 8
    for engine in available():
        cost = with_energy(get_cost_model(engine).op_cost(op, hw), prices)
        dynamic = cost.energy_j - cost.energy_breakdown_j["static"]  # static is time, not MACs
        per_mac = dynamic / op.macs
        # at least the MAC; at most the MAC plus A, B and C moved through every level
        # (outputs may be wider than inputs: count every operand at 4 bytes at most)
        worst = prices.mac_j[dtype] + 3 * max(element, 4) * sum(prices.level_j_per_byte.values())
        assert prices.mac_j[dtype] * (1 - 1e-9) <= per_mac <= worst, engine
