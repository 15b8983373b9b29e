"""Printing for the ``perfsim`` commands: the console, progress bars, records and JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

if TYPE_CHECKING:
    import pandas as pd


def console() -> Console:
    """The stdout console tables are printed on (at least 120 columns wide)."""
    return Console(highlight=False, soft_wrap=False, width=max(Console().width, 120))


def echo_json(value: Any) -> None:
    """One JSON document on stdout."""
    click.echo(json.dumps(value, indent=2))


def echo_csv(frame: pd.DataFrame) -> None:
    """A table as CSV on stdout."""
    click.echo(frame.to_csv(index=False), nl=False)


def print_records(title: str, records: Sequence[dict[str, Any]], columns: list[str]) -> None:
    """A titled table of ``records`` on the console."""
    from perfsim.report.tables import records_table

    console().print(records_table(title, records, columns))


def emit_records(title: str, records: list[dict[str, Any]], fmt: str) -> None:
    """``records`` as JSON, CSV or a titled table."""
    if fmt == "json":
        echo_json(records)
        return
    if fmt == "csv":
        import pandas as pd

        echo_csv(pd.DataFrame(records))
        return
    print_records(title, records, list(records[0]) if records else [])


@contextmanager
def progress_bar(title: str) -> Iterator[Callable[[str, float | None], None]]:
    """A progress callback ``update(step, fraction)`` drawn on stderr (nothing when piped),
    with the time elapsed, as `points_bar` draws a sweep's."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(title, total=1.0)

        def update(step: str, fraction: float | None) -> None:
            bar.update(
                task,
                description=f"{title}: {step}",
                completed=fraction if fraction is not None else None,
            )

        yield update


@contextmanager
def step_bar(title: str) -> Iterator[Callable[[str], None]]:
    """`progress_bar` for callers that report steps only: ``update(step)``."""
    with progress_bar(title) as update:
        yield lambda step: update(step, None)


@contextmanager
def points_bar(title: str) -> Iterator[Callable[[int, int], None]]:
    """A ``update(done, total)`` callback drawing a rich progress bar on stderr."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    err = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task(title, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
