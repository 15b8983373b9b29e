"""The scenario: everything about *what runs* on a device, as one frozen value.

A `Scenario` names the model and how it is run (batch, sequence, mode, precision, the
training step's head / optimizer / checkpointing, what-if knobs, a batch of real sequence
lengths, data parallelism). Every front end builds one: the CLI's options, a sweep point,
a study point, a training schedule's phase, a validation case. It travels unchanged down to
`perfsim.pipeline.simulate`, the one place where a scenario becomes a costed result.

The hardware and the cost model are not part of it: the same scenario is asked of many
devices and engines.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfsim.errors import SpecError, WorkloadError
from perfsim.hardware.spec import RUNTIMES
from perfsim.whatif.knobs import TRAINING_KNOBS, WhatIfs
from perfsim.whatif.lengths import PADDINGS, LengthsError, SequenceLengths
from perfsim.workload import ModelSpec, TrainingOptions, Workload, load_workload, validate_scenario

if TYPE_CHECKING:
    from perfsim.hardware.spec import HardwareSpec


@dataclass(frozen=True, slots=True)
class Parallelism:
    """Data parallelism: the global batch split over ``devices`` and ``grad_accum``
    micro-steps (`perfsim.parallel.data_parallel`); ``algorithm`` is the all-reduce's
    (`perfsim.parallel.collectives.Algorithm`; "auto" picks by topology); ``overlap``:
    gradient buckets exchanged during the backward pass (PyTorch DDP), else after it;
    ``sharded_optimizer``: each device updates 1/devices of the parameters between a
    reduce-scatter and an all-gather (apex's DistributedFusedLAMB, ZeRO stage 1)."""

    devices: int = 1
    grad_accum: int = 1
    algorithm: str = "auto"
    overlap: bool = True
    sharded_optimizer: bool = False

    @property
    def is_single(self) -> bool:
        """One device, one micro-step: no collectives, no splitting."""
        return self.devices == 1 and self.grad_accum == 1


@dataclass(frozen=True, slots=True)
class Scenario:
    """One model run: a built-in model name, a file path or a resolved `ModelSpec`, and how
    it is run.

    ``batch`` is the global batch (samples); ``seq`` tokens per sample; ``precision`` None
    means the hardware's native precision (`precision_on`).
    """

    model: str | Path | ModelSpec
    batch: int = 1
    seq: int = 128
    mode: str = "inference"
    precision: str | None = None
    training: TrainingOptions = field(default_factory=TrainingOptions)
    whatifs: WhatIfs = field(default_factory=WhatIfs)
    lengths: SequenceLengths | None = None
    parallel: Parallelism = field(default_factory=Parallelism)
    # the host runtime issuing the kernels (perfsim.timeline): "eager", "cuda_graph",
    # "engine"; None: each op's latency is floored at the file's op_overhead (no timeline)
    runtime: str | None = None

    @classmethod
    def from_workload(cls, workload: Workload) -> Scenario:
        """The scenario of an already-resolved workload."""
        return cls(
            workload.model,
            batch=workload.batch,
            seq=workload.seq,
            mode=workload.mode,
            precision=workload.precision,
            training=TrainingOptions(
                workload.head, workload.optimizer, workload.checkpointing, workload.autocast
            ),
        )

    @property
    def model_name(self) -> str:
        """The model as a person names it (a built-in name, a file path or the spec's name)."""
        return self.model.name if isinstance(self.model, ModelSpec) else str(self.model)

    def but(self, **changes: Any) -> Scenario:
        """A copy with some fields changed (``scenario.but(batch=8)``)."""
        return replace(self, **changes)

    def precision_on(self, hw: HardwareSpec) -> str:
        """The precision this scenario runs in on ``hw``: its own, else the native one."""
        return self.precision or hw.native_precision

    def traced_precision(self, hw: HardwareSpec | None = None) -> str | None:
        """The precision a graph is traced in: a training step in its own (mixed precision
        adds master weights, casts and loss scaling; resolved against ``hw`` when given);
        inference in fp32 (None), retyped afterwards by `perfsim.precision.apply_precision`.
        The one place this rule is written."""
        if self.mode != "training":
            return None
        return self.precision_on(hw) if hw is not None else self.precision

    def workload(self, hw: HardwareSpec | None = None) -> Workload:
        """The resolved, validated model and shape the tracer sees (at this batch and seq).

        With ``hw`` the training precision is resolved against it; without, it stays as
        given (None traces fp32).
        """
        traced = self.traced_precision(hw)
        if isinstance(self.model, ModelSpec):
            return validate_scenario(
                Workload(
                    self.model,
                    batch=self.batch,
                    seq=self.seq,
                    mode=self.mode,
                    precision=traced,
                    head=self.training.head,
                    optimizer=self.training.optimizer,
                    checkpointing=self.training.checkpointing,
                    autocast=self.training.autocast,
                )
            )
        return load_workload(
            self.model,
            batch=self.batch,
            seq=self.seq,
            mode=self.mode,
            precision=traced,
            training=self.training,
        )

    def check(self) -> Scenario:
        """Reject combinations no pipeline runs; return the scenario unchanged.

        Data parallelism carries the what-ifs that are graph transforms of a training step
        (``fusion``, ``mlm_positions``, ``attention_kernel``, ``sequence_kernels``:
        `perfsim.whatif.knobs.TRAINING_KNOBS`); they keep the
        graph's ``grad_ready`` op indices right, which the gradient buckets read. The others
        are refused: pruning, N:M sparsity and low-rank rewrite forward shapes only (no
        backward), quantization is an inference precision, and ``instances`` / ``pim`` cost a
        device share or a second unit that the all-reduce timeline does not know. Sequence
        lengths go with inference and training steps alike, on one device or several
        (`perfsim.pipeline.simulate_parallel` hands each device its share).

        Raises:
            SpecError: data parallelism with other what-ifs; an unknown runtime.
            WorkloadError: data parallelism outside training.
            LengthsError: an unknown padding.
        """
        if not self.parallel.is_single:
            refused = self.whatifs.not_for_training()
            if refused:
                raise SpecError(
                    f"--whatif {', '.join(refused)}: not available with --devices/--grad-accum "
                    f"(what-ifs allowed there: {', '.join(TRAINING_KNOBS)})"
                )
            if self.mode != "training":
                raise WorkloadError(
                    "--devices/--grad-accum: data parallelism needs --mode training"
                )
        if self.runtime is not None and self.runtime not in RUNTIMES:
            raise SpecError(f"--runtime: expected one of {', '.join(RUNTIMES)}, got {self.runtime}")
        if self.lengths is not None and self.lengths.padding not in PADDINGS:
            raise LengthsError(
                f"--padding: expected one of {', '.join(PADDINGS)}, got {self.lengths.padding}"
            )
        return self
