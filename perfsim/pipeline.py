"""THE pipeline: a `Scenario` on a device → a costed `Result`.

graph source (the store, or a trace) → sequence lengths → precision → what-ifs → engine →
energy → result. This module is the only place those steps are put together; every front
end (CLI, sweeps, studies, schedules, validation, compare) calls `simulate`,
`simulate_parallel` or `run`, and the sweep's grouped fast path starts from `typed_graph`
(tested equal to `simulate` in ``tests/test_pipeline.py``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from perfsim.cache import GraphStore
from perfsim.estimate import Result, check_precision
from perfsim.hardware import hardware_source, resolve_hardware
from perfsim.hardware.ideal import ideal_hardware
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpGraph
from perfsim.precision import apply_precision
from perfsim.scenario import Scenario
from perfsim.timeline import apply_runtime
from perfsim.whatif import estimate_whatif
from perfsim.whatif.quantize import quantized_precision
from perfsim.workload import Workload

if TYPE_CHECKING:
    from perfsim.parallel.data_parallel import DataParallelResult

HardwareLike = str | Path | HardwareSpec


def resolve_device(hw: HardwareLike, ideal: bool = False) -> tuple[HardwareSpec, str | Path | None]:
    """A spec, a built-in name or a file → (spec, the file to name in messages); with
    ``ideal`` the device at its datasheet peaks (`perfsim.hardware.ideal`)."""
    if isinstance(hw, HardwareSpec):
        spec, source = hw, None
    else:
        spec, source = resolve_hardware(hw), hardware_source(hw)
    return (ideal_hardware(spec) if ideal else spec), source


def checked_precision(scenario: Scenario, hw: HardwareSpec, source: str | Path | None) -> str:
    """The precision the scenario runs in on ``hw`` (before the ``quant`` knob), checked
    against what the device can run (after it)."""
    precision = scenario.precision_on(hw)
    check_precision(hw, quantized_precision(scenario.whatifs.quant, precision), source)
    return precision


def scenario_graph(scenario: Scenario, hw: HardwareSpec, store: GraphStore) -> OpGraph:
    """The graph a scenario runs, before precision and what-ifs: inference graphs are fp32,
    a training step is traced in its precision; a batch of real lengths is derived exactly
    from two batch-1 probe traces (`perfsim.whatif.lengths`)."""
    scenario.check()
    if scenario.lengths is None:
        return store.graph(scenario.workload(hw))
    from perfsim.whatif.lengths import lengths_graph

    def probe(length: int) -> OpGraph:
        return store.graph(scenario.but(batch=1, seq=length, lengths=None).workload(hw))

    model = scenario.but(batch=1, seq=1, lengths=None).workload(hw).model
    return lengths_graph(probe, model.max_seq, scenario.lengths)


def typed_graph(scenario: Scenario, hw: HardwareSpec, store: GraphStore) -> OpGraph:
    """The graph the engines see for a scenario without what-ifs (the sweep's fast path)."""
    return apply_precision(scenario_graph(scenario, hw, store), scenario.precision_on(hw))


def simulate(
    scenario: Scenario,
    hw: HardwareLike,
    *,
    engine: str = "roofline",
    store: GraphStore | None = None,
    ideal: bool = False,
) -> Result:
    """Cost one device's share of a scenario (its whole batch on one device).

    ``hw`` is a spec, a built-in name or a YAML file; ``engine`` a registered cost model
    (`perfsim.engines.available`); ``store`` where traced graphs are kept (default: the
    user's cache folder); ``ideal`` asks for the datasheet-peak bound instead of the
    achieved estimate (the device is then named ``"<name> (ideal)"``).
    """
    spec, source = resolve_device(hw, ideal)
    checked_precision(scenario, spec, source)
    graph = scenario_graph(scenario, spec, store or GraphStore())
    return cost_scenario_graph(graph, scenario, spec, engine)


def cost_scenario_graph(
    graph: OpGraph, scenario: Scenario, hw: HardwareSpec, engine: str
) -> Result:
    """The last steps of `simulate` on a `scenario_graph`: precision, what-ifs (in their
    fixed order, `perfsim.whatif`), engine, energy, the runtime's host/device timeline."""
    result = estimate_whatif(
        graph, hw, precision=scenario.precision_on(hw), engine=engine, whatifs=scenario.whatifs
    )
    return apply_runtime(result, scenario.runtime)  # the host/device timeline (perfsim.timeline)


def simulate_parallel(
    scenario: Scenario,
    hw: HardwareLike,
    *,
    engine: str = "roofline",
    store: GraphStore | None = None,
    ideal: bool = False,
) -> DataParallelResult:
    """A data-parallel training step: each device's micro-batch costed by `simulate`, then
    its gradients all-reduced over the hardware's interconnect.

    With real sequence lengths the global batch is theirs: they are dealt into one
    balanced share per device and micro-step (`perfsim.whatif.lengths.balanced_shares`),
    and the step is costed at the heaviest share, the one every device waits for.
    """
    from perfsim.parallel.buckets import micro_batch
    from perfsim.parallel.data_parallel import DataParallel, data_parallel
    from perfsim.whatif.lengths import heaviest_share

    scenario.check()
    split = scenario.parallel
    lengths = scenario.lengths
    if lengths is None:
        device = scenario.but(batch=micro_batch(scenario.batch, split.devices, split.grad_accum))
    else:
        micro = micro_batch(len(lengths.lengths), split.devices, split.grad_accum)
        share = heaviest_share(lengths.lengths, split.devices * split.grad_accum)
        device = scenario.but(batch=micro, lengths=replace(lengths, lengths=share))
    result = simulate(device, hw, engine=engine, store=store, ideal=ideal)
    source = None if isinstance(hw, HardwareSpec) else hardware_source(hw)
    plan = DataParallel(
        split.devices,
        split.grad_accum,
        algorithm=split.algorithm,  # type: ignore[arg-type]
        overlap=split.overlap,
        sharded_optimizer=split.sharded_optimizer,
    )
    return data_parallel(result, plan, source, scenario.runtime)


def run(
    scenario: Scenario,
    hw: HardwareLike,
    *,
    engine: str = "roofline",
    store: GraphStore | None = None,
    ideal: bool = False,
) -> Result | DataParallelResult:
    """`simulate`, or `simulate_parallel` when the scenario spreads over devices."""
    scenario.check()
    if scenario.parallel.is_single:
        return simulate(scenario, hw, engine=engine, store=store, ideal=ideal)
    return simulate_parallel(scenario, hw, engine=engine, store=store, ideal=ideal)


def estimate(
    workload: Workload,
    hw: HardwareLike,
    *,
    engine: str = "roofline",
    store: GraphStore | None = None,
) -> Result:
    """`simulate` for an already-resolved `Workload` (``perfsim.load_workload``)."""
    return simulate(Scenario.from_workload(workload), hw, engine=engine, store=store)


__all__ = [
    "GraphStore",
    "Scenario",
    "cost_scenario_graph",
    "estimate",
    "run",
    "scenario_graph",
    "simulate",
    "simulate_parallel",
    "typed_graph",
]
