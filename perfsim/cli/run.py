"""``perfsim run``, ``perfsim trace`` and ``perfsim fit``: one scenario at a time."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import click

from perfsim.cli.options import (
    FORMATS,
    cache_options,
    engine_option,
    format_option,
    graph_store,
    hw_option,
    ideal_option,
    mode_option,
    model_option,
    out_option,
    parallel_options,
    precision_option,
    scenario_from_options,
    scenario_options,
    seq_lengths_options,
    seq_option,
    stack,
    training_options,
    whatif_options,
)
from perfsim.cli.output import console, echo_csv, echo_json

TRACE_COLUMNS = [
    "op",
    "category",
    "phase",
    "layer",
    "inputs",
    "outputs",
    "flops",
    "bytes_read",
    "bytes_written",
]


@click.command()
@scenario_options
@hw_option()
@precision_option()
@engine_option()
@ideal_option()
@format_option()
@out_option("Write ops.csv, summary.json and report.html here.")
@parallel_options
@whatif_options
def run(
    hw: str,
    engine: str,
    ideal: bool,
    fmt: str,
    out: Path | None,
    no_cache: bool,
    cache_dir: Path | None,
    **scenario: Any,
) -> None:
    """Estimate latency, memory traffic and energy of one model on one device (or a
    data-parallel training step on several)."""
    from perfsim.pipeline import run as run_scenario

    result = run_scenario(
        scenario_from_options(scenario),
        hw,
        engine=engine,
        store=graph_store(cache_dir, no_cache),
        ideal=ideal,
    )
    if out is not None:
        from perfsim.report.files import render_outputs, write_outputs

        write_outputs(render_outputs(result), out)
    summary = result.summary()
    if fmt == "json":
        echo_json(summary)
    elif fmt == "csv":
        echo_csv(result.to_frame())
    else:
        from perfsim.report.tables import summary_table

        screen = console()
        summary_table(summary, screen)
        if out is not None:
            screen.print(f"wrote {out}/ops.csv, summary.json, report.html")


@click.command()
@scenario_options
@format_option()
def trace(fmt: str, no_cache: bool, cache_dir: Path | None, **scenario: Any) -> None:
    """Dump the traced operator graph of a model (fp32; a training step in fp32)."""
    from perfsim.api import trace_graph

    graph = trace_graph(scenario_from_options(scenario), graph_store(cache_dir, no_cache))
    if fmt == "json":
        click.echo(graph.to_json())
        return
    from perfsim.api import graph_frame

    frame = graph_frame(graph)
    if fmt == "csv":
        echo_csv(frame)
        return
    from perfsim.report.tables import records_table

    screen = console()
    screen.print(
        records_table(
            f"{graph.meta.model}: {len(graph)} ops, {graph.meta.folded_ops} metadata ops folded",
            frame[TRACE_COLUMNS].to_dict("records"),
            TRACE_COLUMNS,
        )
    )
    if graph.meta.unsupported:
        screen.print(f"unsupported ops: {dict(graph.meta.unsupported)}")


@click.command()
@stack(
    model_option(),
    hw_option(),
    seq_option(),
    mode_option(default="training"),
    training_options,
    precision_option("[default: the hardware's native precision]"),
    seq_lengths_options,
    cache_options,
    format_option(FORMATS[:2]),
)
def fit(hw: str, fmt: str, no_cache: bool, cache_dir: Path | None, **scenario: Any) -> None:
    """Find the largest batch whose step fits in the device's memory.

    With --seq-lengths each batch tried is real sequences: a distribution draws the
    batch, a file's lengths repeat in one fixed shuffled order to fill it.
    """
    from perfsim.api import fit_batch
    from perfsim.training.fit import fit_message, fit_summary
    from perfsim.whatif.length_files import cycled_lengths

    chosen = scenario_from_options(scenario)
    spec = scenario.get("seq_lengths")
    lengths_at = None if spec is None else partial(cycled_lengths, spec)
    answer = fit_batch(chosen, hw, graph_store(cache_dir, no_cache), lengths_at)
    lengths = None
    if chosen.lengths is not None:
        lengths = {"spec": spec, "padding": chosen.lengths.padding}
    if fmt == "json":
        echo_json(
            fit_summary(
                answer,
                model=chosen.model_name,
                hw=hw,
                seq=chosen.seq,
                mode=chosen.mode,
                lengths=lengths,
            )
        )
    else:
        click.echo(fit_message(answer, model=chosen.model_name, hw=hw))
