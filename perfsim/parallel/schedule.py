"""Time to train: a multi-phase schedule (YAML) → time and energy per step, per phase, total.

A schedule names a model and a hardware file and lists phases (BERT pre-training runs
phase 1 at sequence 128 and phase 2 at 512), each with its global batch, steps and devices;
anything a phase leaves out (devices, grad_accum, precision, optimizer, head,
checkpointing) comes from the schedule's top level. Each phase is one data-parallel step
(`perfsim.parallel.data_parallel`) times its steps.

``seq_lengths:`` (a lengths file, relative to the schedule, repeated to fill the global
batch, or a ``uniform:`` / ``normal:`` spec) with ``padding:`` (``padded`` to the phase's
``seq``, or ``packed``) runs a phase on real sequence lengths (`perfsim.whatif.lengths`),
at the schedule's top level or per phase.

``overlap_communication: false`` exchanges the gradients after the backward pass instead
of bucket by bucket during it, and ``sharded_optimizer: true`` has each device update
1/devices of the parameters between a reduce-scatter and an all-gather (apex's
DistributedFusedLAMB); top level or per phase (`perfsim.parallel.data_parallel`).

``whatif:`` (a flat mapping of what-if knobs, as a sweep base's, `perfsim.whatif.knobs`)
may be given at the top level and per phase; a phase's keys override the schedule's,
key by key, and the result is the phase scenario's ``whatifs``. A data-parallel step
carries the training-step knobs only (``fusion``, ``mlm_positions``; `Scenario.check`).

``evaluation:`` (``every_samples``, ``samples``, ``batch``: top level or per phase, a phase's
block replacing the schedule's) prices the evaluations a run's clock holds
(`perfsim.parallel.evaluation`); `perfsim.parallel.training_run.time_to_train` costs a
schedule.

A schedule (or a phase) may carry ``published`` figures of a real run with their source;
`perfsim.parallel.published.compare_published` turns them into predicted-vs-published rows
with the error in percent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perfsim.errors import SpecError
from perfsim.parallel.collectives import Algorithm
from perfsim.parallel.evaluation import Evaluation
from perfsim.scenario import Parallelism, Scenario, TrainingOptions
from perfsim.whatif.knobs import FUSION_PASSES, WhatIfs, parse_whatifs
from perfsim.whatif.length_files import LengthsError, fill_batch
from perfsim.whatif.lengths import SequenceLengths
from perfsim.yamlio import read_yaml_mapping, validation_message


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Published(_Frozen):
    source: str
    throughput_samples_per_s: float | None = Field(default=None, gt=0)
    model_flops_per_s_per_device: float | None = Field(default=None, gt=0)
    step_time_s: float | None = Field(default=None, gt=0)
    total_time_s: float | None = Field(default=None, gt=0)


class _EvaluationFile(_Frozen):
    every_samples: int = Field(gt=0)
    samples: int = Field(gt=0)
    batch: int = Field(gt=0)


class _Knobs(_Frozen):
    devices: int | None = Field(default=None, gt=0)
    grad_accum: int | None = Field(default=None, gt=0)
    # the gradient exchange overlapped with the backward pass (DDP) or after it
    overlap_communication: bool | None = None
    # each device updates 1/devices of the parameters (DistributedFusedLAMB, ZeRO-1)
    sharded_optimizer: bool | None = None
    precision: str | None = None
    optimizer: str | None = None
    head: str | None = None
    checkpointing: bool | None = None
    # mixed precision as torch.autocast runs it ("O1"), not a half model with fp32 masters
    autocast: bool | None = None
    whatif: dict[str, Any] | None = None
    seq_lengths: str | None = None
    padding: Literal["padded", "packed"] | None = None
    evaluation: _EvaluationFile | None = None


class _PhaseFile(_Knobs):
    name: str
    seq: int = Field(gt=0)
    global_batch: int = Field(gt=0)
    steps: int = Field(gt=0)
    published: _Published | None = None


class _ScheduleFile(_Knobs):
    version: int = Field(ge=1, le=1)
    name: str
    description: str = ""
    source: str = ""
    model: str
    hw: str
    engine: str = "roofline"
    algorithm: Algorithm = "auto"
    phases: list[_PhaseFile] = Field(min_length=1)
    published: _Published | None = None


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of a schedule: its training scenario (global batch, devices, every knob
    resolved), run ``steps`` times."""

    name: str
    scenario: Scenario
    steps: int
    published: dict[str, Any]
    evaluation: Evaluation | None = None

    @property
    def seq(self) -> int:
        return self.scenario.seq

    @property
    def global_batch(self) -> int:
        return self.scenario.batch

    @property
    def devices(self) -> int:
        return self.scenario.parallel.devices

    @property
    def grad_accum(self) -> int:
        return self.scenario.parallel.grad_accum

    @property
    def precision(self) -> str | None:
        return self.scenario.precision

    @property
    def optimizer(self) -> str | None:
        return self.scenario.training.optimizer

    @property
    def whatif(self) -> str:
        """The phase's what-if knobs as ``key=value`` words ("none" without any), its real
        sequence lengths and its evaluations if it has them."""
        applied = self.scenario.whatifs.applied()
        if applied.get("fusion") == "+".join(FUSION_PASSES):
            applied["fusion"] = "all"
        lengths = self.scenario.lengths
        if lengths is not None:  # real lengths: how they ran and their mean
            mean = sum(lengths.lengths) / len(lengths.lengths)
            applied["seq_lengths"] = f"{lengths.padding}(mean {mean:.1f})"
        if self.evaluation is not None:
            applied["evaluation"] = self.evaluation.label()
        return " ".join(f"{key}={value}" for key, value in applied.items()) or "none"


@dataclass(frozen=True, slots=True)
class Schedule:
    """A training run: a model on a device, phase after phase."""

    name: str
    model: str
    hw: str
    engine: str
    algorithm: Algorithm
    phases: tuple[Phase, ...]
    source: str = ""
    description: str = ""
    path: str = ""
    published: dict[str, Any] | None = None


def _resolve_path(value: str, folder: Path) -> str:
    """A name stays a name; a relative file path is taken from the schedule's folder."""
    candidate = folder / value
    return str(candidate) if ("/" in value or "." in value) and candidate.exists() else value


def load_schedule(path: str | Path) -> Schedule:
    """Read and validate a schedule YAML file.

    Raises:
        SpecError: one line naming the file and the field.
    """
    path = Path(path)
    data = read_yaml_mapping(path)
    try:
        parsed = _ScheduleFile.model_validate(data)
    except ValidationError as error:
        raise SpecError(validation_message(path, error)) from None
    phases = []
    for item in parsed.phases:

        def pick(name: str, default: Any, item: _PhaseFile = item) -> Any:
            value = getattr(item, name)
            if value is None:
                value = getattr(parsed, name)
            return default if value is None else value

        phases.append(
            Phase(
                name=item.name,
                scenario=Scenario(
                    _resolve_path(parsed.model, path.parent),
                    batch=item.global_batch,
                    seq=item.seq,
                    mode="training",
                    precision=pick("precision", None),
                    training=TrainingOptions(
                        head=pick("head", TrainingOptions().head),
                        optimizer=pick("optimizer", None),
                        checkpointing=pick("checkpointing", False),
                        autocast=pick("autocast", False),
                    ),
                    parallel=Parallelism(
                        pick("devices", 1),
                        pick("grad_accum", 1),
                        parsed.algorithm,
                        overlap=pick("overlap_communication", True),
                        sharded_optimizer=pick("sharded_optimizer", False),
                    ),
                    whatifs=_phase_whatifs(parsed, item, path, len(phases)),
                    lengths=_phase_lengths(
                        pick("seq_lengths", None),
                        pick("padding", "padded"),
                        item,
                        path,
                        len(phases),
                    ),
                ),
                steps=item.steps,
                published=item.published.model_dump(exclude_none=True) if item.published else {},
                evaluation=_evaluation(pick("evaluation", None)),
            )
        )
    return Schedule(
        name=parsed.name,
        model=_resolve_path(parsed.model, path.parent),
        hw=_resolve_path(parsed.hw, path.parent),
        engine=parsed.engine,
        algorithm=parsed.algorithm,
        phases=tuple(phases),
        source=parsed.source,
        description=parsed.description,
        path=str(path),
        published=parsed.published.model_dump(exclude_none=True) if parsed.published else None,
    )


def _phase_lengths(
    spec: str | None, padding: str, item: _PhaseFile, path: Path, index: int
) -> SequenceLengths | None:
    """The phase's real sequence lengths (`fill_batch`: a file, relative to the schedule's
    folder, or a ``uniform:`` / ``normal:`` spec), run ``padding`` (padded to the phase's
    ``seq``, or packed).

    Raises:
        LengthsError: naming the file, the phase and the field.
    """
    if spec is None:
        return None
    try:
        lengths = fill_batch(_resolve_path(spec, path.parent), item.global_batch, item.seq)
    except LengthsError as error:
        raise LengthsError(f"{path}: phases[{index}]: seq_lengths: {error}") from None
    return SequenceLengths(lengths, padding, item.seq if padding == "padded" else None)


def _evaluation(spec: _EvaluationFile | None) -> Evaluation | None:
    return None if spec is None else Evaluation(spec.every_samples, spec.samples, spec.batch)


def _phase_whatifs(parsed: _ScheduleFile, item: _PhaseFile, path: Path, index: int) -> WhatIfs:
    """The schedule's ``whatif`` knobs with the phase's own on top, validated."""
    merged = {**(parsed.whatif or {}), **(item.whatif or {})}
    return parse_whatifs(merged, f"{path}: phases[{index}]")
