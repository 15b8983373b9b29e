"""The sweep's memo caches give what the uncached functions give, to the bit.

Fold geometry and write timelines (`perfsim.engines.cycle`), node scalings
(`perfsim.area.technology`) and energy prices (`perfsim.energy.prices`) are cached for
sweeps of thousands of devices; each cached answer must equal a fresh computation.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.area import design_metrics
from perfsim.area.model import _mac_areas_m2
from perfsim.area.technology import logic_area_scale, sram_bitcell_m2
from perfsim.energy.prices import cached_energy_prices, energy_prices, price
from perfsim.engines.cycle import folds as fold_module
from perfsim.engines.cycle import memory
from perfsim.engines.cycle.folds import SystolicArray, dataflow_mapping, fold_mapping
from perfsim.engines.cycle.systolic import gemm_cycles
from perfsim.engines.power import peak_power_w
from perfsim.hardware import HardwareSpec, available_hardware, resolve_hardware
from perfsim.sweep import override_many


def _fresh_caches() -> None:
    for cached in (
        fold_mapping,
        dataflow_mapping,
        memory._shared_timeline,
        fold_module._geometry_fetches,
    ):
        cached.cache_clear()


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 700),
    n=st.integers(1, 700),
    k=st.integers(1, 700),
    rows=st.integers(2, 64),
    cols=st.integers(2, 64),
    dataflow=st.sampled_from(["os", "ws", "is"]),
    sram=st.integers(64, 1 << 16),
    bandwidth=st.floats(0.25, 64.0),
)
def test_cached_fold_geometry_gives_the_uncached_report(
    m: int, n: int, k: int, rows: int, cols: int, dataflow: str, sram: int, bandwidth: float
) -> None:
    array = SystolicArray(rows, cols, dataflow, sram, sram, sram, 1.0, bandwidth)  # type: ignore[arg-type]
    _fresh_caches()
    fresh = gemm_cycles(m, n, k, array)
    warm = gemm_cycles(m, n, k, array)  # every cache hit
    assert warm == fresh
    # a second device of the same geometry (other buffers and bandwidth) reuses it
    other = SystolicArray(rows, cols, dataflow, sram * 3, sram, sram * 2, 1.0, bandwidth / 3)  # type: ignore[arg-type]
    shared = gemm_cycles(m, n, k, other)
    _fresh_caches()
    assert shared == gemm_cycles(m, n, k, other)


def test_shared_timeline_equals_a_fresh_one() -> None:
    folds = fold_mapping(dataflow_mapping("ws", 300, 200, 100), 32, 16)
    fresh = memory._write_timeline(folds.mapping.ofmap, folds)
    assert memory._shared_timeline(folds.mapping.ofmap, folds.mapping, 32, 16) == fresh


def test_shared_fold_arrays_are_read_only() -> None:
    folds = fold_mapping(dataflow_mapping("os", 100, 100, 100), 16, 16)
    for array in (folds.row_used, folds.col_used, folds.fold_rows(), folds.fold_cols()):
        with pytest.raises(ValueError):
            array[0] = 0
    assert np.array_equal(folds.fold_rows(), np.tile(folds.row_used, folds.nc))
    assert np.array_equal(folds.fold_cols(), np.repeat(folds.col_used, folds.nr))


@pytest.mark.parametrize("node_m", [3e-9, 4e-9, 7e-9, 12e-9, 28e-9, 40e-9, 65e-9, 250e-9])
def test_cached_node_scalings_equal_fresh_ones(node_m: float) -> None:
    assert logic_area_scale(node_m) == logic_area_scale.__wrapped__(node_m)
    assert sram_bitcell_m2(node_m) == sram_bitcell_m2.__wrapped__(node_m)
    assert dict(_mac_areas_m2(node_m)) == dict(_mac_areas_m2.__wrapped__(node_m))


@pytest.mark.parametrize("name", ["npu", "a100", "tpu-v1"])
def test_cached_prices_and_design_metrics_equal_fresh_ones(name: str) -> None:
    base = resolve_hardware(name)
    row = {"energy_j": 0.5, "latency_s": 0.01, "throughput_samples_per_s": 100.0}
    for capacity in ("1 MiB", "3 MiB", "1 MiB"):  # the last one a cache hit
        path = f"memory.{base.memory[0].name}.capacity"
        hw = override_many(base, {path: capacity})
        assert cached_energy_prices(hw) == energy_prices(hw)
        first = design_metrics(hw, row)
        logic_area_scale.cache_clear()
        sram_bitcell_m2.cache_clear()
        _mac_areas_m2.cache_clear()
        assert design_metrics(hw, row) == first


def _peak_power_reference(hw: HardwareSpec) -> float:
    """`peak_power_w` as written before its caches: `price` for every action."""
    prices = energy_prices(hw)
    units, clock = hw.compute.units, hw.compute.clock

    def watts(actions: dict[str, float]) -> float:
        parts = price(actions, 1.0, prices)
        return sum(parts.values()) - parts["static"]

    matrix = hw.compute.matrix
    matrix_w = (
        max(
            (watts({f"mac.{d}": n * units * clock}) for d, n in matrix.macs_per_cycle.items()),
            default=0.0,
        )
        if matrix is not None
        else 0.0
    )
    vector_w = max(
        watts({f"vector.{d}": n * units * clock})
        for d, n in hw.compute.vector.flops_per_cycle.items()
    )
    memory = {
        f"{level.name}.bytes": level.bandwidth * (units if level.per_unit else 1)
        for level in hw.memory
    }
    return prices.static_power_w + matrix_w + vector_w + watts(memory)


@pytest.mark.parametrize("name", available_hardware())
def test_cached_peak_power_equals_the_uncached_one(name: str) -> None:
    base = resolve_hardware(name)
    for scale in (1.0, 2.0, 1.0):  # the last one all cache hits
        hw = override_many(base, {"compute.clock": base.compute.clock * scale})
        assert peak_power_w(hw) == _peak_power_reference(hw)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("epoch", [1, 50, 700, 5000, 2**62])
def test_cached_fetches_equal_fresh_ones(dataflow: str, epoch: int) -> None:
    mapping = dataflow_mapping(dataflow, 130, 70, 90)  # type: ignore[arg-type]
    folds = fold_mapping(mapping, 16, 8)
    for role in ("tile", "row", "col"):
        got = fold_module.dram_fetches(role, folds, epoch)  # type: ignore[arg-type]
        t = mapping.t
        if role == "tile":
            want = np.tile(folds.row_used, folds.nc) * np.repeat(folds.col_used, folds.nr)
        elif role == "row":
            blocks = folds.row_used * t
            want = (
                np.concatenate([blocks, np.zeros(folds.count - folds.nr, dtype=np.int64)])
                if blocks.sum() < epoch
                else np.tile(blocks, folds.nc)
            )
        else:
            want = fold_module._repeat_fetches(folds.col_used * t, folds.nr, epoch)
        assert np.array_equal(got, want)
