"""The library calls the CLI makes, each a few lines over the modules below it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfsim.cache import get_graph, model_parameters
from perfsim.errors import WorkloadError
from perfsim.estimate import Result, estimate
from perfsim.hardware import available_hardware, hardware_source, resolve_hardware
from perfsim.hardware.load import load_hardware
from perfsim.ir import OpGraph
from perfsim.precision import PRECISIONS, policy
from perfsim.training.fit import FitResult
from perfsim.workload import available_models, load_model_file, load_workload

if TYPE_CHECKING:
    import pandas as pd

    from perfsim.parallel.data_parallel import DataParallelResult
    from perfsim.whatif import WhatIfs


def run_estimate(
    model: str | Path,
    hw: str | Path,
    *,
    batch: int = 1,
    seq: int = 128,
    mode: str = "inference",
    precision: str | None = None,
    engine: str = "roofline",
    cache_dir: Path | None = None,
    use_cache: bool = True,
    head: str = "pretraining",
    optimizer: str | None = None,
    checkpointing: bool = False,
    whatifs: WhatIfs | None = None,
    seq_lengths: Sequence[int] | None = None,
    padding: str = "padded",
    pad_to: int | None = None,
) -> Result:
    """``perfsim run`` as a call: names or paths in, a costed `Result` out.

    ``head``, ``optimizer`` and ``checkpointing`` shape a ``mode="training"`` step.
    ``whatifs`` (`perfsim.whatif`) and ``seq_lengths`` (a batch of real lengths, run
    ``padded`` to ``pad_to`` or the longest, or ``packed``) go through
    `perfsim.whatif.run.run_whatif`.
    """
    if whatifs is not None or seq_lengths is not None:
        from perfsim.whatif.run import run_whatif

        return run_whatif(
            model,
            hw,
            batch=batch,
            seq=seq,
            mode=mode,
            precision=precision,
            engine=engine,
            cache_dir=cache_dir,
            use_cache=use_cache,
            whatifs=whatifs,
            seq_lengths=seq_lengths,
            padding=padding,
            pad_to=pad_to,
            head=head,
            optimizer=optimizer,
            checkpointing=checkpointing,
        )
    hardware = resolve_hardware(hw)
    hw_source = hardware_source(hw)
    workload = load_workload(
        model,
        batch=batch,
        seq=seq,
        mode=mode,
        precision=precision,
        head=head,
        optimizer=optimizer,
        checkpointing=checkpointing,
    )
    return estimate(
        workload,
        hardware,
        engine=engine,
        cache_dir=cache_dir,
        use_cache=use_cache,
        hw_source=hw_source,
    )


def run_data_parallel(
    model: str | Path,
    hw: str | Path,
    *,
    batch: int = 1,
    devices: int = 1,
    grad_accum: int = 1,
    seq: int = 128,
    precision: str | None = None,
    engine: str = "roofline",
    cache_dir: Path | None = None,
    use_cache: bool = True,
    head: str = "pretraining",
    optimizer: str | None = None,
    checkpointing: bool = False,
) -> DataParallelResult:
    """``perfsim run --mode training --devices N --grad-accum K`` as a call.

    ``batch`` is the global batch: each device's step is traced and costed at
    ``batch / devices / grad_accum`` samples, then its gradients are all-reduced over the
    hardware's interconnect (`perfsim.parallel.data_parallel`).
    """
    from perfsim.parallel.data_parallel import DataParallel, data_parallel, micro_batch

    result = run_estimate(
        model,
        hw,
        batch=micro_batch(batch, devices, grad_accum),
        seq=seq,
        mode="training",
        precision=precision,
        engine=engine,
        cache_dir=cache_dir,
        use_cache=use_cache,
        head=head,
        optimizer=optimizer,
        checkpointing=checkpointing,
    )
    hw_source = hardware_source(hw)
    return data_parallel(result, DataParallel(devices, grad_accum), hw_source)


def trace_graph(
    model: str | Path,
    *,
    batch: int = 1,
    seq: int = 128,
    mode: str = "inference",
    cache_dir: Path | None = None,
    use_cache: bool = True,
    head: str = "pretraining",
    optimizer: str | None = None,
    checkpointing: bool = False,
    precision: str | None = None,
) -> OpGraph:
    """The op graph of a model (cached): fp32 for inference, ``precision`` for training."""
    workload = load_workload(
        model,
        batch=batch,
        seq=seq,
        mode=mode,
        precision=precision if mode == "training" else None,
        head=head,
        optimizer=optimizer,
        checkpointing=checkpointing,
    )
    graph = get_graph(workload, cache_dir=cache_dir, use_cache=use_cache)
    return OpGraph(graph.ops, {**graph.meta, "model": workload.model.name})


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


def model_catalog(cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """Built-in models with their shapes and parameter counts (built once, then cached)."""
    records = []
    for name, path in available_models().items():
        spec = load_model_file(path)
        records.append(
            {
                "name": name,
                "type": spec.model_type,
                **spec.shape_summary(),
                "params": model_parameters(spec, cache_dir),
                "max_seq": spec.max_seq,
            }
        )
    return records


def hardware_catalog() -> list[dict[str, Any]]:
    """Built-in hardware: peak FLOP/s per precision, farthest-level bandwidth, on-chip bytes."""
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
                "native": spec.native_precision,
            }
        )
    return records


def fit_batch(
    model: str | Path,
    hw: str | Path,
    *,
    seq: int = 128,
    mode: str = "training",
    precision: str | None = None,
    head: str = "pretraining",
    optimizer: str | None = None,
    checkpointing: bool = False,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> FitResult:
    """``perfsim fit`` as a call: the largest batch whose step fits in ``hw``'s memory.

    The footprint is measured on traced steps (`perfsim.training.fit` says which batches).
    """
    from dataclasses import replace

    from perfsim.estimate import check_precision
    from perfsim.training import largest_batch, memory_footprint

    hardware = resolve_hardware(hw)
    resolved = precision or hardware.native_precision
    check_precision(hardware, resolved, hardware_source(hw))
    base = load_workload(
        model,
        seq=seq,
        mode=mode,
        precision=resolved if mode == "training" else None,
        head=head,
        optimizer=optimizer,
        checkpointing=checkpointing,
    )

    def footprint_at(batch: int) -> int:
        graph = get_graph(replace(base, batch=batch), cache_dir=cache_dir, use_cache=use_cache)
        footprint = memory_footprint(graph.meta, resolved)
        if footprint is None:
            raise WorkloadError(f"--model {model}: a layer list has no memory footprint")
        return footprint.total

    return largest_batch(footprint_at, hardware.level_capacity(hardware.memory[-1]))
