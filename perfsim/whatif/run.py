"""``perfsim run`` with what-if knobs and/or a batch of real sequence lengths, as a call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from perfsim.cache import get_graph
from perfsim.estimate import Result, check_precision
from perfsim.hardware import hardware_source, resolve_hardware
from perfsim.ir import OpGraph
from perfsim.whatif import estimate_whatif
from perfsim.whatif.knobs import WhatIfs
from perfsim.whatif.lengths import (
    PADDINGS,
    LengthsError,
    lengths_summary,
    packed_graph,
    padded_length,
    probe_lengths,
)
from perfsim.whatif.quantize import quantized_precision
from perfsim.workload import load_workload


def run_whatif(
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
    whatifs: WhatIfs | None = None,
    seq_lengths: Sequence[int] | None = None,
    padding: str = "padded",
    pad_to: int | None = None,
    **workload_options: Any,
) -> Result:
    """Cost a model under ``whatifs``, at ``(batch, seq)`` or for a batch of real lengths.

    With ``seq_lengths`` the batch is those sequences: ``padding="padded"`` runs them all
    at ``pad_to`` (default: the longest), ``"packed"`` without padding
    (`perfsim.whatif.lengths`). ``workload_options`` (head, optimizer, ...) pass through to
    `perfsim.workload.load_workload`.
    """
    knobs = whatifs or WhatIfs()
    hardware = resolve_hardware(hw)
    hw_source = hardware_source(hw)
    chosen = precision or hardware.native_precision
    check_precision(hardware, quantized_precision(knobs.quant, chosen), hw_source)
    # a training step is traced in its precision (perfsim.estimate.estimate does the same)
    traced_precision = chosen if mode == "training" else precision

    def graph_at(batch_size: int, length: int) -> OpGraph:
        workload = load_workload(
            model,
            batch=batch_size,
            seq=length,
            mode=mode,
            precision=traced_precision,
            **workload_options,
        )
        graph = get_graph(workload, cache_dir=cache_dir, use_cache=use_cache)
        return OpGraph(graph.ops, {**graph.meta, "model": workload.model.name})

    if seq_lengths is None:
        graph = graph_at(batch, seq)
    else:
        if mode != "inference":
            raise LengthsError("--seq-lengths: variable lengths are costed for inference only")
        if padding not in PADDINGS:
            raise LengthsError(f"--padding: expected one of {', '.join(PADDINGS)}, got {padding}")
        max_seq = load_workload(model, batch=1, seq=1).model.max_seq
        longest = max(seq_lengths)
        if longest > max_seq:
            raise LengthsError(
                f"--seq-lengths: a sequence of {longest} tokens exceeds the model's "
                f"{max_seq} positions"
            )
        short, long = probe_lengths(max_seq)
        probes = graph_at(1, short), graph_at(1, long)
        if padding == "padded":
            length = padded_length(seq_lengths, pad_to)
            graph = packed_graph(*probes, [length] * len(seq_lengths))
            meta = {**graph.meta, "seq_lengths": lengths_summary(seq_lengths, "padded", length)}
            graph = OpGraph(graph.ops, meta)
        else:
            graph = packed_graph(*probes, seq_lengths)
    return estimate_whatif(graph, hardware, precision=precision, engine=engine, whatifs=knobs)
