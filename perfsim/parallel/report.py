"""Tables and files of ``perfsim train``: phases, predicted vs published, one JSON object."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from perfsim.parallel.published import compare_published
from perfsim.parallel.training_run import TrainingRun

if TYPE_CHECKING:
    import pandas as pd

TRAINING_FILES = ("phases.csv", "validation.csv", "validation.md", "training.json")


def phases_frame(runs: Sequence[TrainingRun]) -> pd.DataFrame:
    """One row per phase of every run, SI units."""
    import pandas as pd

    rows = [
        {"schedule": run.schedule.name, "hw": run.summary()["hw"], **phase.row()}
        for run in runs
        for phase in run.phases
    ]
    return pd.DataFrame(rows)


def comparison_frame(runs: Sequence[TrainingRun]) -> pd.DataFrame:
    """Predicted vs published rows of every run that carries published figures."""
    import pandas as pd

    columns = [
        "schedule",
        "hw",
        "phase",
        "metric",
        "predicted",
        "published",
        "error",
        "whatif",
        "source",
    ]
    return pd.DataFrame([row for run in runs for row in compare_published(run)], columns=columns)


def training_json(runs: Sequence[TrainingRun]) -> dict[str, Any]:
    """Every run's summary and the predicted-vs-published rows."""
    return {
        "runs": [run.summary() for run in runs],
        "validation": comparison_frame(runs).to_dict("records"),
    }


def validation_markdown(frame: pd.DataFrame, command: str) -> str:
    """Predicted vs published as a Markdown table, with the command that made it."""
    lines = [
        "| schedule | hw | phase | metric | predicted | published | error | what-ifs |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in frame.to_dict("records"):
        lines.append(
            f"| {row['schedule']} | {row['hw']} | {row['phase']} | {row['metric']} | "
            f"{row['predicted']:.4g} | {row['published']:.4g} | {row['error']:+.1%} | "
            f"{row['whatif']} |"
        )
    sources = sorted({str(source) for source in frame["source"]})
    return (
        f"Made by `{command}`.\n\n"
        + "\n".join(lines)
        + "\n\nSources:\n\n"
        + "\n".join(f"- {source}" for source in sources)
        + "\n"
    )


def render_training_outputs(runs: Sequence[TrainingRun], command: str) -> dict[str, str]:
    """File name → contents, rendered in memory so a failure writes nothing."""
    comparison = comparison_frame(runs)
    return {
        "phases.csv": phases_frame(runs).to_csv(index=False),
        "validation.csv": comparison.to_csv(index=False),
        "validation.md": validation_markdown(comparison, command),
        "training.json": json.dumps(training_json(runs), indent=2) + "\n",
    }
