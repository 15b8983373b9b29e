"""Options several ``perfsim`` commands share, written once (used by `perfsim.cli` and
`perfsim.sweep.commands`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

FORMATS: Final = ("table", "json", "csv")

cache_dir_option = click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Graph cache folder [default: ~/.cache/perfsim/graphs].",
)
no_cache_option = click.option(
    "--no-cache", is_flag=True, help="Trace again instead of using the cache."
)


def format_option(formats: tuple[str, ...] = FORMATS) -> Callable[[F], F]:
    """``--format/-f`` over ``formats``, default ``table``."""
    return click.option(
        "--format", "-f", "fmt", type=click.Choice(formats), default="table", show_default=True
    )
