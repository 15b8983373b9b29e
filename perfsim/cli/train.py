"""``perfsim train``: time and energy to train, schedule by schedule."""

from __future__ import annotations

from pathlib import Path

import click

from perfsim.cli.options import cache_options, engine_option, format_option, graph_store, out_option
from perfsim.cli.output import console, echo_csv, echo_json


@click.command()
@click.argument("schedules", nargs=-1, required=True, type=click.Path(path_type=Path))
@cache_options
@format_option()
@out_option("Write phases.csv, validation.csv, validation.md and training.json here.")
@engine_option(None, "Cost model for every schedule [default: each one's].")
def train(
    schedules: tuple[Path, ...],
    no_cache: bool,
    cache_dir: Path | None,
    fmt: str,
    out: Path | None,
    engine: str | None,
) -> None:
    """Time and energy to train: each SCHEDULE.yaml (e.g. workloads/schedules/*.yaml) phase by
    phase, with predicted vs published where the schedule gives published figures."""
    from perfsim.parallel.report import (
        comparison_frame,
        phases_frame,
        render_training_outputs,
        training_json,
    )
    from perfsim.parallel.schedule import load_schedule
    from perfsim.parallel.training_run import time_to_train

    store = graph_store(cache_dir, no_cache)
    runs = [time_to_train(load_schedule(path), engine=engine, store=store) for path in schedules]
    if out is not None:
        from perfsim.report.files import write_outputs

        command = "perfsim train " + " ".join(str(path) for path in schedules)
        command += f" --engine {engine}" if engine else ""
        write_outputs(render_training_outputs(runs, command), out)
    if fmt == "json":
        echo_json(training_json(runs))
    elif fmt == "csv":
        echo_csv(phases_frame(runs))
    else:
        from perfsim.report.tables import training_tables

        records = comparison_frame(runs).to_dict("records")
        training_tables([run.summary() for run in runs], records, console())
