"""``perfsim compare``: models on devices side by side (`perfsim.compare`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from perfsim.cli.options import (
    batch_option,
    cache_dir_option,
    engine_option,
    format_option,
    graph_store,
    hw_option,
    mode_option,
    model_option,
    out_option,
    precision_option,
    scenario_from_options,
    seq_option,
    stack,
)
from perfsim.cli.output import console, echo_csv, echo_json


@click.command()
@stack(
    model_option("Repeatable.", multiple=True),
    hw_option("Repeatable.", multiple=True),
    batch_option(None),
    seq_option(None),
    mode_option(),
    precision_option(None),
    engine_option(),
    format_option(),
    out_option("Grouped bar chart (HTML)."),
    cache_dir_option,
)
def compare(
    models: tuple[str, ...],
    hws: tuple[str, ...],
    engine: str,
    fmt: str,
    out: Path | None,
    cache_dir: Path | None,
    **scenario: Any,
) -> None:
    """Run models on devices side by side: a table and a grouped bar chart."""
    from perfsim.compare import compare as compare_models
    from perfsim.compare import compare_chart, display_records

    base = scenario_from_options({"model": models[0], **scenario})
    frame = compare_models(
        list(models), list(hws), base, engine=engine, store=graph_store(cache_dir)
    )
    if out is not None:
        from perfsim.report.files import write_outputs

        write_outputs({out.name: compare_chart(frame).to_html(include_plotlyjs=True)}, out.parent)
    if fmt == "json":
        echo_json(frame.to_dict("records"))
    elif fmt == "csv":
        echo_csv(frame)
    else:
        from perfsim.report.tables import records_table

        records = display_records(frame)
        screen = console()
        title = f"{engine}, batch {base.batch}, seq {base.seq}"
        screen.print(records_table(title, records, list(records[0])))
        if out is not None:
            screen.print(f"wrote {out}")
