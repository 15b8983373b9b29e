"""A schedule, costed: each phase's data-parallel step, its evaluations, time and energy.

`time_to_train` costs every phase of a `perfsim.parallel.schedule.Schedule`: one
data-parallel step (`perfsim.pipeline.simulate_parallel`) times its steps, plus, where the
phase gives an ``evaluation:`` block, the forward passes of its evaluations
(`perfsim.parallel.evaluation`). A phase's time and throughput are the run's clock, the
evaluations included, as MLPerf counts them.

FLOP conventions, both reported per device and per training step (evaluations left out):
``achieved_flops_per_s_per_device`` divides the FLOPs perfsim traced (forward, backward and
optimizer, every op) by the step time; ``model_flops_per_s_per_device`` uses the "training =
3 x forward FLOPs" convention of the DeepSpeed BERT blog (2020-05-28), counting the traced
forward pass three times, so it compares with published TFLOP/s figures made that way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from perfsim.cache import GraphStore
from perfsim.errors import PerfsimError
from perfsim.parallel.data_parallel import DataParallelResult
from perfsim.parallel.evaluation import evaluation_scenario
from perfsim.parallel.schedule import Phase, Schedule

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """One phase: its data-parallel step, how many times it runs, and one evaluation's
    time and energy on all devices (zero without an ``evaluation:`` block)."""

    phase: Phase
    step: DataParallelResult
    evaluation_s: float = 0.0
    evaluation_energy_j: float = 0.0

    @property
    def step_time_s(self) -> float:
        return self.step.step_time_s

    @property
    def evaluations(self) -> float:
        """Evaluations the phase holds (amortized: `perfsim.parallel.evaluation`)."""
        evaluation = self.phase.evaluation
        if evaluation is None:
            return 0.0
        return self.phase.steps * evaluation.per_step(self.phase.global_batch)

    @property
    def training_s(self) -> float:
        """The phase's training steps, seconds."""
        return self.phase.steps * self.step.step_time_s

    @property
    def time_s(self) -> float:
        """The whole phase, its evaluations included, seconds."""
        return self.training_s + self.evaluations * self.evaluation_s

    @property
    def energy_j(self) -> float:
        """The whole phase on all devices, its evaluations included, joules."""
        steps = self.phase.steps * self.step.energy_j * self.phase.devices
        return steps + self.evaluations * self.evaluation_energy_j

    @property
    def forward_flops(self) -> int:
        """Forward FLOPs of one device per step (every micro-step)."""
        ops = self.step.result.graph.ops
        return self.phase.grad_accum * sum(op.flops for op in ops if op.phase == "forward")

    def row(self) -> dict[str, Any]:
        """The phase as one flat record (SI units)."""
        summary = self.step.summary()
        step = self.step_time_s
        return {
            "phase": self.phase.name,
            "seq": self.phase.seq,
            "global_batch": self.phase.global_batch,
            "devices": self.phase.devices,
            "grad_accum": self.phase.grad_accum,
            "micro_batch": summary["micro_batch"],
            "precision": summary["precision"],
            "optimizer": self.step.result.graph.meta.optimizer or self.phase.optimizer,
            "steps": self.phase.steps,
            "whatif": self.phase.whatif,
            "step_time_s": step,
            "compute_s": self.step.compute_s,
            "optimizer_s": self.step.optimizer_s,
            "accumulation_s": self.step.accumulation_s,
            "communication_s": self.step.communication_s,
            "exposed_communication_s": self.step.exposed_communication_s,
            "collective_algorithm": summary["collective_algorithm"],
            "evaluation_s": self.evaluation_s,
            "evaluations": self.evaluations,
            "time_s": self.time_s,
            "energy_j": self.energy_j,
            # the run's clock: trained sequences over the steps and their evaluations
            "throughput_samples_per_s": self.phase.steps * self.phase.global_batch / self.time_s,
            "flops_per_device_per_step": self.step.flops,
            "achieved_flops_per_s_per_device": self.step.flops / step,
            "model_flops_per_s_per_device": 3 * self.forward_flops / step,
            "peak_flops_per_s_per_device": summary["peak_flops_per_s"],
        }


@dataclass(frozen=True, slots=True)
class TrainingRun:
    """A schedule, costed: per phase and in total."""

    schedule: Schedule
    phases: tuple[PhaseResult, ...]

    @property
    def total_time_s(self) -> float:
        return sum(phase.time_s for phase in self.phases)

    @property
    def energy_j(self) -> float:
        """Energy to train on all devices, joules."""
        return sum(phase.energy_j for phase in self.phases)

    def summary(self) -> dict[str, Any]:
        """The run as one JSON-ready object."""
        return {
            "schedule": self.schedule.name,
            "model": self.schedule.model,
            "hw": self.phases[0].step.hw.name,
            "engine": self.schedule.engine,
            "total_time_s": self.total_time_s,
            "energy_j": self.energy_j,
            "steps": sum(phase.phase.steps for phase in self.phases),
            "flop_convention": "model_flops = 3 x traced forward FLOPs (DeepSpeed blog "
            "2020-05-28); achieved_flops = every traced FLOP of forward, backward, optimizer",
            "phases": [phase.row() for phase in self.phases],
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per phase."""
        import pandas as pd

        return pd.DataFrame([phase.row() for phase in self.phases])


def time_to_train(
    schedule: Schedule, *, engine: str | None = None, store: GraphStore | None = None
) -> TrainingRun:
    """Cost every phase of a schedule (with ``engine`` instead of the schedule's, if given).

    Raises:
        PerfsimError: naming the schedule file and the phase (e.g. a batch that does not
            split over the devices).
    """
    from perfsim.pipeline import simulate, simulate_parallel

    if engine is not None:
        schedule = replace(schedule, engine=engine)
    results = []
    for index, phase in enumerate(schedule.phases):
        try:
            step = simulate_parallel(
                phase.scenario, schedule.hw, engine=schedule.engine, store=store
            )
            seconds = joules = 0.0
            if phase.evaluation is not None:
                scenario = evaluation_scenario(phase.scenario, phase.evaluation)
                one = simulate(scenario, schedule.hw, engine=schedule.engine, store=store)
                passes = phase.evaluation.passes(phase.devices)
                # the devices evaluate their shares side by side, pass after pass
                seconds = passes * one.latency_s
                joules = passes * one.energy_j * phase.devices
        except PerfsimError as error:
            raise type(error)(
                f"{schedule.path or schedule.name}: phases[{index}]: {error}"
            ) from None
        results.append(PhaseResult(phase, step, seconds, joules))
    return TrainingRun(schedule, tuple(results))


__all__ = ["PhaseResult", "TrainingRun", "time_to_train"]
