"""Every ``perfsim`` option, declared once, and the one place options become library values.

A command stacks the declarations it takes (``@scenario_options``, ``@hw_option``, ...);
`scenario_from_options` turns the scenario's options into a `perfsim.scenario.Scenario`
(used by ``run``, ``trace``, ``fit`` and ``compare``) and `graph_store` the cache options
into a `perfsim.cache.GraphStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from perfsim.cache import GraphStore
from perfsim.engines import available
from perfsim.hardware.spec import RUNTIMES
from perfsim.precision import PRECISIONS
from perfsim.scenario import Parallelism, Scenario
from perfsim.whatif.knobs import WhatIfs, parse_assignments
from perfsim.whatif.lengths import PADDINGS, SequenceLengths, parse_lengths
from perfsim.workload import DEFAULT_HEAD, HEADS, MODES, OPTIMIZERS, TrainingOptions

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]

FORMATS: Final = ("table", "json", "csv")


def stack(*options: Decorator[Any]) -> Decorator[F]:
    """Apply ``options`` so that ``--help`` lists them in the order given."""

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


# ---- the model and how it runs ----------------------------------------------------------


def model_option(
    help: str = "Built-in name (perfsim list models), workload YAML or HF config.json.",
    *,
    multiple: bool = False,
    required: bool = True,
) -> Decorator[F]:
    """``--model/-m`` (``models`` when repeatable; None when optional and not given)."""
    name = "models" if multiple else "model"
    return click.option("--model", "-m", name, multiple=multiple, required=required, help=help)


def hw_option(
    help: str = "Hardware YAML file or built-in name (perfsim list hw).",
    *,
    multiple: bool = False,
) -> Decorator[F]:
    """``--hw`` (``hws`` when repeatable)."""
    return click.option(
        "--hw", "hws" if multiple else "hw", multiple=multiple, required=True, help=help
    )


def batch_option(help: str | None = "Batch size.") -> Decorator[F]:
    return click.option("--batch", "-b", type=int, default=1, show_default=True, help=help)


def seq_option(help: str | None = "Sequence length (tokens).") -> Decorator[F]:
    return click.option("--seq", "-s", type=int, default=128, show_default=True, help=help)


def mode_option(default: str = "inference") -> Decorator[F]:
    return click.option("--mode", type=click.Choice(MODES), default=default, show_default=True)


head_option = click.option(
    "--head",
    type=click.Choice(HEADS),
    default=DEFAULT_HEAD,
    show_default=True,
    help="Training: the loss's head (masked-LM + next sentence, classifier, SQuAD span).",
)
optimizer_option = click.option(
    "--optimizer",
    type=click.Choice(OPTIMIZERS),
    default=None,
    help="Training optimizer [default: lamb for pretraining, adamw for fine-tuning].",
)
checkpointing_option = click.option(
    "--checkpointing",
    is_flag=True,
    help="Training: recompute each layer in backward instead of keeping activations.",
)
autocast_option = click.option(
    "--autocast",
    is_flag=True,
    help="Training in fp16/bf16: mixed precision as torch.autocast runs it (fp32 weights, "
    "fp32 LayerNorm/softmax/loss, casts between) instead of a half model with fp32 masters.",
)
training_options = stack(head_option, optimizer_option, checkpointing_option, autocast_option)


def precision_option(
    help: str = "Weights/activations dtype [default: the hardware's native precision].",
) -> Decorator[F]:
    return click.option("--precision", "-p", type=click.Choice(PRECISIONS), default=None, help=help)


parallel_options = stack(
    click.option(
        "--devices",
        type=int,
        default=1,
        show_default=True,
        help="Training: data-parallel devices; --batch is then the global batch.",
    ),
    click.option(
        "--grad-accum",
        type=int,
        default=1,
        show_default=True,
        help="Training: micro-steps per optimizer step (gradients all-reduced on the last).",
    ),
    click.option(
        "--overlap/--no-overlap",
        "overlap",
        default=True,
        show_default=True,
        help="Training: exchange gradients bucket by bucket during backward (DDP), or after it.",
    ),
    click.option(
        "--sharded-optimizer",
        is_flag=True,
        default=False,
        help="Training: each device updates 1/--devices of the parameters between a "
        "reduce-scatter and an all-gather (DistributedFusedLAMB, ZeRO-1).",
    ),
)
seq_lengths_options = stack(
    click.option(
        "--seq-lengths",
        "seq_lengths",
        default=None,
        help="Real lengths of the batch: a text/CSV/JSON file, uniform:MIN-MAX or "
        "normal:MEAN,STD,MAX (--batch draws, seed 0; @SEED to change).",
    ),
    click.option(
        "--padding",
        type=click.Choice(PADDINGS),
        default="padded",
        show_default=True,
        help="With --seq-lengths: pad to the longest (or to --seq if given), or run unpadded.",
    ),
)
whatif_options = stack(
    click.option(
        "--whatif",
        "whatif",
        multiple=True,
        metavar="KEY=VALUE",
        help="What-if knob, repeatable: fusion=all, pim=true, quant=w4a8, prune_heads=0.25, "
        "prune_ffn=0.5, sparsity=2:4, low_rank=64, instances=4 (README: What-if knobs).",
    ),
    click.option(
        "--runtime",
        type=click.Choice(RUNTIMES),
        default=None,
        help="Host runtime issuing the kernels (perfsim.timeline): eager PyTorch, CUDA-graph "
        "replay or a compiled engine (TensorRT-like), at the hardware file's host_issue "
        "cost [default: none, op_overhead per op].",
    ),
    seq_lengths_options,
)


# ---- how it is costed and where results go ----------------------------------------------


def engine_option(default: str | None = "roofline", help: str = "Cost model.") -> Decorator[F]:
    """``--engine/-e``: one of the registered cost models (`perfsim.engines.available`)."""
    return click.option(
        "--engine",
        "-e",
        type=click.Choice(available()),
        default=default,
        show_default=default is not None,
        help=help,
    )


def ideal_option() -> Decorator[F]:
    """``--ideal``: the datasheet-peak bound instead of the achieved estimate."""
    return click.option(
        "--ideal",
        is_flag=True,
        help="The ideal bound: datasheet peaks with every achieved-performance term off "
        "(library tiles, sustained clock, ...); the device is labelled '<hw> (ideal)'.",
    )


def format_option(formats: tuple[str, ...] = FORMATS) -> Decorator[F]:
    """``--format/-f`` over ``formats``, default ``table``."""
    return click.option(
        "--format", "-f", "fmt", type=click.Choice(formats), default="table", show_default=True
    )


def out_option(help: str, *, required: bool = False) -> Decorator[F]:
    """``--out/-o``: a folder (or file) the command writes."""
    return click.option(
        "--out", "-o", type=click.Path(path_type=Path), required=required, help=help
    )


cache_dir_option = click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Graph cache folder [default: ~/.cache/perfsim/graphs].",
)
no_cache_option = click.option(
    "--no-cache", is_flag=True, help="Trace again instead of using the cache."
)
cache_options = stack(no_cache_option, cache_dir_option)

scenario_options = stack(
    model_option(),
    batch_option(),
    seq_option(),
    mode_option(),
    training_options,
    cache_options,
)
"""The options of a traced scenario: model, batch, seq, mode, training options, cache."""


# ---- options → library values -----------------------------------------------------------


def graph_store(cache_dir: Path | None = None, no_cache: bool = False) -> GraphStore:
    """``--cache-dir X --no-cache`` → ``GraphStore(X, enabled=False)``."""
    return GraphStore(cache_dir, enabled=not no_cache)


def scenario_from_options(options: Mapping[str, Any]) -> Scenario:
    """The `Scenario` a command's options describe (the one place options become one).

    ``options`` are the scenario options a command received (``model``, ``batch``, ``seq``,
    ``mode``, ``precision``, ``head``, ``optimizer``, ``checkpointing``, ``autocast``, ``whatif``,
    ``seq_lengths``, ``padding``, ``runtime``, ``devices``, ``grad_accum``, ``overlap``,
    ``sharded_optimizer``); a command
    without some of them gets the defaults. ``--seq-lengths`` pads to ``--seq`` only when
    ``--seq`` was given on the command line (read from the current click context), else to
    the longest length.
    """
    batch = options.get("batch", 1)
    seq = options.get("seq", 128)
    whatif = options.get("whatif", ())
    lengths = None
    if options.get("seq_lengths") is not None:
        pad_to = seq if _given("seq") else None
        drawn = parse_lengths(options["seq_lengths"], batch)
        lengths = SequenceLengths(drawn, options.get("padding", "padded"), pad_to)
    return Scenario(
        options["model"],
        batch=batch,
        seq=seq,
        mode=options.get("mode", "inference"),
        precision=options.get("precision"),
        training=TrainingOptions(
            options.get("head", DEFAULT_HEAD),
            options.get("optimizer"),
            options.get("checkpointing", False),
            options.get("autocast", False),
        ),
        whatifs=parse_assignments(whatif) if whatif else WhatIfs(),
        lengths=lengths,
        parallel=Parallelism(
            options.get("devices", 1),
            options.get("grad_accum", 1),
            overlap=options.get("overlap", True),
            sharded_optimizer=options.get("sharded_optimizer", False),
        ),
        runtime=options.get("runtime"),
    )


def _given(name: str) -> bool:
    """Whether option ``name`` was given on the command line (not left at its default)."""
    context = click.get_current_context(silent=True)
    if context is None:
        return False
    return context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
