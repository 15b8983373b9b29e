"""Predicted against published: the rows of a training run's comparison with the figures
its schedule's ``published`` blocks give (`perfsim.parallel.schedule`)."""

from __future__ import annotations

from typing import Any

from perfsim.parallel.training_run import TrainingRun

# published figures a schedule may give, and the predicted key each compares with
PHASE_METRICS = ("throughput_samples_per_s", "model_flops_per_s_per_device", "step_time_s")
RUN_METRICS = ("total_time_s",)


def compare_published(run: TrainingRun) -> list[dict[str, Any]]:
    """Predicted vs published for every figure the schedule's ``published`` blocks give.

    ``error`` is ``predicted / published - 1`` (positive: perfsim predicts more).
    """
    rows = []
    for phase in run.phases:
        predicted = phase.row()
        for metric in PHASE_METRICS:
            if metric in phase.phase.published:
                rows.append(
                    _comparison(
                        run, phase.phase.name, metric, predicted[metric], phase.phase.published
                    )
                )
                rows[-1]["whatif"] = phase.phase.whatif
    published = run.schedule.published or {}
    for metric in RUN_METRICS:
        if metric in published:
            rows.append(_comparison(run, "all", metric, run.total_time_s, published))
            rows[-1]["whatif"] = "; ".join(
                f"{phase.phase.name}: {phase.phase.whatif}" for phase in run.phases
            )
    return rows


def _comparison(
    run: TrainingRun, phase: str, metric: str, predicted: float, published: dict[str, Any]
) -> dict[str, Any]:
    reference = float(published[metric])
    return {
        "schedule": run.schedule.name,
        "hw": run.phases[0].step.hw.name,
        "phase": phase,
        "metric": metric,
        "predicted": predicted,
        "published": reference,
        "error": predicted / reference - 1.0,
        "source": published["source"],
    }


__all__ = ["PHASE_METRICS", "RUN_METRICS", "compare_published"]
