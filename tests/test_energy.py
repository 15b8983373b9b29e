"""Energy: node scaling, the default table, file overrides, and per-shipped-file sanity."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.energy.defaults import MAC_ENERGY_45NM_J, sram_energy_per_byte_45nm
from perfsim.energy.prices import energy_prices, price
from perfsim.energy.technology import energy_scale
from perfsim.hardware import load_hardware
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
    from perfsim.energy.prices import with_energy
    from perfsim.engines import get_cost_model
    from perfsim.precision import POLICIES, retype_op

    hw = load_hardware(path)
    prices = energy_prices(hw)
    actions = {f"{level.name}.bytes": 1e6 for level in hw.memory}
    dtype = next(iter(hw.compute.matrix.macs_per_cycle)) if hw.compute.matrix else "fp32"
    actions[f"mac.{dtype}"] = 1e9
    breakdown = price(actions, 1e-3, prices)
    core = {"compute", "operands", "issue", "clock"}
    assert set(breakdown) == {*core, "static", *(level.name for level in hw.memory)}
    assert all(value >= 0 for value in breakdown.values())
    assert breakdown["static"] == pytest.approx(hw.energy.static_power * 1e-3)
    # each component is its count times one price, and nothing else
    assert breakdown["compute"] == pytest.approx(1e9 * prices.mac_j[dtype])
    assert breakdown["operands"] == pytest.approx(1e9 * prices.mac_operands_j[dtype])
    assert breakdown["issue"] == pytest.approx(1e9 * prices.mac_issue_j[dtype])
    switching = breakdown["compute"] + breakdown["operands"] + breakdown["issue"]
    share = prices.clock_share
    assert breakdown["clock"] == pytest.approx(switching * share / (1 - share))
    for level in hw.memory:
        assert breakdown[level.name] == pytest.approx(1e6 * prices.level_j_per_byte[level.name])
    # an op's energy is the sum of its breakdown, on the file's own native precision
    op = retype_op(square_gemm(64), POLICIES[hw.native_precision])
    for engine in ("roofline", "cycle"):
        cost = with_energy(get_cost_model(engine).op_cost(op, hw), prices)
        assert cost.energy_j == pytest.approx(sum(cost.energy_breakdown_j.values()), rel=1e-12)
        assert cost.energy_breakdown_j["static"] == pytest.approx(
            hw.energy.static_power * cost.latency_s
        )


def test_vector_add_energy_on_npu_by_hand() -> None:
    from tests.test_roofline import cost, vector_add

    # hwconfigs/npu.yaml (7 nm TPUv4i-like): vector_op fp32 0.285 pJ, vmem 0.309 pJ/B,
    # hbm 31.2 pJ/B at 614 GB/s, static 55 W (all given by the file: no defaults used)
    result = cost(vector_add(1 << 20), load_hardware(HWCONFIGS / "npu.yaml"))
    # 1,048,576 fp32 adds, 2 x 4 MiB read + 4 MiB written = 12,582,912 B at both levels
    # latency: 12,582,912 B / 614e9 B/s = 20.49334 us (hbm-bound; compute 1,048,576 /
    # (512 x 4 units x 1.05 GHz) = 0.488 us, vmem 12,582,912 / 3225.6e9 = 3.90 us)
    assert result.latency_s == pytest.approx(20.49334e-6, rel=1e-6)
    # compute: 1,048,576 x 0.285 pJ = 298.844 nJ
    assert result.energy_breakdown_j["compute"] == pytest.approx(298.844e-9, rel=1e-5)
    # vmem: 12,582,912 x 0.309 pJ = 3.888120 uJ; hbm: 12,582,912 x 31.2 pJ = 392.5869 uJ
    assert result.energy_breakdown_j["vmem"] == pytest.approx(3.888120e-6, rel=1e-6)
    assert result.energy_breakdown_j["hbm"] == pytest.approx(392.5869e-6, rel=1e-6)
    # static: 55 W x 20.49334 us = 1127.134 uJ
    assert result.energy_breakdown_j["static"] == pytest.approx(1127.134e-6, rel=1e-6)
    # defaults (npu.yaml gives none): operands, 3 reads + 1 write of 4 B per FMA = 8 B per
    # FLOP x 1.25 pJ/B x 0.123708 = 1.237075 pJ -> 1.297167 uJ; issue, 70 pJ x 0.123708
    # x 1 slot / 512 FLOP per cycle = 0.0169131 pJ -> 17.7347 nJ; clock tree 0.32 / 0.68 x
    # (0.298844 + 1.297167 + 0.017735) uJ = 0.759410 uJ
    assert result.energy_breakdown_j["operands"] == pytest.approx(1.297167e-6, rel=1e-5)
    assert result.energy_breakdown_j["issue"] == pytest.approx(17.7347e-9, rel=1e-5)
    assert result.energy_breakdown_j["clock"] == pytest.approx(0.759410e-6, rel=1e-5)
    # total: 0.298844 + 3.888120 + 392.5869 + 1127.134 + 1.297167 + 0.017735 + 0.759410 uJ
    assert result.energy_j == pytest.approx(1525.982e-6, rel=1e-6)


def test_gemm_energy_from_the_default_table_by_hand() -> None:
    from tests.test_roofline import cost

    # the test device at 7 nm with no energies of its own: every price is a default
    hw = device(
        energy={"mac": {}, "vector_op": {}, "static_power": "2 W"},
        technology_node="7 nm",
        memory__0__energy_per_byte=None,
        memory__1__energy_per_byte=None,
    )
    result = cost(square_gemm(64), hw)
    scale = 0.086453 / 0.698850  # Stillmaker & Baas HP7 / HP45 at 0.9 V = 0.123707
    # 64^3 = 262,144 fp32 MACs x (3.7 + 0.9) pJ x 0.123707 = 262,144 x 0.569052 pJ
    #   = 149.174 nJ (Horowitz: fp32 multiply 3.7 pJ + add 0.9 pJ at 45 nm)
    assert result.energy_breakdown_j["compute"] == pytest.approx(
        262_144 * 4.6e-12 * scale, rel=1e-4
    )
    assert result.energy_breakdown_j["compute"] == pytest.approx(149.174e-9, rel=1e-4)
    # sram, 1 MiB: 1.25 pJ/B x sqrt(1 MiB / 8 KiB) = 1.25 x 11.3137 = 14.1421 pJ/B at
    # 45 nm x 0.123707 = 1.74949 pJ/B; 3 x 64 x 64 x 4 B = 49,152 B -> 85.991 nJ
    assert result.energy_breakdown_j["sram"] == pytest.approx(85.991e-9, rel=1e-4)
    # dram, the farthest level: 1.3 nJ per 64-bit access = 162.5 pJ/B, not node-scaled;
    # the 48 KiB problem fits the sram, so 49,152 B -> 7.9872 uJ
    assert result.energy_breakdown_j["dram"] == pytest.approx(7.9872e-6, rel=1e-9)
    # compute-bound: 524,288 FLOP / 32 GFLOP/s = 16.384 us; static 2 W x 16.384 us
    assert result.energy_breakdown_j["static"] == pytest.approx(32.768e-6, rel=1e-9)
    # operands (systolic, Sze et al. 2017): 4 register accesses at 1x the MAC each =
    # 4 x 0.569055 = 2.276218 pJ -> 596.697 nJ; issue: 70 pJ x 0.123708 x 1 slot / 16 MACs
    # per cycle = 0.541220 pJ -> 141.878 nJ; clock tree: 0.32 / 0.68 x (149.174 + 596.697 +
    # 141.878) nJ = 417.764 nJ
    assert result.energy_breakdown_j["operands"] == pytest.approx(596.697e-9, rel=1e-4)
    assert result.energy_breakdown_j["issue"] == pytest.approx(141.878e-9, rel=1e-4)
    assert result.energy_breakdown_j["clock"] == pytest.approx(417.764e-9, rel=1e-4)
    # total: 0.149174 + 0.085991 + 7.9872 + 32.768 + 0.596697 + 0.141878 + 0.417764 uJ
    assert result.energy_j == pytest.approx(42.146704e-6, rel=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.integers(8, 512))
def test_gemm_energy_per_mac_between_mac_and_mac_plus_dram_fetches(size: int) -> None:
    from perfsim.energy.prices import with_energy
    from perfsim.engines import available, get_cost_model

    hw = device(
        energy={"mac": {"fp32": "1 pJ"}, "vector_op": {"fp32": "0.5 pJ"}, "static_power": "0 W"}
    )
    prices = energy_prices(hw)
    op = square_gemm(size)
    for engine in available():
        cost = with_energy(get_cost_model(engine).op_cost(op, hw), prices)
        per_mac = cost.energy_j / op.macs
        # at least the MAC itself; at most the MAC with its delivery, issue and clock, plus
        # every operand fetched through every level (3 words of 4 bytes per MAC)
        worst = _core_per_mac(prices, "fp32") + 3 * 4 * sum(prices.level_j_per_byte.values())
        assert prices.mac_j["fp32"] <= per_mac <= worst


@pytest.mark.parametrize("path", sorted(HWCONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
@pytest.mark.parametrize("size", [16, 128, 1024])
def test_shipped_gemm_energy_per_mac_is_bounded(path, size: int) -> None:
    from perfsim.energy.prices import with_energy
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
        levels = sum(prices.level_j_per_byte.values())
        worst = _core_per_mac(prices, dtype) + 3 * max(element, 4) * levels
        assert prices.mac_j[dtype] * (1 - 1e-9) <= per_mac <= worst, engine


def _core_per_mac(prices, dtype: str) -> float:
    """A MAC's arithmetic, operand delivery and issue, with the clock tree's share."""
    switching = prices.mac_j[dtype] + prices.mac_operands_j[dtype] + prices.mac_issue_j[dtype]
    return switching / (1 - prices.clock_share)


def test_whole_core_mac_is_priced_as_measured_with_the_clock_share_carved_out() -> None:
    """A measured whole-core MAC (mac_whole_core) costs exactly the file's figure per MAC:
    no bottom-up operands or issue; the clock rule's 32% of it reported as ``clock``."""
    energy = {"mac": {"fp32": "2 pJ"}, "vector_op": {"fp32": "0.5 pJ"}, "static_power": "0 W"}
    bottom_up = energy_prices(device(energy=energy))
    measured = energy_prices(device(energy={**energy, "mac_whole_core": True}))
    assert bottom_up.mac_operands_j["fp32"] > 0  # the same file without the flag adds delivery
    assert measured.mac_j["fp32"] == pytest.approx(2e-12 * (1 - 0.32))
    assert measured.mac_operands_j["fp32"] == 0.0 and measured.mac_issue_j["fp32"] == 0.0
    parts = price({"mac.fp32": 1e6}, 0.0, measured)
    assert parts["compute"] + parts["clock"] == pytest.approx(1e6 * 2e-12)
    assert parts["clock"] == pytest.approx(1e6 * 2e-12 * 0.32)
    # vector work keeps the bottom-up delivery: the flag is about MACs alone
    assert measured.vector_operands_j == bottom_up.vector_operands_j
    # at a lower clock the measured figure scales like every on-chip action (ratio^2)
    slow = energy_prices(device(energy={**energy, "mac_whole_core": True}), clock_ratio=0.5)
    assert slow.mac_j["fp32"] == pytest.approx(measured.mac_j["fp32"] * 0.25)


def test_shipped_whole_core_parts_quote_the_measured_fp16_figure() -> None:
    """h100 / h200 / a100 carry Antepara et al.'s measured matrix fp16 energy, 2 FLOPs per
    MAC: GH200 0.52 pJ/FLOP, A100 0.70 pJ/FLOP, whole core."""
    for name, per_flop in {"h100": 0.52, "h200": 0.52, "a100": 0.70}.items():
        hw = load_hardware(HWCONFIGS / f"{name}.yaml")
        assert hw.energy.mac_whole_core
        prices = energy_prices(hw)
        assert _core_per_mac(prices, "fp16") == pytest.approx(2 * per_flop * 1e-12)


def test_a_measured_dvfs_exponent_replaces_the_v_proportional_to_f_rule() -> None:
    energy = {"mac": {"fp32": "2 pJ"}, "vector_op": {"fp32": "0.5 pJ"}, "static_power": "0 W"}
    rule = energy_prices(device(energy=energy), clock_ratio=0.25)
    measured = energy_prices(device(energy={**energy, "dvfs_exponent": 0.5}), clock_ratio=0.25)
    boost = energy_prices(device(energy=energy))
    assert rule.mac_j["fp32"] == pytest.approx(boost.mac_j["fp32"] * 0.25**2)
    assert measured.mac_j["fp32"] == pytest.approx(boost.mac_j["fp32"] * 0.25**0.5)
    assert measured.dvfs_exponent == 0.5 and rule.dvfs_exponent == 2.0
