"""The shipped hardware files, each loaded once per test session (property tests ask for
the same file hundreds of times)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from perfsim.hardware import HardwareSpec, load_hardware

HWCONFIGS = Path(__file__).resolve().parent.parent / "hwconfigs"
FILES = tuple(sorted(path.stem for path in HWCONFIGS.glob("*.yaml")))


@cache
def shipped(name: str) -> HardwareSpec:
    """``hwconfigs/<name>.yaml``, validated (specs are frozen, so sharing one is safe)."""
    return load_hardware(HWCONFIGS / f"{name}.yaml")
