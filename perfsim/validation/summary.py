"""The figures a validation run is judged by: median and worst |error| over its cases.

Errors are signed fractions, ``(predicted - measured) / measured``. The headline figures
are against each case's **median** timed pass (what the machine usually does, the issue's
yardstick); the same figures against each case's **fastest** pass (the least disturbed
one) are kept beside them, so a busy machine's share of the miss stays visible. Pure
functions of (label, error) pairs, so committed CSVs are summarized by the same code
(``python -m perfsim.validation.summary results/validation/host-2threads/*.csv``).
"""

from __future__ import annotations

import csv
import math
import statistics
import sys
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


def main(paths: Sequence[str]) -> None:
    """Print one summary line per validation CSV (the README's figures)."""
    for name in paths:
        print(f"{name}: {summarize(csv_pairs(Path(name))).text('the median run')}")


if __name__ == "__main__":
    main(sys.argv[1:])
