"""``perfsim list models`` and ``perfsim list hw``: the built-in catalogs."""

from __future__ import annotations

import click

from perfsim.cli.options import format_option
from perfsim.cli.output import emit_records


@click.group(name="list")
def list_() -> None:
    """List built-in models or hardware."""


@list_.command(name="models")
@format_option()
def list_models(fmt: str) -> None:
    """Built-in models: layers, hidden, heads, FFN size, parameters."""
    from perfsim.api import model_catalog

    emit_records("models", model_catalog(), fmt)


@list_.command(name="hw")
@format_option()
def list_hw(fmt: str) -> None:
    """Built-in hardware: peak FLOP/s per dtype, memory bandwidth, on-chip memory."""
    from perfsim.api import hardware_catalog

    emit_records("hardware", hardware_catalog(), fmt)
