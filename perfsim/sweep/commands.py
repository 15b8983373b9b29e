"""The ``perfsim sweep``, ``perfsim plot`` and ``perfsim compare`` commands: parsing and printing.

Registered on the main group by `perfsim.cli`; all logic lives in `perfsim.sweep`,
`perfsim.report.sweep_plots` and `perfsim.compare`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console

from perfsim.cli_options import cache_dir_option, format_option
from perfsim.precision import PRECISIONS
from perfsim.workload import MODES


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=max(Console().width, 120))


@contextmanager
def _points_bar(title: str) -> Iterator[Callable[[int, int], None]]:
    """A ``update(done, total)`` callback drawing a rich progress bar on stderr."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task(title, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@click.command()
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(path_type=Path))
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes [default: one per core for sweeps of 5000+ points, else 1].",
)
@click.option(
    "--dask", "dask_address", default=None, help="Dask scheduler address, e.g. tcp://host:8786."
)
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Results folder [default: results/<sweep name>].",
)
@click.option("--no-plots", is_flag=True, help="Write the table only.")
@cache_dir_option
def sweep(
    spec_path: Path,
    jobs: int | None,
    dask_address: str | None,
    out: Path | None,
    no_plots: bool,
    cache_dir: Path | None,
) -> None:
    """Run (or resume) a design-space sweep: one results table, plots and index.html."""
    from perfsim.report.tables import records_table
    from perfsim.sweep import load_sweep_spec, run_sweep
    from perfsim.sweep.output import write_plots

    spec = load_sweep_spec(spec_path)
    with _points_bar(f"sweep {spec.name}") as update:
        outcome = run_sweep(
            spec,
            out_dir=out,
            jobs=jobs,
            dask_address=dask_address,
            cache_dir=cache_dir,
            progress=update,
        )
    assert outcome.out_dir is not None
    if not no_plots:
        write_plots(spec, outcome.frame, outcome.out_dir, cache_dir)
    frame = outcome.frame
    feasible = frame[frame["feasible"]]
    console = _console()
    columns = ["point", "design", "latency_s", "energy_per_inference_j", "on_chip_bytes"]
    best = feasible.sort_values("latency_s").head(10)
    console.print(
        records_table(
            f"{spec.name}: {len(frame)} points ({outcome.computed} computed, "
            f"{outcome.reused} from earlier runs), {len(feasible)} meet the constraints; fastest",
            [
                {column: _short(row[column]) for column in columns}
                for row in best.to_dict("records")
            ],
            columns,
        )
    )
    console.print(
        f"wrote {outcome.out_dir}/results.parquet, results.csv, spec.yaml"
        + ("" if no_plots else ", index.html and plots")
    )


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@click.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--x", "x", default=None, help="Column on the x axis.")
@click.option("--y", "y", default=None, help="Column on the y axis.")
@click.option("--color", default=None, help="Column to color by (the metric of a heatmap).")
@click.option(
    "--kind",
    type=click.Choice(["line", "heatmap", "pareto", "breakdown"]),
    default="line",
    show_default=True,
)
@click.option("--feasible-only", is_flag=True, help="Drop designs that fail the constraints.")
@click.option(
    "--out", "-o", type=click.Path(path_type=Path), required=True, help="HTML file to write."
)
def plot(
    results: Path,
    x: str | None,
    y: str | None,
    color: str | None,
    kind: str,
    feasible_only: bool,
    out: Path,
) -> None:
    """Re-plot a sweep's results table (a folder, .parquet or .csv) as one HTML file."""
    from perfsim.report.files import write_outputs
    from perfsim.report.sweep_plots import figure_for
    from perfsim.sweep.store import read_table

    frame = read_table(results)
    if feasible_only and "feasible" in frame.columns:
        frame = frame[frame["feasible"].astype(bool)]
    figure = figure_for(frame, kind, x, y, color)
    write_outputs({out.name: figure.to_html(include_plotlyjs=True)}, out.parent)
    click.echo(f"wrote {out}")


@click.command()
@click.option("--model", "-m", "models", multiple=True, required=True, help="Repeatable.")
@click.option("--hw", "hws", multiple=True, required=True, help="Repeatable.")
@click.option("--batch", "-b", type=int, default=1, show_default=True)
@click.option("--seq", "-s", type=int, default=128, show_default=True)
@click.option("--mode", type=click.Choice(MODES), default="inference", show_default=True)
@click.option("--precision", "-p", type=click.Choice(PRECISIONS), default=None)
@click.option("--engine", "-e", default="roofline", show_default=True)
@format_option()
@click.option(
    "--out", "-o", type=click.Path(path_type=Path), default=None, help="Grouped bar chart (HTML)."
)
@cache_dir_option
def compare(
    models: tuple[str, ...],
    hws: tuple[str, ...],
    batch: int,
    seq: int,
    mode: str,
    precision: str | None,
    engine: str,
    fmt: str,
    out: Path | None,
    cache_dir: Path | None,
) -> None:
    """Run models on devices side by side: a table and a grouped bar chart."""
    from perfsim.compare import compare as run_compare
    from perfsim.compare import compare_chart, display_records

    frame = run_compare(
        list(models),
        list(hws),
        batch=batch,
        seq=seq,
        mode=mode,
        precision=precision,
        engine=engine,
        cache_dir=cache_dir,
    )
    if out is not None:
        from perfsim.report.files import write_outputs

        write_outputs({out.name: compare_chart(frame).to_html(include_plotlyjs=True)}, out.parent)
    if fmt == "json":
        click.echo(json.dumps(frame.to_dict("records"), indent=2))
    elif fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    else:
        from perfsim.report.tables import records_table

        records = display_records(frame)
        console = _console()
        console.print(
            records_table(f"{engine}, batch {batch}, seq {seq}", records, list(records[0]))
        )
        if out is not None:
            console.print(f"wrote {out}")


COMMANDS = (sweep, plot, compare)
