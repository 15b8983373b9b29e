"""``perfsim calibrate`` and ``perfsim validate``: the commands that measure this machine."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from perfsim.cli.options import (
    FORMATS,
    batch_option,
    engine_option,
    format_option,
    hw_option,
    model_option,
    out_option,
    seq_option,
)
from perfsim.cli.output import console, echo_csv, echo_json, progress_bar, step_bar

if TYPE_CHECKING:
    from perfsim.hardware import HardwareSpec
    from perfsim.validation import CaseResult

DEVICES = ("cpu", "cuda")


@click.command()
@out_option("Hardware YAML file to write, e.g. hwconfigs/host.yaml.", required=True)
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="cpu",
    show_default=True,
    help="Calibrate this host's CPU, or its CUDA device.",
)
@click.option("--quick", is_flag=True, help="Tiny sizes, few repetitions (seconds, rough).")
@click.option(
    "--threads",
    type=int,
    default=None,
    help="CPU threads to calibrate for [default: torch's, fewer on a busy host].",
)
def calibrate(out: Path, device: str, quick: bool, threads: int | None) -> None:
    """Measure this machine with microbenchmarks and write a hardware file.

    Each figure is the best of several rounds; where the fastest rounds do not agree
    (a busy machine) nothing is written and the exit status is 1.
    """
    from perfsim.calibration import UnstableCalibrationError
    from perfsim.calibration import calibrate as run_calibration

    try:
        with progress_bar("calibrating") as update:
            path = run_calibration(
                out, device=device, quick=quick, progress=update, threads=threads
            )
    except UnstableCalibrationError as error:
        click.echo(f"calibrate: {error}", err=True)
        raise SystemExit(1) from None
    click.echo(f"wrote {path}")


@click.command()
@model_option("Model (or use --cases).", required=False)
@hw_option("Hardware file describing this host.")
@batch_option(None)
@seq_option(None)
@click.option("--threads", type=int, default=None, help="torch threads [default: all].")
@click.option(
    "--cases",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML list of {model, batch, seq} cases instead of one --model.",
)
@engine_option(help=None)
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True)
@click.option("--repeats", type=int, default=5, show_default=True)
@click.option("--warmup", type=int, default=2, show_default=True)
@click.option(
    "--attention",
    type=click.Choice(["auto", "math"]),
    default="auto",
    show_default=True,
    help="auto: the fused kernel torch picks; math: unfused ops, one for one with the trace.",
)
@format_option(FORMATS)
@out_option(
    "Write validation.csv, categories.csv, validation.json, validation.html "
    "(and drift.txt on a CPU host)."
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
        MeasureOptions,
        load_cases,
        render_validation_outputs,
        results_json,
        summary_frame,
        validate_cases,
    )
    from perfsim.validation.drift import drift_line, weight_stream_drift

    if cases is not None:
        case_list = load_cases(cases)
    elif model is not None:
        case_list = [{"model": model, "batch": batch, "seq": seq}]
    else:
        raise SpecError("--model or --cases: give a model or a YAML list of cases")
    options = MeasureOptions(
        threads=threads, device=device, warmup=warmup, repeats=repeats, attention=attention
    )
    checked = _checked_file(hw) if device == "cpu" else None
    before = None if checked is None else weight_stream_drift(checked)
    with step_bar("validating") as update:
        results = validate_cases(case_list, hw, engine=engine, options=options, progress=update)
    after = None if checked is None or before is None else weight_stream_drift(checked)
    drift = None if before is None or after is None else drift_line(before, after)
    if drift is not None:
        click.echo(drift, err=True)  # stdout: the table, CSV or JSON
    if out is not None:
        from perfsim.report.files import write_outputs

        outputs = render_validation_outputs(results)
        if drift is not None:
            outputs["drift.txt"] = drift + "\n"  # the machine against the file, as printed
        write_outputs(outputs, out)
    if fmt == "json":
        echo_json(results_json(results))
    elif fmt == "csv":
        echo_csv(summary_frame(results))
    else:
        _print_tables(results)


def _checked_file(hw: str) -> HardwareSpec | None:
    """The host file whose calibrated figure `perfsim.validation.drift` times again."""
    from perfsim.hardware import resolve_hardware

    spec = resolve_hardware(hw)
    return spec if spec.kind == "cpu" else None


def _print_tables(results: Sequence[CaseResult]) -> None:
    from perfsim.report.tables import records_table
    from perfsim.validation.report import validation_footer, validation_tables

    screen = console()
    for title, rows in validation_tables(results):
        screen.print(records_table(title, rows, list(rows[0])))
    screen.print(validation_footer(results))
