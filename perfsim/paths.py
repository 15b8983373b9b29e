"""Where the built-in data folders live (``workloads/`` and ``hwconfigs/`` at the top level)."""

from __future__ import annotations

from pathlib import Path

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def builtin_dir(name: str) -> Path | None:
    """The top-level folder ``name`` of this checkout, else of the working directory."""
    for root in (_PROJECT_ROOT, Path.cwd()):
        folder = root / name
        if folder.is_dir():
            return folder
    return None
