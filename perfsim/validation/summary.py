"""The figures a validation run is judged by: median and worst |error| over its cases.

Errors are signed fractions, ``(predicted - measured) / measured``. The headline figures
are against each case's **median** timed pass (what the machine usually does, the issue's
yardstick); the same figures against each case's **fastest** pass (the least disturbed
one) are kept beside them, so a busy machine's share of the miss stays visible. Pure
functions of (label, error) pairs, so committed CSVs are summarized by the same code
(``python results/validation/summarize.py results/validation/host-2threads/*.csv``).
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# the bound the README counts cases against (issue 6's worst-case target)
WORSE_THAN: Final = 0.35


@dataclass(frozen=True, slots=True)
class ErrorSummary:
    """Median and worst |error| over cases, and how many are worse than ``bound``."""

    cases: int
    median_abs: float  # NaN without cases
    worst: float  # signed error of the worst case, NaN without cases
    worst_label: str
    bound: float
    worse_than_bound: int

    def text(self, against: str) -> str:
        """``median |error| 12.5%, worst -30.6% (bert-tiny b32 s512), 0 worse than 35%``."""
        if not self.cases:
            return f"no cases ({against})"
        return (
            f"against {against}: median |error| {self.median_abs:.1%}, worst "
            f"{self.worst:+.1%} ({self.worst_label}), {self.worse_than_bound} of {self.cases} "
            f"worse than {self.bound:.0%}"
        )


def summarize(pairs: Iterable[tuple[str, float]], bound: float = WORSE_THAN) -> ErrorSummary:
    """`ErrorSummary` of (case label, signed error) pairs (pure)."""
    rows = [(label, error) for label, error in pairs if not math.isnan(error)]
    if not rows:
        return ErrorSummary(0, math.nan, math.nan, "", bound, 0)
    label, worst = max(rows, key=lambda row: abs(row[1]))
    return ErrorSummary(
        cases=len(rows),
        median_abs=statistics.median(abs(error) for _, error in rows),
        worst=worst,
        worst_label=label,
        bound=bound,
        worse_than_bound=sum(abs(error) > bound for _, error in rows),
    )


def csv_pairs(path: Path, column: str = "error") -> list[tuple[str, float]]:
    """(``model bB sS``, error) per row of a ``perfsim validate --format csv`` file."""
    with open(path, encoding="utf-8") as handle:
        return [
            (f"{row['model']} b{row['batch']} s{row['seq']}", float(row[column]))
            for row in csv.DictReader(handle)
        ]


def across_runs(paths: Sequence[Path], pick: str) -> list[tuple[str, float]]:
    """(label, error) per case against its ``min`` or ``median`` measured time over several
    runs of the same cases (``perfsim validate --format csv`` files; the prediction is
    the first file's)."""
    runs = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            runs.append(list(csv.DictReader(handle)))
    reduce = min if pick == "min" else statistics.median
    pairs = []
    for rows in zip(*runs, strict=True):
        first = rows[0]
        measured = reduce(float(row["measured_s"]) for row in rows)
        label = f"{first['model']} b{first['batch']} s{first['seq']}"
        pairs.append((label, float(first["predicted_s"]) / measured - 1.0))
    return pairs


def main(paths: Sequence[str]) -> None:
    """Print one summary line per validation CSV (the README's figures), and with several
    runs of the same cases, against each case's median and fastest run over them."""
    for name in paths:
        print(f"{name}: {summarize(csv_pairs(Path(name))).text('the median run')}")
    if len(paths) > 1:
        files = [Path(name) for name in paths]
        for pick, what in (("median", "median"), ("min", "fastest")):
            against = f"each case's {what} of the {len(files)} runs"
            print(f"all {len(files)} runs: {summarize(across_runs(files, pick)).text(against)}")
