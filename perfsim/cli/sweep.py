"""``perfsim sweep`` and ``perfsim plot``: design-space sweeps and their plots.

All logic lives in `perfsim.sweep` and `perfsim.report.sweep_plots`.
"""

from __future__ import annotations

from pathlib import Path

import click

from perfsim.cli.options import cache_dir_option, graph_store, out_option
from perfsim.cli.output import console, points_bar

FASTEST_COLUMNS = [
    "point",
    "design",
    "latency_s",
    "energy_per_inference_j",
    "area_mm2",
    "on_chip_bytes",
]


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
@out_option("Results folder [default: results/<sweep name>].")
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
    from perfsim.report.sweep_plots import pareto_front
    from perfsim.report.tables import records_table
    from perfsim.sweep import Workers, load_sweep_spec, run_sweep
    from perfsim.sweep.output import write_plots
    from perfsim.sweep.pareto import DEFAULT_OBJECTIVES

    spec = load_sweep_spec(spec_path)
    store = graph_store(cache_dir)
    with points_bar(f"sweep {spec.name}") as update:
        outcome = run_sweep(
            spec,
            out_dir=out,
            workers=Workers(jobs, dask_address),
            store=store,
            progress=update,
        )
    assert outcome.out_dir is not None
    if not no_plots:
        write_plots(spec, outcome.frame, outcome.out_dir, store)
    frame = outcome.frame
    feasible = frame[frame["feasible"]]
    best = feasible.sort_values("latency_s").head(10)
    screen = console()
    screen.print(
        records_table(
            f"{spec.name}: {len(frame)} points ({outcome.computed} computed, "
            f"{outcome.reused} from earlier runs), {len(feasible)} meet the constraints; fastest",
            [
                {column: _short(row[column]) for column in FASTEST_COLUMNS}
                for row in best.to_dict("records")
            ],
            FASTEST_COLUMNS,
        )
    )
    if len(feasible):
        front = pareto_front(feasible, DEFAULT_OBJECTIVES)
        engines = feasible["engine"].nunique() if "engine" in feasible.columns else 1
        screen.print(
            f"Pareto front ({' x '.join(DEFAULT_OBJECTIVES)}"
            + (f", one per engine over {engines} engines" if engines > 1 else "")
            + f"): {int(front.sum())} of {len(feasible)} feasible designs"
        )
    screen.print(
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
@out_option("HTML file to write.", required=True)
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
