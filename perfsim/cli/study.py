"""``perfsim study``: run a study and write its report and data."""

from __future__ import annotations

from pathlib import Path

import click

from perfsim.cli.options import cache_dir_option, graph_store, out_option
from perfsim.cli.output import step_bar
from perfsim.studies import STUDIES


@click.command()
@click.argument("name", type=click.Choice(list(STUDIES)))
@out_option("Folder for report.html, summary.md and one CSV per figure.", required=True)
@cache_dir_option
def study(name: str, out: Path, cache_dir: Path | None) -> None:
    """Run a study (perfsim/studies/) and write its report and data."""
    from perfsim.studies import write_study

    with step_bar(name) as update:
        paths = write_study(name, out, store=graph_store(cache_dir), progress=update)
    for path in paths:
        click.echo(str(path))
