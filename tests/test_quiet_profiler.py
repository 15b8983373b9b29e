"""torch.profiler regions that calibration and validation open print nothing to stderr."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROFILE_TWICE = """
import torch
from torch.profiler import ProfilerActivity
from perfsim.validation.profiled import quiet_profile

x = torch.ones(8, 8)
for _ in range(2):
    with quiet_profile([ProfilerActivity.CPU]):
        x @ x
"""


def _stderr_of(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stderr


def test_quiet_profile_prints_nothing_where_the_plain_profiler_prints() -> None:
    plain = PROFILE_TWICE.replace(
        "quiet_profile([ProfilerActivity.CPU])", "torch.profiler.profile()"
    )
    if "profiler_start" not in _stderr_of(plain):
        pytest.skip("this torch's libkineto prints nothing at its default level")
    assert _stderr_of(PROFILE_TWICE) == ""
