"""Predicted vs measured: one `CaseResult` per (model, batch, seq), and tidy frames of them.

The prediction is perfsim's estimate of the same model, batch and sequence length at
fp32 on the given hardware. When the measurement runs on the CPU with ``threads`` set,
the hardware is the same machine with that many cores: ``compute.units`` becomes
``threads`` (per-core memory levels follow; shared ones, L3 and DRAM, do not).
"""

from __future__ import annotations

import logging
import math
import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfsim.cache import GraphStore
from perfsim.estimate import Result
from perfsim.hardware import HardwareSpec, resolve_hardware
from perfsim.hardware.threads import at_threads
from perfsim.ir import Category
from perfsim.pipeline import simulate
from perfsim.scenario import Scenario
from perfsim.validation.attribution import OVERHEAD
from perfsim.validation.measure import Measurement, MeasureOptions, measure_model
from perfsim.validation.summary import ErrorSummary, summarize
from perfsim.whatif.fusion import SDPA_FUSION
from perfsim.whatif.knobs import parse_whatifs
from perfsim.workload import load_workload

if TYPE_CHECKING:
    import pandas as pd

TOTAL = "total"
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One validation case.

    ``error`` is signed, as a fraction: ``(predicted - measured) / measured`` (negative:
    perfsim is optimistic). Category maps are keyed by `Category` value; measured
    ``overhead`` (interpreter time and views, which perfsim's graph does not contain) is
    separate, so ``sum(measured_category_s) + measured_overhead_s == measured_s``.
    ``gemm_share_*`` is the ``gemm`` category's share of the total.
    """

    model: str
    hw: str
    engine: str
    device: str
    batch: int
    seq: int
    threads: int
    predicted_units: int
    predicted_s: float
    measured_s: float
    error: float
    predicted_category_s: Mapping[str, float]
    measured_category_s: Mapping[str, float]
    measured_overhead_s: float
    gemm_share_predicted: float
    gemm_share_measured: float
    measurement: Measurement

    @property
    def label(self) -> str:
        """``bert-base b8 s128``."""
        return f"{self.model} b{self.batch} s{self.seq}"

    @property
    def error_fastest(self) -> float:
        """Signed error against the case's fastest timed pass (``error`` is against the
        median one)."""
        fastest = self.measurement.fastest_s
        return (self.predicted_s - fastest) / fastest

    def category_rows(self) -> list[dict[str, Any]]:
        """Predicted vs measured per category (taxonomy order), then overhead and total."""
        present = set(self.predicted_category_s) | set(self.measured_category_s)
        names = [c.value for c in Category if c.value in present]
        rows = [
            _row(
                name,
                self.predicted_category_s.get(name, 0.0),
                self.measured_category_s.get(name, 0.0),
            )
            for name in names
        ]
        rows.append(_row(OVERHEAD, 0.0, self.measured_overhead_s))
        rows.append(_row(TOTAL, self.predicted_s, self.measured_s))
        for row in rows:
            row["predicted_share"] = row["predicted_s"] / self.predicted_s
            row["measured_share"] = row["measured_s"] / self.measured_s
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: scalar fields, the category table, and the measurement."""
        scalars = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in {"predicted_category_s", "measured_category_s", "measurement"}
        } | {"error_fastest": self.error_fastest}
        rows = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in self.category_rows()
        ]
        return {**scalars, "by_category": rows, "measurement": self.measurement.to_dict()}


def _row(name: str, predicted: float, measured: float) -> dict[str, Any]:
    error = (predicted - measured) / measured if measured > 0 else math.nan
    return {"category": name, "predicted_s": predicted, "measured_s": measured, "error": error}


def host_hardware(hw: HardwareSpec, threads: int) -> HardwareSpec:
    """``hw`` at ``threads`` threads when that is fewer than it has: ``units`` lowered, or
    the file's one-thread figures for a 1-thread run (`perfsim.hardware.threads`)."""
    return at_threads(hw, threads)


def compare(prediction: Result, measurement: Measurement) -> CaseResult:
    """Pair a costed estimate with a measurement of the same scenario (pure)."""
    predicted = {name: row["latency_s"] for name, row in prediction.by_category().items()}
    predicted_total = prediction.latency_s
    measured_total = measurement.wall_s
    gemm = Category.GEMM.value
    return CaseResult(
        model=measurement.model,
        hw=prediction.hw.name,
        engine=prediction.engine,
        device=measurement.device,
        batch=measurement.batch,
        seq=measurement.seq,
        threads=measurement.threads,
        predicted_units=prediction.hw.compute.units,
        predicted_s=predicted_total,
        measured_s=measured_total,
        error=(predicted_total - measured_total) / measured_total,
        predicted_category_s=predicted,
        measured_category_s=dict(measurement.category_s),
        measured_overhead_s=measurement.overhead_s,
        gemm_share_predicted=predicted.get(gemm, 0.0) / predicted_total if predicted_total else 0,
        gemm_share_measured=measurement.category_s.get(gemm, 0.0) / measured_total,
        measurement=measurement,
    )


def validate_case(
    case: Mapping[str, Any],
    hw: str | Path,
    *,
    engine: str = "roofline",
    options: MeasureOptions | None = None,
    store: GraphStore | None = None,
    progress: Callable[[str], None] | None = None,
) -> CaseResult:
    """Estimate one case ``{model, batch, seq[, threads]}`` at fp32 on ``hw``, measure it on
    this host, compare.

    ``hw`` is a built-in name or a YAML path; ``engine`` and ``store`` are those of
    `perfsim.pipeline.simulate` (PyTorch eager: ``runtime="eager"``); ``options`` those of
    `perfsim.validation.measure.measure_model` (default `MeasureOptions`; a case's
    ``threads`` win over ``options.threads``; with neither, a CPU file's `default_threads`).
    Disturbed measurements are repeated (`measure_quietly`).
    """
    spec = resolve_hardware(hw)
    model, batch, seq = case["model"], case["batch"], case["seq"]
    workload = load_workload(model, batch=batch, seq=seq, precision="fp32")
    options = options or MeasureOptions()
    scenario = measured_scenario(Scenario.from_workload(workload), options.attention)
    # cost first: a bad hardware file or engine fails before minutes of measuring
    simulate(scenario, spec, engine=engine, store=store)
    options = replace(options, threads=case.get("threads", options.threads))
    if options.threads is None and options.device == "cpu" and spec.kind == "cpu":
        options = replace(options, threads=default_threads(spec))
    measurement = measure_quietly(model, batch=batch, seq=seq, options=options, progress=progress)
    if options.device == "cpu":
        spec = host_hardware(spec, measurement.threads)
    return compare(simulate(scenario, spec, engine=engine, store=store), measurement)


def measured_scenario(scenario: Scenario, attention: str) -> Scenario:
    """``scenario`` as the measurement runs it: PyTorch eager (the host issues each op,
    `perfsim.timeline`), and with torch's own attention backend (``auto``) one fused SDPA
    kernel per attention block (the flash kernel on CPUs and recent GPUs: the scores never
    reach memory, `perfsim.whatif.fusion`); the ``math`` backend runs attention as traced."""
    fusion = SDPA_FUSION if attention == "auto" else "none"
    return scenario.but(runtime="eager", whatifs=parse_whatifs({"fusion": fusion}))


def default_threads(spec: HardwareSpec) -> int:
    """Threads a CPU case runs on when neither it nor the options say: torch's default,
    but no more than the file's ``compute.units`` (a file calibrated for fewer threads on
    a busy host describes the machine at that many)."""
    import torch

    return max(1, min(torch.get_num_threads(), spec.compute.units))


def measure_quietly(
    model: str,
    *,
    batch: int,
    seq: int,
    options: MeasureOptions,
    progress: Callable[[str], None] | None = None,
) -> Measurement:
    """`measure_model`, repeated while other processes disturb it.

    On a shared host a measurement during which other processes took more than
    ``options.max_foreign_load`` of the CPUs, beyond those it left idle (`idle_share`), is
    repeated, up to ``options.attempts`` measurements in all, and the least disturbed one
    is kept (its ``foreign_load`` is reported).
    """
    measurements: list[Measurement] = []
    while len(measurements) < max(1, options.attempts):
        measurements.append(
            measure_model(model, batch=batch, seq=seq, options=options, progress=progress)
        )
        load = measurements[-1].foreign_load
        if load is None or load <= options.max_foreign_load + idle_share(measurements[-1].threads):
            break
        logger.warning(
            "%s b%d s%d: other processes took %.0f%% of the CPUs; measuring again",
            model,
            batch,
            seq,
            100 * load,
        )
    return min(measurements, key=_disturbance)


def idle_share(threads: int, cpus: int | None = None) -> float:
    """Share of the machine's CPUs a ``threads``-thread run leaves idle (others may use it).

    On a 2-CPU host a 1-thread run leaves half the machine to other processes without
    being disturbed, so up to 0.5 of foreign load does not count against it.
    """
    total = cpus or os.cpu_count() or threads
    return max(0.0, (total - threads) / total)


def _disturbance(measurement: Measurement) -> float:
    """Others' share of the CPUs while it measured (0 where unknown): lower is better."""
    return measurement.foreign_load or 0.0


def validate_cases(
    cases: Sequence[Mapping[str, Any]],
    hw: str | Path,
    *,
    engine: str = "roofline",
    options: MeasureOptions | None = None,
    store: GraphStore | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[CaseResult]:
    """`validate_case` for each ``{model, batch, seq[, threads]}`` (a case's threads win)."""
    results = []
    for index, case in enumerate(cases, start=1):
        if progress:
            progress(f"[{index}/{len(cases)}] {case['model']} b{case['batch']} s{case['seq']}")
        results.append(
            validate_case(case, hw, engine=engine, options=options, store=store, progress=progress)
        )
    return results


SUMMARY_COLUMNS = (
    "model",
    "batch",
    "seq",
    "threads",
    "device",
    "hw",
    "engine",
    "predicted_s",
    "measured_s",
    "error",
    "abs_error",
    "measured_min_s",
    "measured_max_s",
    "error_fastest",
    "timed_passes",
    "gemm_share_predicted",
    "gemm_share_measured",
    "overhead_share_measured",
    "spread",
    "profiler_inflation",
    "foreign_load",
)


def summary_frame(results: Sequence[CaseResult]) -> pd.DataFrame:
    """One row per case (`SUMMARY_COLUMNS`; errors and shares as fractions)."""
    import pandas as pd

    rows = [
        {
            "model": r.model,
            "batch": r.batch,
            "seq": r.seq,
            "threads": r.threads,
            "device": r.device,
            "hw": r.hw,
            "engine": r.engine,
            "predicted_s": r.predicted_s,
            "measured_s": r.measured_s,
            "error": r.error,
            "abs_error": abs(r.error),
            "measured_min_s": r.measurement.fastest_s,
            "measured_max_s": r.measurement.slowest_s,
            "error_fastest": r.error_fastest,
            "timed_passes": len(r.measurement.wall_samples_s),
            "gemm_share_predicted": r.gemm_share_predicted,
            "gemm_share_measured": r.gemm_share_measured,
            "overhead_share_measured": r.measured_overhead_s / r.measured_s,
            "spread": r.measurement.spread,
            "profiler_inflation": r.measurement.profiler_inflation,
            "foreign_load": r.measurement.foreign_load,
        }
        for r in results
    ]
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def category_frame(results: Sequence[CaseResult]) -> pd.DataFrame:
    """Long format: one row per case and category (plus overhead and total)."""
    import pandas as pd

    rows = [
        {"model": r.model, "batch": r.batch, "seq": r.seq, "threads": r.threads, **row}
        for r in results
        for row in r.category_rows()
    ]
    return pd.DataFrame(rows)


def median_abs_error(results: Sequence[CaseResult]) -> float:
    """Median over cases of ``|error|`` (a fraction); NaN without cases."""
    return statistics.median(abs(r.error) for r in results) if results else math.nan


def error_summaries(results: Sequence[CaseResult]) -> tuple[ErrorSummary, ErrorSummary]:
    """(against each case's median timed pass, against its fastest) (`summarize`)."""
    median = summarize((r.label, r.error) for r in results)
    return median, summarize((r.label, r.error_fastest) for r in results)


def _summary_json(summary: ErrorSummary) -> dict[str, Any]:
    def number(value: float) -> float | None:
        return None if math.isnan(value) else value

    return {
        "median_abs_error": number(summary.median_abs),
        "worst_error": number(summary.worst),
        "worst_case": summary.worst_label,
        f"worse_than_{round(summary.bound * 100)}pct": summary.worse_than_bound,
    }


def results_json(results: Sequence[CaseResult]) -> dict[str, Any]:
    """The ``--format json`` object: every case, the median absolute error (against each
    case's median pass), and the summaries against the median and the fastest pass."""
    mae = median_abs_error(results)
    median, fastest = error_summaries(results)
    return {
        "cases": [r.to_dict() for r in results],
        "median_abs_error": None if math.isnan(mae) else mae,
        "summary": {"median_run": _summary_json(median), "fastest_run": _summary_json(fastest)},
    }
