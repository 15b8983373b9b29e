"""`perfsim validate`'s spread and summary figures, on injected measurements.

Cases are built from one real prediction (bert-tiny b1 s16 on the Xeon file) and hand-made
`Measurement` records, so every figure below is arithmetic on known numbers. The last
tests check that `results/validation/README.md` quotes what its CSVs hold.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from perfsim.cache import GraphStore
from perfsim.estimate import Result
from perfsim.hardware import load_hardware
from perfsim.pipeline import estimate
from perfsim.validation import CaseResult, Measurement, compare, results_json, summary_frame
from perfsim.validation.report import validation_footer, validation_tables
from perfsim.validation.summary import csv_pairs, summarize
from perfsim.validation.validate import default_threads, error_summaries, host_hardware
from perfsim.workload import load_workload

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "validation"


@pytest.fixture(scope="module")
def prediction(store: GraphStore) -> Result:
    xeon = load_hardware(ROOT / "hwconfigs" / "xeon-8380.yaml")
    workload = load_workload("bert-tiny", batch=1, seq=16, precision="fp32")
    return estimate(workload, host_hardware(xeon, 1), store=store)


def measurement(samples: tuple[float, ...], load: float | None = 0.0) -> Measurement:
    """A hand-made measurement: ``samples`` timed passes, their median the wall time."""
    wall = sorted(samples)[len(samples) // 2]
    return Measurement(
        model="bert-tiny",
        batch=1,
        seq=16,
        device="cpu",
        threads=1,
        warmup=1,
        repeats=len(samples),
        attention="auto",
        wall_s=wall,
        wall_samples_s=samples,
        category_s={"gemm": wall / 2},
        overhead_s=wall / 2,
        profiled_s=wall,
        profiled_category_s={"gemm": wall / 2},
        profiled_overhead_s=wall / 2,
        events_per_forward=10,
        op_s={},
        op_calls={},
        foreign_load=load,
    )


def case_at(prediction: Result, median_over_predicted: float, load: float = 0.0) -> CaseResult:
    """A case whose median pass is ``median_over_predicted`` x the prediction, its fastest
    pass 0.8 x the median and its slowest 1.5 x."""
    median = prediction.latency_s * median_over_predicted
    return compare(prediction, measurement((0.8 * median, median, 1.5 * median), load))


def test_case_states_the_spread_of_its_passes(prediction: Result) -> None:
    case = case_at(prediction, 2.0, load=0.25)
    m = case.measurement
    assert (m.fastest_s, m.slowest_s) == (0.8 * m.wall_s, 1.5 * m.wall_s)
    assert m.spread == pytest.approx(0.7)  # (1.5 - 0.8) / 1
    # predicted p, median 2p -> -50%; fastest 1.6p -> 1/1.6 - 1 = -37.5%
    assert case.error == pytest.approx(-0.5)
    assert case.error_fastest == pytest.approx(-0.375)
    row = summary_frame([case]).iloc[0]
    assert row["measured_min_s"] == m.fastest_s and row["measured_max_s"] == m.slowest_s
    assert row["error_fastest"] == pytest.approx(-0.375)
    assert row["timed_passes"] == 3 and row["foreign_load"] == 0.25
    title = validation_tables([case])[0][0]
    assert "spread 70.0%" in title and "others' CPU 25.0%" in title and "(3)" in title


def test_summary_against_the_median_and_the_fastest_pass(prediction: Result) -> None:
    # medians 1.0, 1.25, 2.0 x predicted: errors 0, -20%, -50%
    cases = [case_at(prediction, ratio) for ratio in (1.0, 1.25, 2.0)]
    median, fastest = error_summaries(cases)
    assert median.median_abs == pytest.approx(0.2)
    assert median.worst == pytest.approx(-0.5) and median.worse_than_bound == 1
    # fastest passes 0.8, 1.0, 1.6 x predicted: +25%, 0, -37.5%
    assert fastest.median_abs == pytest.approx(0.25)
    assert fastest.worst == pytest.approx(-0.375)
    summary = results_json(cases)["summary"]
    assert summary["median_run"]["median_abs_error"] == pytest.approx(0.2)
    assert summary["median_run"]["worse_than_35pct"] == 1
    assert summary["fastest_run"]["worst_error"] == pytest.approx(-0.375)
    footer = validation_footer(cases)
    assert "against each case's median pass: median |error| 20.0%, worst -50.0%" in footer
    assert "against each case's fastest pass: median |error| 25.0%, worst -37.5%" in footer
    assert "other processes while measuring: 0% of the CPUs at most" in footer


def test_summarize_by_hand() -> None:
    summary = summarize([("a", 0.1), ("b", -0.4), ("c", math.nan), ("d", 0.36)])
    assert (summary.cases, summary.worst, summary.worst_label) == (3, -0.4, "b")
    assert summary.median_abs == pytest.approx(0.36)
    assert summary.worse_than_bound == 2
    assert summarize([]).cases == 0 and "no cases" in summarize([]).text("x")


@pytest.mark.parametrize("run", [1, 2, 3])
def test_readme_quotes_what_the_csvs_hold(run: int) -> None:
    """The README's host-2threads rows are `python -m perfsim.validation.summary`'s lines."""
    path = RESULTS / "host-2threads" / f"validation-run{run}.csv"
    line = summarize(csv_pairs(path)).text("the median run")
    readme = (RESULTS / "README.md").read_text(encoding="utf-8")
    assert f"validation-run{run}.csv: {line}" in readme


@pytest.mark.parametrize("name", ["cal1", "cal2"])
def test_readme_quotes_the_session_4_runs(name: str) -> None:
    """The quiet-machine checks of issue 13 quote `summarize`'s line for each CSV."""
    path = RESULTS / "host-2threads-s4" / f"validation-{name}.csv"
    line = summarize(csv_pairs(path)).text("the median run")
    readme = (RESULTS / "README.md").read_text(encoding="utf-8")
    assert f"validation-{name}.csv: {line}" in readme


def test_default_threads_never_exceed_the_file() -> None:
    import torch

    xeon = load_hardware(ROOT / "hwconfigs" / "xeon-8380.yaml")
    assert default_threads(xeon) == min(torch.get_num_threads(), xeon.compute.units)
    one = xeon.model_copy(update={"compute": xeon.compute.model_copy(update={"units": 1})})
    assert default_threads(one) == 1
