"""`results/validation/scorecard.md` is what its script makes from the committed check files,
and the script's arithmetic is right on hand-made errors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "results" / "validation" / "scorecard.py"


@pytest.fixture(scope="module")
def scorecard():
    spec = importlib.util.spec_from_file_location("scorecard", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scorecard"] = module
    spec.loader.exec_module(module)
    return module


def test_committed_page_is_current(scorecard) -> None:
    """Regenerate after any change to a check file: `python results/validation/scorecard.py`."""
    assert scorecard.OUT.read_text(encoding="utf-8") == scorecard.render()


def test_spread_is_median_absolute_and_signed_worst(scorecard) -> None:
    # |e| = 0.05, 0.10, 0.30: median 10%; worst by magnitude is -0.30
    assert scorecard.spread([0.05, -0.30, 0.10]) == "10% / -30.0%"


def test_verdicts(scorecard) -> None:
    assert scorecard.verdict([0.149, -0.15], 0.15) == "met"
    assert scorecard.verdict([0.151], 0.15) == "missed"
    # median 0.10 <= 0.15 but worst 0.31 > 0.30
    assert scorecard.spread_verdict([0.05, 0.10, -0.31], 0.15, 0.30) == "missed"
    assert scorecard.spread_verdict([0.05, 0.10, -0.29], 0.15, 0.30) == "met"


def test_every_issue_check_is_on_the_page(scorecard) -> None:
    page = scorecard.render()
    for needle in (
        "TensorRT 8.4 A100 bert-large s384 b32 fp16",
        "TensorRT 8.4 t4, all 56 rows at batch >= 8",
        "eager fp32 BERT on the H200, batched",
        "training: lamb-bert-large-tpuv3-pod all (time to train)",
        "training: mlperf-v0.7-bert-tpuv3-32 seq512 (sequences/s)",
        "host-2threads-s13/roofline (17 cases)",
    ):
        assert needle in page, needle
