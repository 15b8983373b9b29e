"""The library calls the CLI makes, each a few lines over the modules below it.

Costing a scenario is `perfsim.pipeline` (`simulate`, `simulate_parallel`, `run`); this
module holds the other questions: the traced graph itself, catalogs, and the largest batch
that fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from perfsim.cache import GraphStore
from perfsim.errors import WorkloadError
from perfsim.hardware import available_hardware
from perfsim.hardware.load import load_hardware
from perfsim.ir import OpGraph
from perfsim.pipeline import HardwareLike, checked_precision, resolve_device, scenario_graph
from perfsim.precision import PRECISIONS, policy
from perfsim.scenario import Scenario
from perfsim.training.fit import FitResult
from perfsim.workload import available_models, load_model_file

if TYPE_CHECKING:
    import pandas as pd


def trace_graph(scenario: Scenario, store: GraphStore | None = None) -> OpGraph:
    """The op graph of a scenario (stored): fp32 for inference, its precision for training."""
    return (store or GraphStore()).graph(scenario.workload())


def graph_frame(graph: OpGraph) -> pd.DataFrame:
    """One row per op of a graph, shapes as text."""
    import pandas as pd

    def shapes(tensors: Any) -> str:
        return " ".join(f"{t.dtype}{list(t.shape)}" for t in tensors)

    return pd.DataFrame(
        [
            {
                **op.identity(),
                "inputs": shapes(op.inputs),
                "outputs": shapes(op.outputs),
                "macs": op.macs,
                "flops": op.flops,
                "bytes_read": op.bytes_read,
                "bytes_written": op.bytes_written,
            }
            for op in graph.ops
        ]
    )


def model_catalog(store: GraphStore | None = None) -> list[dict[str, Any]]:
    """Built-in models with their shapes and parameter counts (built once, then cached)."""
    records = []
    for name, path in available_models().items():
        spec = load_model_file(path)
        records.append(
            {
                "name": name,
                "type": spec.model_type,
                **spec.shape_summary(),
                "params": (store or GraphStore()).parameters(spec),
                "max_seq": spec.max_seq,
            }
        )
    return records


def hardware_catalog() -> list[dict[str, Any]]:
    """Built-in hardware: peak FLOP/s per precision, farthest-level bandwidth, on-chip bytes,
    die-area estimate (mm^2, `perfsim.area`; "-" for a file without one)."""
    from perfsim.area import die_area

    records = []
    for name, path in available_hardware().items():
        spec = load_hardware(path)
        peaks = {}
        for precision in PRECISIONS:
            dtype = policy(precision).matrix_input
            peak = spec.matrix_peak_flops(dtype) or spec.vector_peak_flops(dtype)
            peaks[f"{precision}_tflops"] = round(peak / 1e12, 2) if peak else "-"
        records.append(
            {
                "name": name,
                "kind": spec.kind,
                **peaks,
                "dram_gbps": round(spec.level_bandwidth(spec.dram) / 1e9, 1),
                "on_chip_mib": round(spec.on_chip_bytes / 2**20, 1),
                "area_mm2": "-" if (area := die_area(spec)) is None else round(area.total_mm2),
                "native": spec.native_precision,
            }
        )
    return records


def fit_batch(
    scenario: Scenario,
    hw: HardwareLike,
    store: GraphStore | None = None,
    lengths_at: Callable[[int], Sequence[int]] | None = None,
) -> FitResult:
    """``perfsim fit`` as a call: the largest batch whose step fits in ``hw``'s memory
    (the scenario's batch is ignored).

    With real sequence lengths (``scenario.lengths``) each batch tried is a batch of
    ``lengths_at(batch)`` (default: the scenario's lengths repeated in order), run as the
    scenario pads them; ``lengths_at(b)`` must begin with ``lengths_at(b - 1)``, so a
    bigger batch never needs less memory.

    The footprint is measured on traced steps (`perfsim.training.fit` says which batches).
    """
    from perfsim.training import largest_batch, memory_footprint

    spec, source = resolve_device(hw)
    precision = checked_precision(scenario, spec, source)
    graphs = store or GraphStore()
    lengths = scenario.lengths

    def at_batch(batch: int) -> Scenario:
        if lengths is None:
            return scenario.but(batch=batch)
        if lengths_at is None:  # the scenario's own mix, repeated in order
            drawn = tuple(lengths.lengths[i % len(lengths.lengths)] for i in range(batch))
        else:
            drawn = tuple(lengths_at(batch))
        return scenario.but(batch=batch, lengths=replace(lengths, lengths=drawn))

    def footprint_at(batch: int) -> int:
        graph = scenario_graph(at_batch(batch), spec, graphs)
        footprint = memory_footprint(graph.meta, precision)
        if footprint is None:
            raise WorkloadError(
                f"--model {scenario.model_name}: a layer list has no memory footprint"
            )
        return footprint.total

    return largest_batch(footprint_at, spec.level_capacity(spec.memory[-1]))
