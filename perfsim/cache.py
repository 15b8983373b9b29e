"""On-disk cache of traced graphs, keyed by (model config, batch, seq, mode, trace version).

Inference: precision is *not* part of the key: every inference graph is traced in fp32 and
retyped by `perfsim.precision.apply_precision`, a pure and cheap transform, so one trace
serves all precisions. Training: the step is traced in its own precision (mixed precision
adds master weights, casts and loss scaling), so the key adds the precision, the head, the
optimizer and checkpointing. The cache lives in ``$XDG_CACHE_HOME/perfsim``
(``~/.cache/perfsim``) unless a directory is passed in.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from perfsim.ir import OpGraph
from perfsim.workload import ModelSpec, Workload

TRACE_VERSION = 5  # bump when the tracer records graphs differently: it invalidates caches


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/perfsim/graphs`` or ``~/.cache/perfsim/graphs``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "perfsim" / "graphs"


def graph_key(workload: Workload) -> str:
    """Cache key of a workload's traced graph."""
    parts: tuple[object, ...] = (
        workload.model.config_hash,
        workload.batch,
        workload.seq,
        workload.mode,
        TRACE_VERSION,
    )
    if workload.mode == "training":
        parts += (
            workload.precision or "fp32",
            workload.head,
            workload.training_optimizer,
            workload.checkpointing,
        )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


def cached_graph(workload: Workload, cache_dir: Path | None = None) -> OpGraph | None:
    """The cached graph for a workload, or None (a corrupt file counts as a miss)."""
    path = (cache_dir or default_cache_dir()) / f"{graph_key(workload)}.json"
    try:
        return OpGraph.load(path)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store_graph(workload: Workload, graph: OpGraph, cache_dir: Path | None = None) -> None:
    """Store a graph; a read-only or full disk only costs the next run a re-trace."""
    folder = cache_dir or default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        graph.save(folder / f"{graph_key(workload)}.json")
    except OSError:
        return


def get_graph(
    workload: Workload, *, cache_dir: Path | None = None, use_cache: bool = True
) -> OpGraph:
    """The traced graph of a workload, from the cache or by tracing (imports torch only then).

    Inference graphs are fp32; training graphs are in the workload's precision.
    """
    from perfsim.layers import LAYER_LIST, layer_graph

    if workload.model.model_type == LAYER_LIST:  # layer lists need no tracing
        return layer_graph(workload.model.name, workload.model.config["layers"], workload.batch)
    if use_cache:
        graph = cached_graph(workload, cache_dir)
        if graph is not None:
            return graph
    from perfsim.trace import trace_workload

    graph = trace_workload(workload)
    if use_cache:
        store_graph(workload, graph, cache_dir)
    return graph


def model_parameters(spec: ModelSpec, cache_dir: Path | None = None) -> int:
    """Parameter count of a model (built on meta once, then cached by config hash)."""
    folder = (cache_dir or default_cache_dir()).parent / "params"
    path = folder / f"{spec.config_hash}.json"
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["params"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from perfsim.trace.build import build_model, count_parameters

    params = count_parameters(build_model(spec))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"model": spec.name, "params": params}), encoding="utf-8")
    except OSError:
        pass
    return params
