"""Speed-only changes to the sweep runner keep its observable behaviour.

- `run_sweep` pauses the cyclic garbage collector while it runs and leaves it as it
  found it, enabled or not, also when the sweep fails.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from perfsim.cache import GraphStore
from perfsim.errors import PerfsimError
from perfsim.sweep import Workers, run_sweep

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
