"""The public API: everything in __all__ exists, and the README's five lines work."""

from __future__ import annotations

import perfsim
from tests.conftest import HWCONFIGS


def test_all_names_exist() -> None:
    for name in perfsim.__all__:
        assert getattr(perfsim, name) is not None, name


def test_readme_library_example(store) -> None:
    scenario = perfsim.Scenario("bert-tiny", batch=2, seq=32)
    result = perfsim.simulate(scenario, HWCONFIGS / "npu.yaml", store=store)
    assert result.summary()["latency_s"] > 0
    assert 0 < result.by_category()["gemm"]["share"] < 1
    assert len(result.to_frame()) == result.summary()["n_ops"]
    assert set(result.by_module(depth=1)) >= {"embeddings", "encoder"}
    assert result.unsupported() == {}
    # an already-resolved workload costs the same through perfsim.estimate
    workload = perfsim.load_workload("bert-tiny", batch=2, seq=32)
    hw = perfsim.load_hardware(HWCONFIGS / "npu.yaml")
    assert perfsim.estimate(workload, hw, store=store).summary() == result.summary()
