"""Speed-only changes to the sweep runner keep its observable behaviour.

- die area and peak power over many devices at once (`perfsim.area.batch`,
  `perfsim.engines.power_batch.peak_powers_w`) equal the scalar functions bit for bit,
  on every shipped hardware file and random designs of it, mixed in one call;
- `cached_energy_prices` keeps each spec's own prices (by object, then by key);
- `run_sweep` pauses the cyclic garbage collector while it runs and leaves it as it
  found it, enabled or not, also when the sweep fails.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.area import die_area
from perfsim.area.batch import die_areas_mm2
from perfsim.cache import GraphStore
from perfsim.energy.prices import cached_energy_prices, energy_prices
from perfsim.engines.power import peak_power_w
from perfsim.engines.power_batch import peak_powers_w
from perfsim.errors import PerfsimError
from perfsim.hardware import HardwareSpec
from perfsim.sweep import Workers, run_sweep
from perfsim.sweep.override import override_many
from tests.shipped_hardware import FILES, shipped

_base = shipped  # each shipped file loaded once


# a design: the file, scales of its nearest level's capacity, its DRAM bandwidth and its
# units (or a systolic array's rows)
_DESIGN = st.tuples(
    st.sampled_from(FILES), st.floats(0.01, 50.0), st.floats(0.01, 50.0), st.floats(0.2, 4.0)
)


def _design(design: tuple[str, float, float, float]) -> HardwareSpec:
    name, sram, dram, compute = design
    base = _base(name)
    values: dict[str, Any] = {
        "memory.sram.capacity": base.memory[0].capacity * sram,
        "memory.dram.bandwidth": base.dram.bandwidth * dram,
    }
    matrix = base.compute.matrix
    if matrix is not None and matrix.type == "systolic" and matrix.rows is not None:
        values["matrix.rows"] = max(1, round(matrix.rows * compute))
    else:
        values["compute.units"] = max(1, round(base.compute.units * compute))
    return override_many(base, values)


@settings(max_examples=40, deadline=None)
@given(designs=st.lists(_DESIGN, min_size=1, max_size=8))
def test_batched_area_and_peak_power_equal_the_scalar_ones(
    designs: list[tuple[str, float, float, float]],
) -> None:
    hws = [_design(design) for design in designs]
    areas = [None if (found := die_area(hw)) is None else found.total_mm2 for hw in hws]
    assert die_areas_mm2(hws) == areas  # every bit; None where the file has no estimate
    assert peak_powers_w(hws) == [peak_power_w(hw) for hw in hws]


def test_every_shipped_file_at_once() -> None:
    hws = [_base(name) for name in FILES]
    assert any(die_area(hw) is None for hw in hws)  # the scalar fallback is exercised
    assert die_areas_mm2(hws) == [
        None if (found := die_area(hw)) is None else found.total_mm2 for hw in hws
    ]
    assert peak_powers_w(hws) == [peak_power_w(hw) for hw in hws]


SPEC = """\
version: 1
name: gc
base: {model: bert-tiny, hw: npu, batch: 1, seq: 32}
axes:
  memory.dram.bandwidth: ["300 GB/s", "1.2 TB/s"]
"""


@pytest.mark.parametrize("enabled", [True, False])
def test_run_sweep_restores_the_collector(graph_cache: Path, tmp_path: Path, enabled: bool) -> None:
    path = tmp_path / "gc.yaml"
    path.write_text(SPEC, encoding="utf-8")
    seen: list[bool] = []
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        outcome = run_sweep(
            path,
            workers=Workers(jobs=1),
            write=False,
            store=GraphStore(graph_cache),
            progress=lambda done, total: seen.append(gc.isenabled()),
        )
        assert len(outcome.frame) == 2
        assert seen and not any(seen)  # paused while the points ran
        assert gc.isenabled() is enabled
        bad = tmp_path / "bad.yaml"
        bad.write_text(SPEC.replace("memory.dram.bandwidth", "memory.nowhere.x"), "utf-8")
        with pytest.raises(PerfsimError):
            run_sweep(bad, workers=Workers(jobs=1), write=False, store=GraphStore(graph_cache))
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


@settings(max_examples=20, deadline=None)
@given(designs=st.lists(_DESIGN, min_size=1, max_size=6))
def test_prices_cached_by_spec_are_each_specs_own(
    designs: list[tuple[str, float, float, float]],
) -> None:
    """The by-object cache of `cached_energy_prices` answers a spec's own prices, asked
    once or twice, whatever other specs were asked in between."""
    hws = [_design(design) for design in designs]
    for hw in [*hws, *reversed(hws)]:
        assert cached_energy_prices(hw) == energy_prices(hw)
