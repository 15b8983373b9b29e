"""How a calibrated hardware file writes one line: ``key: value`` and its source comment."""

from __future__ import annotations

from typing import Final

from perfsim.units import format_quantity

MEASURED: Final = "# source: measured by perfsim calibrate: "
ASSUMED: Final = "# source: assumed: "
COMMENT_COLUMN: Final = 32
TECHNOLOGY_NODE: Final = "14 nm"  # a stated default; software cannot read the process node


def yaml_line(indent: int, key: str, value: str, comment: str = "") -> str:
    """``key: value`` at ``indent`` spaces, its comment from `COMMENT_COLUMN` on."""
    text = f"{' ' * indent}{key}: {value}" if value else f"{' ' * indent}{key}:"
    return f"{text:<{COMMENT_COLUMN - 1}} {comment}".rstrip() if comment else text


def rate_text(value: float, unit: str) -> str:
    """A measured rate as a source comment writes it (``207.3 GFLOP/s``, ``13.49 GB/s``)."""
    return format_quantity(value, unit)
