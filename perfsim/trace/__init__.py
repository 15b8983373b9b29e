"""Tracing: model config → `OpGraph`. The only package that imports torch."""

from __future__ import annotations

import time
from typing import Any

import torch

from perfsim.errors import TraceError
from perfsim.ir import GraphMeta, OpGraph
from perfsim.trace.build import build_model, count_parameters, example_inputs
from perfsim.trace.capture import capture, new_recorder
from perfsim.trace.metacache import MetaKernelCache
from perfsim.trace.train_step import trace_training_step
from perfsim.workload import TRACE_VERSION, Workload

__all__ = ["trace_model", "trace_workload"]


def trace_model(
    model: torch.nn.Module,
    inputs: dict[str, Any],
    meta: GraphMeta | None = None,
    *,
    fast: bool = True,
) -> OpGraph:
    """Run ``model(**inputs)`` once under the capture mode and return its op graph.

    Args:
        model: any ``nn.Module``, best on the ``meta`` device.
        inputs: keyword arguments for its forward.
        meta: extra metadata to store on the graph.
        fast: run each meta kernel once per op signature (`perfsim.trace.metacache`);
            the graph is the same as with ``False``.
    """
    recorder = new_recorder(model)
    recorder.persistent.update(
        int(p.untyped_storage()._cdata) for p in model.parameters() if p.device.type == "meta"
    )
    try:
        cache = MetaKernelCache() if fast else None
        with torch.no_grad(), capture(model, recorder, cache):
            model(**inputs)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        where = recorder.scopes[-1] or "<model>"
        raise TraceError(
            f"tracing failed in module {where!r}: {str(error).splitlines()[0]}"
        ) from None
    return OpGraph(
        ops=tuple(recorder.ops),
        meta=(meta or GraphMeta()).but(
            params=count_parameters(model),
            # bytes: weights, and the most activation bytes alive at once (peak_live)
            memory={
                "weights": sum(p.numel() * p.element_size() for p in model.parameters()),
                "peak_live": recorder.peak_bytes,
            },
            folded_ops=recorder.folded,
            unsupported=dict(recorder.unsupported),
        ),
    )


def trace_workload(workload: Workload, *, fast: bool = True) -> OpGraph:
    """Build the workload's model on meta and trace one step.

    ``fast=False`` runs every meta kernel instead of replaying repeated ones: the same
    graph, slower (the reference for ``tests/test_trace_fast.py``).

    Inference is traced in fp32 (retyped later, `perfsim.precision`); a training step is
    traced in its own precision (``workload.precision``, fp32 when unset), see
    `perfsim.trace.train_step`.
    """
    started = time.perf_counter()
    if workload.mode == "training":
        graph = trace_training_step(workload, fast=fast)
        meta = graph.meta.but(
            model=workload.model.name,
            config_hash=workload.model.config_hash,
            batch=workload.batch,
            seq=workload.seq,
            mode=workload.mode,
            trace_version=TRACE_VERSION,
            trace_seconds=time.perf_counter() - started,
        )
        return OpGraph(graph.ops, meta)
    model = build_model(workload.model)
    graph = trace_model(
        model,
        example_inputs(workload.model, workload.batch, workload.seq),
        meta=GraphMeta(
            model=workload.model.name,
            config_hash=workload.model.config_hash,
            batch=workload.batch,
            seq=workload.seq,
            mode=workload.mode,
            trace_precision="fp32",
            trace_version=TRACE_VERSION,
        ),
        fast=fast,
    )
    return OpGraph(graph.ops, graph.meta.but(trace_seconds=time.perf_counter() - started))
