"""A golden per-op frame: bert-tiny, batch 1, seq 128, on the shipped NPU (bf16, roofline).

Any change in tracing, counting, precision or the roofline shows up here as a diff. After an
intended change, regenerate with::

    python -m tests.test_golden
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import perfsim
from tests.conftest import HWCONFIGS

GOLDEN = Path(__file__).resolve().parent / "golden" / "bert_tiny_npu.csv"
COLUMNS = [
    "op",
    "category",
    "layer",
    "macs",
    "flops",
    "bytes_read",
    "bytes_written",
    "vmem_bytes",
    "hbm_bytes",
    "compute_s",
    "latency_s",
    "bound",
    "energy_j",
]


def golden_frame(store: perfsim.GraphStore | None = None) -> pd.DataFrame:
    hw = perfsim.load_hardware(HWCONFIGS / "npu.yaml")
    result = perfsim.simulate(perfsim.Scenario("bert-tiny"), hw, store=store)
    return result.to_frame()[COLUMNS]


def test_bert_tiny_npu_matches_golden(store) -> None:
    expected = pd.read_csv(GOLDEN)
    actual = pd.read_csv(pd.io.common.StringIO(golden_frame(store).to_csv(index=False)))
    pd.testing.assert_frame_equal(actual, expected, rtol=1e-9, check_dtype=False)


if __name__ == "__main__":
    golden_frame().to_csv(GOLDEN, index=False)
