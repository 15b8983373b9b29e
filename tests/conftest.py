"""Shared fixtures: one graph cache per test session, shipped hardware, traced graphs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from perfsim.cache import get_graph
from perfsim.hardware import HardwareSpec, load_hardware
from perfsim.ir import OpGraph
from perfsim.workload import load_workload

ROOT = Path(__file__).resolve().parent.parent
HWCONFIGS = ROOT / "hwconfigs"


@pytest.fixture(scope="session")
def graph_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A graph cache folder private to this test session."""
    return tmp_path_factory.mktemp("graph-cache")


@pytest.fixture(scope="session")
def npu() -> HardwareSpec:
    return load_hardware(HWCONFIGS / "npu.yaml")


@pytest.fixture(scope="session")
def traced(graph_cache: Path) -> Callable[..., OpGraph]:
    """``traced("bert-tiny", batch=1, seq=128)`` → fp32 graph, traced once per session."""

    def get(model: str, batch: int = 1, seq: int = 128) -> OpGraph:
        workload = load_workload(model, batch=batch, seq=seq)
        graph = get_graph(workload, cache_dir=graph_cache)
        return OpGraph(graph.ops, {**graph.meta, "model": workload.model.name})

    return get
