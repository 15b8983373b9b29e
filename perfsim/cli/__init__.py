"""The ``perfsim`` command: parsing and printing only, over the library API.

One module per command group: `perfsim.cli.run` (run, trace, fit), `.train`, `.sweep`
(sweep, plot), `.compare`, `.catalog` (list), `.study`, `.measure` (calibrate, validate);
every option is declared once in `perfsim.cli.options`.

Bad input ends with one line ``ErrorType: message`` on stderr and exit status 2; an
internal failure with one line and exit status 1; never a traceback.
"""

from __future__ import annotations

import logging
import sys

import click

from perfsim.cli.catalog import list_
from perfsim.cli.compare import compare
from perfsim.cli.measure import calibrate, validate
from perfsim.cli.run import fit, run, trace
from perfsim.cli.study import study
from perfsim.cli.sweep import plot, sweep
from perfsim.cli.train import train
from perfsim.errors import PerfsimError


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


for _command in (run, train, trace, fit, calibrate, validate, list_, study, sweep, plot, compare):
    cli.add_command(_command)


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


__all__ = ["cli", "main"]
