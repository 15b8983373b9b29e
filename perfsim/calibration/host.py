"""``measure_host``: one host calibration from start to finish.

Reads the foreign load and adapts (`perfsim.calibration.contention`), runs the
microbenchmarks of `perfsim.calibration.cpu` in rounds taken in turn across all figures
(`perfsim.calibration.rounds`), refuses when a figure's best rounds disagree, and returns
the `Calibration` record.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from perfsim.calibration import probe
from perfsim.calibration.contention import (
    BUSY_CPUS,
    WINDOW_S,
    Adaptation,
    Instruments,
    adapt,
    sample_foreign_cpus,
)
from perfsim.calibration.cpu import (
    GEMM_DTYPES,
    HostPlan,
    host_steps,
    weight_pool_bytes,
)
from perfsim.calibration.eager import efficiency_points, packing_bandwidth
from perfsim.calibration.framework_refill import RefillResult
from perfsim.calibration.fresh_pages import FreshPagesResult
from perfsim.calibration.gemm_shape import efficiency_table
from perfsim.calibration.kernels import int8_skip_reason
from perfsim.calibration.record import (
    CONTENTION_WARNING,
    BandwidthResult,
    Calibration,
    ElementCostResult,
    GemmResult,
    VectorResult,
)
from perfsim.calibration.rounds import Step, run_interleaved
from perfsim.calibration.timing import (
    Effort,
    Figure,
    Progress,
    UnsettledFigureError,
    UnstableCalibrationError,
    contended,
    effort,
    refusal,
)

logger = logging.getLogger(__name__)


def run_watched(
    steps: list[Step],
    how: Effort,
    progress: Progress | None,
    tools: Instruments,
    foreign_before: float | None,
) -> tuple[list[object], float | None]:
    """`run_interleaved`, and the share of the CPUs other processes used meanwhile (logged above
    `CONTENTION_WARNING`; None where it cannot be read).

    Where figures are unsettled after the planned rounds of an attempt planned for a quiet
    machine (``foreign_before`` under `BUSY_CPUS`) and others were busy meanwhile, the
    attempt stops there: the next one is planned for the load seen (`replan`), so the
    figures' further rounds would be thrown away (two attempts on the busy 2-core VM ran
    them for 282 and 365 s before refusing).

    Raises:
        UnstableCalibrationError: a figure did not settle (the run stops there); its
            message states the figure and the load before and during.
    """
    busy_before, own_before = tools.cpu_seconds(), tools.own_seconds()
    cpus = os.cpu_count() or 1

    def others() -> float | None:
        after, own = tools.cpu_seconds(), tools.own_seconds() - own_before
        return probe.contention(busy_before, after, own)

    def neighbour_appeared() -> bool:
        during = others()
        planned_quiet = foreign_before is None or foreign_before < BUSY_CPUS
        return planned_quiet and during is not None and during * cpus >= BUSY_CPUS

    try:
        results = run_interleaved(steps, how, progress, neighbour_appeared)
    except UnsettledFigureError as stop:
        during = others()
        load = _load_text(foreign_before, during, cpus)
        message = refusal(stop.figure, stop.tolerance, load, _quiet(foreign_before, during, cpus))
        raise UnstableCalibrationError(message, during) from None
    share = others()
    if share is not None and share > CONTENTION_WARNING:
        # NB: info, not a warning: the agreement check decides, and its refusal says this
        logger.info("other processes used %.0f%% of the CPUs during calibration", 100 * share)
    return results, share


def plan_threads(
    threads: int | None,
    quick: bool,
    tools: Instruments,
    progress: Progress | None,
    how: Effort,
) -> Adaptation:
    """Threads and effort for this run: the foreign load read over an idle window first
    (`perfsim.calibration.contention.adapt`)."""
    import torch

    if progress is not None:
        progress("reading the load of other processes", 0.0)
    cpus = len(probe.used_cpus(os.cpu_count() or 1))
    foreign = sample_foreign_cpus(tools, os.cpu_count() or cpus, 0.05 if quick else WINDOW_S)
    units = threads or torch.get_num_threads()
    chosen = adapt(units, cpus, foreign, how, fixed_threads=threads is not None)
    if chosen.refusal:
        raise UnstableCalibrationError(chosen.refusal, None)
    if chosen.note:
        logger.warning("%s", chosen.note)
    return chosen


def replan(
    chosen: Adaptation, failed: UnstableCalibrationError, threads: int | None, how: Effort
) -> Adaptation | None:
    """The adaptation for a second attempt after ``failed``, from the foreign load seen
    *during* the first (a neighbour that started after the idle window); None where it
    would change nothing (then the calibration refuses)."""
    import torch

    if failed.foreign_share is None:
        return None
    cpus = len(probe.used_cpus(os.cpu_count() or 1))
    during = failed.foreign_share * (os.cpu_count() or cpus)
    foreign = max(chosen.foreign_cpus or 0.0, during)
    patient = contended(how)
    if foreign < BUSY_CPUS and chosen.how.max_rounds < patient.max_rounds:
        # quiet before and during: the figure's own jitter (a few-microsecond GEMM on a
        # 2-core VM), not a neighbour; more rounds let its best repeat
        more = replace(chosen.how, max_rounds=patient.max_rounds)
        note = f"a quiet machine, a jittery figure: up to {more.max_rounds} rounds per figure"
        logger.warning("figures did not settle; measuring again: %s", note)
        return Adaptation(chosen.units, more, chosen.foreign_cpus, note)
    units = threads or torch.get_num_threads()
    again = adapt(units, cpus, foreign, how, fixed_threads=threads is not None)
    if again.refusal:
        raise UnstableCalibrationError(again.refusal, failed.foreign_share)
    if again.units >= chosen.units and again.how.rounds <= chosen.how.rounds:
        return None
    logger.warning("figures did not settle; measuring again: %s", again.note)
    return again


def _quiet(before: float | None, during: float | None, cpus: int) -> bool:
    """No other process was busy, before (busy CPUs) or during (a share of the CPU time):
    both readable and under `BUSY_CPUS` of a CPU."""
    if before is None or during is None:
        return False
    return before < BUSY_CPUS and during * cpus < BUSY_CPUS


def _load_text(before: float | None, during: float | None, cpus: int) -> str:
    seen = "unknown" if before is None else f"{before:.1f} of {cpus} CPUs"
    share = "unknown" if during is None else f"{100 * during:.0f}% of the CPU time"
    return f"other processes: {seen} busy before, {share} during"


def measure_host(
    *,
    threads: int | None = None,
    quick: bool = False,
    progress: Progress | None = None,
    tools: Instruments | None = None,
    how: Effort | None = None,
) -> Calibration:
    """Measure this host's CPU with torch microbenchmarks.

    Args:
        threads: threads to calibrate for (the file's ``compute.units``); default
            ``torch.get_num_threads()``, and then a refusal where other processes keep
            the CPUs those threads need busy (`perfsim.calibration.contention.adapt`).
        quick: tiny sizes and few repetitions (seconds, for tests); the figures are then
            not representative, and their spread is not checked.
        progress: called as ``progress(step, fraction_done)`` before each step and with
            ``("done", 1.0)`` at the end.
        tools: the clocks and load readings (default: this host's); tests inject them.
        how: the effort before adapting (default `effort(quick, tools.timer)`).

    Returns:
        The raw measurements; `calibration_yaml` turns them into a hardware file.

    Raises:
        UnstableCalibrationError: some figure's fastest rounds still disagreed by more
            than the tolerance after the most rounds allowed (a busy machine), also
            after a second attempt adapted to the load seen during the first; or other
            processes keep busy CPUs the threads asked for need (not given ``threads``).
    """
    tools = tools or Instruments()
    start = tools.clock()
    base = how or effort(quick, tools.timer)
    chosen = plan_threads(threads, quick, tools, progress, base)
    while True:
        try:
            return measure_once(chosen, quick=quick, progress=progress, tools=tools, start=start)
        except UnstableCalibrationError as failed:
            again = replan(chosen, failed, threads, base)
            if again is None:
                raise
            chosen = again


def measure_once(
    chosen: Adaptation,
    *,
    quick: bool,
    progress: Progress | None,
    tools: Instruments,
    start: float,
) -> Calibration:
    """One attempt of `measure_host` at ``chosen`` threads and effort."""
    import torch

    units, figures = chosen.units, list[Figure]()
    how = replace(chosen.how, record=figures.append)
    root = Path("/")
    info = probe.read_cpuinfo(root)
    clock_hz, clock_source = probe.read_clock(root, info)
    isa, tile, tile_source = probe.detect_isa(info.flags)
    memory = probe.read_memory(root, units)
    spare = probe.available_memory_bytes(root) // 4
    pool = weight_pool_bytes(memory, spare, quick)
    skipped = int8_skip_reason()
    gemm_dtypes = tuple(d for d in GEMM_DTYPES if not (d == "int8" and skipped))
    plan = HostPlan(units, how, quick, memory, spare, pool, gemm_dtypes)
    steps = host_steps(plan)
    results, others = run_watched(steps, how, progress, tools, chosen.foreign_cpus)
    dispatch, framework, single, ladder, packing, grid, fresh = results[:7]
    packing_rate, packing_how = packing_bandwidth(packing, pool)  # type: ignore[arg-type]
    assert isinstance(dispatch, float) and isinstance(framework, tuple)
    assert isinstance(single, tuple) and isinstance(ladder, tuple) and isinstance(grid, tuple)
    assert isinstance(fresh, FreshPagesResult)
    overhead, overhead_how = framework
    fp32 = [r for r in results if isinstance(r, GemmResult) and r.dtype == "fp32"]
    shapes = next(r for r in fp32 if r.threads == units)
    timed = tuple(((m, nk, nk), t) for m, nk, t in ladder) + grid
    table = efficiency_table(timed, dispatch, max(shapes.flops_per_s))
    # the ladder is the grid's n = k row, of the same peak (the best fp32 rate seen)
    efficiency, efficiency_how = efficiency_points(ladder, table.peak_flops_per_s, dispatch)
    return Calibration(
        device="cpu",
        model_name=info.model_name,
        torch_version=torch.__version__,
        units=units,
        clock_hz=clock_hz,
        clock_source=clock_source,
        isa=isa,
        tile=tile,
        tile_source=tile_source,
        memory=memory,
        gemm=tuple(r for r in results if isinstance(r, GemmResult)),
        vector=tuple(r for r in results if isinstance(r, VectorResult)),
        bandwidth=tuple(r for r in results if isinstance(r, BandwidthResult)),
        op_overhead_s=overhead,
        op_overhead_how=(
            f"{overhead_how}; {units} thread(s); for comparison one bare dispatch "
            f"(torch.add of 1-element tensors) {dispatch * 1e6:.3g} us"
        ),
        op_overhead_serial=True,
        gemm_efficiency=efficiency,
        gemm_efficiency_how=efficiency_how,
        gemm_efficiency_grid=table,
        weight_packing_bytes_per_s=packing_rate,
        weight_packing_how=packing_how,
        skipped=(skipped,) if skipped else (),
        quick=quick,
        wall_s=tools.clock() - start,
        contention=others,
        single_thread_op_overhead_s=single[0],
        rounds=rounds_summary(figures, how),
        adaptation=chosen.note,
        fresh_pages=fresh,
        element_costs=next((r for r in results if isinstance(r, ElementCostResult)), None),
        framework_refill=next((r for r in results if isinstance(r, RefillResult)), None),
    )


def rounds_summary(figures: list[Figure], how: Effort) -> str:
    """One line on how the figures were timed and how well their best rounds agreed."""
    if not figures:
        return ""
    worst = max(figures, key=lambda figure: figure.spread)
    counts = sorted({len(figure.rounds) for figure in figures})
    rounds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    check = (
        f"each figure's fastest third (at most 3) of rounds within {how.tolerance:.0%}"
        if how.tolerance is not None
        else "spread not checked (quick run)"
    )
    return (
        f"{len(figures)} figures, each the best of {rounds} rounds, taken in turn with the "
        f"other figures' so that each figure's rounds span the run (a round: the median of "
        f"up to {how.batches} timed loops of ~{how.target_s * 1e3:.3g} ms); {check}; widest "
        f"{worst.spread:.1%} ({worst.label})"
    )
