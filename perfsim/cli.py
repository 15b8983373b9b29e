"""The ``perfsim`` command: parsing and printing only, over the library API.

Bad input ends with one line ``ErrorType: message`` on stderr and exit status 2; an
internal failure with one line and exit status 1; never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from perfsim.cli_options import FORMATS, cache_dir_option, format_option, no_cache_option
from perfsim.errors import PerfsimError
from perfsim.precision import PRECISIONS
from perfsim.workload import HEADS, MODES, OPTIMIZERS


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=max(Console().width, 120))


def _scenario_options(func: Any) -> Any:
    options = [
        click.option(
            "--model",
            "-m",
            "model",
            required=True,
            help="Built-in name (perfsim list models), workload YAML or HF config.json.",
        ),
        click.option("--batch", "-b", type=int, default=1, show_default=True, help="Batch size."),
        click.option(
            "--seq",
            "-s",
            type=int,
            default=128,
            show_default=True,
            help="Sequence length (tokens).",
        ),
        click.option("--mode", type=click.Choice(MODES), default="inference", show_default=True),
        click.option(
            "--head",
            type=click.Choice(HEADS),
            default="pretraining",
            show_default=True,
            help="Training: the loss's head (masked-LM + next sentence, classifier, SQuAD span).",
        ),
        click.option(
            "--optimizer",
            type=click.Choice(OPTIMIZERS),
            default=None,
            help="Training optimizer [default: lamb for pretraining, adamw for fine-tuning].",
        ),
        click.option(
            "--checkpointing",
            is_flag=True,
            help="Training: recompute each layer in backward instead of keeping activations.",
        ),
        no_cache_option,
        cache_dir_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _whatif_options(func: Any) -> Any:
    """``--whatif KEY=VALUE`` (repeatable), ``--seq-lengths`` and ``--padding`` of ``run``."""
    options = [
        click.option(
            "--whatif",
            "whatif",
            multiple=True,
            metavar="KEY=VALUE",
            help="What-if knob, repeatable: fusion=all, pim=true, quant=w4a8, prune_heads=0.25, "
            "prune_ffn=0.5, sparsity=2:4, low_rank=64, instances=4 (README: What-if knobs).",
        ),
        click.option(
            "--seq-lengths",
            "seq_lengths",
            default=None,
            help="Real lengths of the batch: a text/CSV/JSON file, uniform:MIN-MAX or "
            "normal:MEAN,STD,MAX (--batch draws, seed 0; @SEED to change).",
        ),
        click.option(
            "--padding",
            type=click.Choice(["padded", "packed"]),
            default="padded",
            show_default=True,
            help="With --seq-lengths: pad to the longest (or to --seq if given), or run unpadded.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _whatif_arguments(
    whatif: tuple[str, ...], seq_lengths: str | None, padding: str, batch: int
) -> dict[str, Any]:
    """run_estimate's what-if and length arguments ({} when none are given)."""
    extra: dict[str, Any] = {}
    if whatif:
        from perfsim.whatif import parse_assignments

        extra["whatifs"] = parse_assignments(whatif)
    if seq_lengths is not None:
        from perfsim.whatif.lengths import parse_lengths

        source = click.get_current_context().get_parameter_source("seq")
        explicit_seq = source == click.core.ParameterSource.COMMANDLINE
        extra["seq_lengths"] = parse_lengths(seq_lengths, batch)
        extra["padding"] = padding
        extra["pad_to"] = click.get_current_context().params["seq"] if explicit_seq else None
    return extra


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@click.version_option(package_name="perfsim")
def cli(verbose: bool) -> None:
    """perfsim: how fast, how much traffic and how much energy would a BERT model take on
    this hardware — and why."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@cli.command()
@_scenario_options
@click.option(
    "--hw", "hw", required=True, help="Hardware YAML file or built-in name (perfsim list hw)."
)
@click.option(
    "--precision",
    "-p",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Weights/activations dtype [default: the hardware's native precision].",
)
@click.option("--engine", "-e", default="roofline", show_default=True, help="Cost model.")
@format_option()
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Write ops.csv, summary.json and report.html here.",
)
@click.option(
    "--devices",
    type=int,
    default=1,
    show_default=True,
    help="Training: data-parallel devices; --batch is then the global batch.",
)
@click.option(
    "--grad-accum",
    type=int,
    default=1,
    show_default=True,
    help="Training: micro-steps per optimizer step (gradients all-reduced on the last).",
)
@_whatif_options
def run(
    model: str,
    batch: int,
    seq: int,
    mode: str,
    head: str,
    optimizer: str | None,
    checkpointing: bool,
    no_cache: bool,
    cache_dir: Path | None,
    hw: str,
    precision: str | None,
    engine: str,
    fmt: str,
    out: Path | None,
    devices: int,
    grad_accum: int,
    whatif: tuple[str, ...],
    seq_lengths: str | None,
    padding: str,
) -> None:
    """Estimate latency, memory traffic and energy of one model on one device (or a
    data-parallel training step on several)."""
    from perfsim.api import run_data_parallel, run_estimate

    extra = _whatif_arguments(whatif, seq_lengths, padding, batch)

    options: dict[str, Any] = {
        "seq": seq,
        "precision": precision,
        "engine": engine,
        "cache_dir": cache_dir,
        "use_cache": not no_cache,
        "head": head,
        "optimizer": optimizer,
        "checkpointing": checkpointing,
    }
    result: Any
    if devices != 1 or grad_accum != 1:
        if extra:
            from perfsim.errors import SpecError

            raise SpecError("--whatif/--seq-lengths: not available with --devices/--grad-accum")
        if mode != "training":
            from perfsim.errors import WorkloadError

            raise WorkloadError("--devices/--grad-accum: data parallelism needs --mode training")
        result = run_data_parallel(
            model, hw, batch=batch, devices=devices, grad_accum=grad_accum, **options
        )
    else:
        result = run_estimate(model, hw, batch=batch, mode=mode, **options, **extra)
    if out is not None:
        from perfsim.report.files import render_outputs, write_outputs

        write_outputs(render_outputs(result), out)
    summary = result.summary()
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
    elif fmt == "csv":
        click.echo(result.to_frame().to_csv(index=False), nl=False)
    else:
        from perfsim.report.tables import summary_table

        console = _console()
        summary_table(summary, console)
        if out is not None:
            console.print(f"wrote {out}/ops.csv, summary.json, report.html")


@cli.command()
@click.argument("schedules", nargs=-1, required=True, type=click.Path(path_type=Path))
@no_cache_option
@cache_dir_option
@format_option()
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Write phases.csv, validation.csv, validation.md and training.json here.",
)
@click.option(
    "--engine", "-e", default=None, help="Cost model for every schedule [default: each one's]."
)
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
    from perfsim.parallel.schedule import load_schedule, time_to_train

    runs = [
        time_to_train(
            load_schedule(path), cache_dir=cache_dir, use_cache=not no_cache, engine=engine
        )
        for path in schedules
    ]
    if out is not None:
        from perfsim.report.files import write_outputs

        command = "perfsim train " + " ".join(str(path) for path in schedules)
        command += f" --engine {engine}" if engine else ""
        write_outputs(render_training_outputs(runs, command), out)
    if fmt == "json":
        click.echo(json.dumps(training_json(runs), indent=2))
    elif fmt == "csv":
        click.echo(phases_frame(runs).to_csv(index=False), nl=False)
    else:
        from perfsim.report.tables import training_tables

        training_tables(
            [run.summary() for run in runs], comparison_frame(runs).to_dict("records"), _console()
        )


@cli.command()
@_scenario_options
@format_option()
def trace(
    model: str,
    batch: int,
    seq: int,
    mode: str,
    head: str,
    optimizer: str | None,
    checkpointing: bool,
    no_cache: bool,
    cache_dir: Path | None,
    fmt: str,
) -> None:
    """Dump the traced operator graph of a model (fp32; a training step in fp32)."""
    from perfsim.api import trace_graph

    graph = trace_graph(
        model,
        batch=batch,
        seq=seq,
        mode=mode,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        head=head,
        optimizer=optimizer,
        checkpointing=checkpointing,
    )
    if fmt == "json":
        click.echo(graph.to_json())
        return
    from perfsim.api import graph_frame

    frame = graph_frame(graph)
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
        return
    from perfsim.report.tables import records_table

    columns = [
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
    console = _console()
    console.print(
        records_table(
            f"{graph.meta.get('model')}: {len(graph)} ops, "
            f"{graph.meta.get('folded_ops')} metadata ops folded",
            frame[columns].to_dict("records"),
            columns,
        )
    )
    if graph.meta.get("unsupported"):
        console.print(f"unsupported ops: {graph.meta['unsupported']}")


@cli.command()
@click.option("--model", "-m", "model", required=True, help="Built-in name or config file.")
@click.option("--hw", "hw", required=True, help="Hardware YAML file or built-in name.")
@click.option("--seq", "-s", type=int, default=128, show_default=True, help="Sequence length.")
@click.option("--mode", type=click.Choice(MODES), default="training", show_default=True)
@click.option("--head", type=click.Choice(HEADS), default="pretraining", show_default=True)
@click.option(
    "--optimizer",
    type=click.Choice(OPTIMIZERS),
    default=None,
    help="[default: lamb for pretraining, adamw for fine-tuning]",
)
@click.option("--checkpointing", is_flag=True, help="Recompute layers in backward.")
@click.option(
    "--precision",
    "-p",
    type=click.Choice(PRECISIONS),
    default=None,
    help="[default: the hardware's native precision]",
)
@no_cache_option
@cache_dir_option
@format_option(FORMATS[:2])
def fit(
    model: str,
    hw: str,
    seq: int,
    mode: str,
    head: str,
    optimizer: str | None,
    checkpointing: bool,
    precision: str | None,
    no_cache: bool,
    cache_dir: Path | None,
    fmt: str,
) -> None:
    """Find the largest batch whose step fits in the device's memory."""
    from perfsim.api import fit_batch

    answer = fit_batch(
        model,
        hw,
        seq=seq,
        mode=mode,
        precision=precision,
        head=head,
        optimizer=optimizer,
        checkpointing=checkpointing,
        cache_dir=cache_dir,
        use_cache=not no_cache,
    )
    record = {
        "model": model,
        "hw": hw,
        "seq": seq,
        "mode": mode,
        "max_batch": answer.batch,
        "fits": answer.fits,
        "footprint_bytes": answer.footprint_bytes,
        "capacity_bytes": answer.capacity_bytes,
        "traced_batches": [batch for batch, _ in answer.measured],
    }
    if fmt == "json":
        click.echo(json.dumps(record, indent=2))
        return
    from perfsim.units import format_quantity

    if not answer.fits:
        click.echo(
            f"{model} does not fit on {hw} even at batch 1: it needs "
            f"{format_quantity(answer.footprint_bytes, 'B')} of "
            f"{format_quantity(answer.capacity_bytes, 'B')}"
        )
        return
    click.echo(
        f"largest batch: {answer.batch} ({format_quantity(answer.footprint_bytes, 'B')} of "
        f"{format_quantity(answer.capacity_bytes, 'B')}; traced at batches "
        f"{', '.join(str(b) for b, _ in answer.measured)})"
    )


@cli.command()
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help="Hardware YAML file to write, e.g. hwconfigs/host.yaml.",
)
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Calibrate this host's CPU, or its CUDA device.",
)
@click.option("--quick", is_flag=True, help="Tiny sizes, few repetitions (seconds, rough).")
def calibrate(out: Path, device: str, quick: bool) -> None:
    """Measure this machine with microbenchmarks and write a hardware file."""
    from perfsim.calibration import calibrate as run_calibration

    with _progress_bar("calibrating") as update:
        path = run_calibration(out, device=device, quick=quick, progress=update)
    click.echo(f"wrote {path}")


@cli.command()
@click.option("--model", "-m", "model", default=None, help="Model (or use --cases).")
@click.option("--hw", "hw", required=True, help="Hardware file describing this host.")
@click.option("--batch", "-b", type=int, default=1, show_default=True)
@click.option("--seq", "-s", type=int, default=128, show_default=True)
@click.option("--threads", type=int, default=None, help="torch threads [default: all].")
@click.option(
    "--cases",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML list of {model, batch, seq} cases instead of one --model.",
)
@click.option("--engine", "-e", default="roofline", show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--repeats", type=int, default=5, show_default=True)
@click.option("--warmup", type=int, default=2, show_default=True)
@click.option(
    "--attention",
    type=click.Choice(["auto", "math"]),
    default="auto",
    show_default=True,
    help="auto: the fused kernel torch picks; math: unfused ops, one for one with the trace.",
)
@format_option()
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Write validation.csv, categories.csv, validation.json, validation.html.",
)
def validate(
    model: str | None,
    hw: str,
    batch: int,
    seq: int,
    threads: int | None,
    cases: Path | None,
    engine: str,
    device: str,
    repeats: int,
    warmup: int,
    attention: str,
    fmt: str,
    out: Path | None,
) -> None:
    """Run the real model on this machine and compare with perfsim's prediction."""
    from perfsim.errors import SpecError
    from perfsim.validation import (
        load_cases,
        render_validation_outputs,
        results_json,
        summary_frame,
        validate_cases,
    )

    if cases is not None:
        case_list = load_cases(cases)
    elif model is not None:
        case_list = [{"model": model, "batch": batch, "seq": seq}]
    else:
        raise SpecError("--model or --cases: give a model or a YAML list of cases")
    with _progress_bar("validating") as update:
        results = validate_cases(
            case_list,
            hw,
            engine=engine,
            threads=threads,
            device=device,
            repeats=repeats,
            warmup=warmup,
            attention=attention,
            progress=lambda text: update(text, None),
        )
    if out is not None:
        from perfsim.report.files import write_outputs

        write_outputs(render_validation_outputs(results), out)
    frame = summary_frame(results)
    if fmt == "json":
        click.echo(json.dumps(results_json(results), indent=2))
    elif fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    else:
        _validation_tables(results, _console())


def _validation_tables(results: Any, console: Console) -> None:
    """Per case: predicted vs measured per category; then one line per case."""
    import math

    from perfsim.report.tables import records_table
    from perfsim.units import format_quantity
    from perfsim.validation import median_abs_error

    def seconds(value: float) -> str:
        return format_quantity(value, "s")

    def percent(value: float | None, signed: bool = False) -> str:
        if value is None or math.isnan(value):
            return "-"
        return f"{value:+.1%}" if signed else f"{value:.1%}"

    for result in results:
        rows = [
            {
                "category": row["category"],
                "predicted": seconds(row["predicted_s"]),
                "measured": seconds(row["measured_s"]),
                "error": percent(row["error"], signed=True),
                "measured share": percent(row["measured_share"]),
            }
            for row in result.category_rows()
        ]
        title = f"{result.label}, {result.threads} threads: {result.engine} on {result.hw}"
        console.print(records_table(title, rows, list(rows[0])))
    rows = [
        {
            "case": result.label,
            "threads": str(result.threads),
            "predicted": seconds(result.predicted_s),
            "measured": seconds(result.measured_s),
            "error": percent(result.error, signed=True),
            "gemm share p/m": (
                f"{percent(result.gemm_share_predicted)} / {percent(result.gemm_share_measured)}"
            ),
            "overhead": percent(result.measured_overhead_s / result.measured_s),
            "others' CPU": percent(result.measurement.foreign_load),
        }
        for result in results
    ]
    console.print(records_table("predicted vs measured", rows, list(rows[0])))
    console.print(f"median |error| over {len(results)} cases: {median_abs_error(results):.1%}")


@contextmanager
def _progress_bar(title: str) -> Iterator[Callable[[str, float | None], None]]:
    """A progress callback ``update(step, fraction)`` drawn on stderr (nothing when piped)."""
    from rich.progress import Progress

    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(title, total=1.0)

        def update(step: str, fraction: float | None) -> None:
            bar.update(
                task,
                description=f"{title}: {step}",
                completed=fraction if fraction is not None else None,
            )

        yield update


@cli.group(name="list")
def list_() -> None:
    """List built-in models or hardware."""


@list_.command(name="models")
@format_option()
def list_models(fmt: str) -> None:
    """Built-in models: layers, hidden, heads, FFN size, parameters."""
    from perfsim.api import model_catalog

    _emit_records("models", model_catalog(), fmt)


@list_.command(name="hw")
@format_option()
def list_hw(fmt: str) -> None:
    """Built-in hardware: peak FLOP/s per dtype, memory bandwidth, on-chip memory."""
    from perfsim.api import hardware_catalog

    _emit_records("hardware", hardware_catalog(), fmt)


def _emit_records(title: str, records: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(records, indent=2))
        return
    import pandas as pd

    if fmt == "csv":
        click.echo(pd.DataFrame(records).to_csv(index=False), nl=False)
        return
    from perfsim.report.tables import records_table

    _console().print(records_table(title, records, list(records[0]) if records else []))


@cli.command()
@click.argument("name", type=click.Choice(["demystify-bert", "published-inference"]))
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for report.html, summary.md and one CSV per figure.",
)
@cache_dir_option
def study(name: str, out: Path, cache_dir: Path | None) -> None:
    """Run a study (perfsim/studies/) and write its report and data."""
    from perfsim.studies import write_study

    with _progress_bar(name) as update:
        paths = write_study(
            name, out, cache_dir=cache_dir, progress=lambda text: update(text, None)
        )
    for path in paths:
        click.echo(str(path))


def _add_sweep_commands() -> None:
    # sweep, plot and compare live with their library (perfsim.sweep.commands)
    from perfsim.sweep.commands import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


_add_sweep_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the click group and turn errors into one line and an exit status."""
    try:
        cli.main(args=argv, prog_name="perfsim", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as error:
        click.echo(f"UsageError: {error.format_message()}", err=True)
        sys.exit(2)
    except PerfsimError as error:
        click.echo(f"{type(error).__name__}: {error}", err=True)
        sys.exit(2)
    except Exception as error:
        click.echo(f"InternalError: {type(error).__name__}: {error}", err=True)
        sys.exit(1)
    sys.exit(0)
