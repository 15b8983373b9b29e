"""Shared fixtures: one graph cache per test session, shipped hardware, traced graphs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from perfsim.cache import GraphStore
from perfsim.hardware import HardwareSpec, load_hardware
from perfsim.ir import OpGraph
from perfsim.scenario import Scenario
from perfsim.workload import TrainingOptions, Workload, load_workload

# Property tests draw the same examples on every run (a hash of each test seeds them) and
# keep no example database: CI on a fresh clone sees exactly what a local run saw, and a
# counterexample found once is kept as an explicit test instead (test_systolic_scalesim).
settings.register_profile("perfsim", derandomize=True, database=None)
settings.load_profile("perfsim")

ROOT = Path(__file__).resolve().parent.parent
HWCONFIGS = ROOT / "hwconfigs"


def scenario(model: str | Path, **fields: Any) -> Scenario:
    """``scenario("bert-tiny", mode="training", optimizer="sgd")``: the training options
    (``head``, ``optimizer``, ``checkpointing``) gathered into a `TrainingOptions`."""
    options = {
        key: fields.pop(key) for key in ("head", "optimizer", "checkpointing") if key in fields
    }
    return Scenario(model, training=TrainingOptions(**options), **fields)


def workload(model: str | Path, **fields: Any) -> Workload:
    """The workload the tracer sees for `scenario`'s arguments."""
    return scenario(model, **fields).workload()


@pytest.fixture(scope="session")
def graph_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A graph cache folder private to this test session."""
    return tmp_path_factory.mktemp("graph-cache")


@pytest.fixture(scope="session")
def store(graph_cache: Path) -> GraphStore:
    """The session's graph store (in `graph_cache`)."""
    return GraphStore(graph_cache)


@pytest.fixture(scope="session")
def npu() -> HardwareSpec:
    return load_hardware(HWCONFIGS / "npu.yaml")


@pytest.fixture(scope="session")
def traced(store: GraphStore) -> Callable[..., OpGraph]:
    """``traced("bert-tiny", batch=1, seq=128)`` → fp32 graph, traced once per session."""

    def get(model: str, batch: int = 1, seq: int = 128) -> OpGraph:
        return store.graph(load_workload(model, batch=batch, seq=seq))

    return get
