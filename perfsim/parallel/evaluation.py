"""Evaluations inside a training run: forward passes over held-out sequences between steps.

A published training figure often runs its clock through them. MLPerf times a run from
``run_start`` to ``run_stop``, and NVIDIA's MLPerf Training v1.0 BERT (mlcommons/
training_results_v1.0, NVIDIA ``dgxa100_ngc21.05_pytorch``) evaluates 10,000 cached
sequences, 16 a GPU a batch (``--eval_batch_size=16``), after every 150,000 trained
(``--eval_iter_start_samples=150000 --eval_iter_samples=150000``): its throughput,
``train_samples / raw_train_time``, holds 20 of them.

A schedule phase's ``evaluation:`` block (``every_samples``, ``samples``, ``batch``) prices
them (`evaluation_scenario`): one evaluation is ``ceil(samples / (batch x devices))``
forward passes of ``batch`` sequences on each device, run one after another, with the
phase's model, precision and graph what-ifs, in inference mode. Assumptions, each a stated
choice:

- Amortized: a phase of ``steps`` steps holds ``steps x global batch / every_samples``
  evaluations, a fraction where a run's evaluations do not divide its steps (a phase that
  stands for a throughput figure, ``steps: 1``, carries its share of them). A run that
  starts evaluating late (MLPerf v0.7's NVIDIA code: from 3,000,000 samples, every 500,000)
  is given its own rate instead, its evaluations over its trained samples, which is what a
  whole-run figure holds.
- The encoder's forward only: the masked-LM head's accuracy over the ~15% masked positions
  and the loss are left out (``mlm_positions`` needs a training graph), as are the host's
  accuracy reduction and the evaluation data's loading (cached in memory in the runs above).
- Real sequence lengths: the batch takes the mid-quantiles of the phase's lengths
  (`representative_lengths`), as a held-out set drawn like the training data, padded or
  packed as the phase runs them.

Pure functions; SI units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from perfsim.scenario import Parallelism, Scenario


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Evaluate ``samples`` sequences, ``batch`` a device a pass, after every
    ``every_samples`` trained sequences."""

    every_samples: int
    samples: int
    batch: int

    def passes(self, devices: int) -> int:
        """Forward passes each device runs for one evaluation."""
        return math.ceil(self.samples / (self.batch * devices))

    def per_step(self, global_batch: int) -> float:
        """Evaluations a training step of ``global_batch`` sequences carries (amortized)."""
        return global_batch / self.every_samples

    def label(self) -> str:
        """``samples/every_samples@batch``, for a phase's what-if column."""
        return f"{self.samples}/{self.every_samples}@{self.batch}"


def representative_lengths(lengths: Sequence[int], count: int) -> tuple[int, ...]:
    """``count`` lengths at the mid-quantiles ``(i + 0.5) / count`` of ``lengths``."""
    ordered = sorted(lengths)
    return tuple(ordered[int((i + 0.5) * len(ordered) / count)] for i in range(count))


def evaluation_scenario(training: Scenario, evaluation: Evaluation) -> Scenario:
    """One device's evaluation pass: the training scenario's model, sequence length,
    precision and graph what-ifs, forward only, ``evaluation.batch`` sequences."""
    lengths = training.lengths
    if lengths is not None:
        lengths = replace(
            lengths, lengths=representative_lengths(lengths.lengths, evaluation.batch)
        )
    return replace(
        training,
        batch=evaluation.batch,
        mode="inference",
        parallel=Parallelism(),
        whatifs=replace(training.whatifs, mlm_positions=0.0),
        lengths=lengths,
    )


__all__ = ["Evaluation", "evaluation_scenario", "representative_lengths"]
