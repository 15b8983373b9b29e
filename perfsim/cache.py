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
from dataclasses import dataclass
from pathlib import Path

from perfsim.dtypes import TRACED_AS
from perfsim.ir import OpGraph
from perfsim.workload import TRACE_VERSION, ModelSpec, Workload


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
        precision = workload.precision or "fp32"
        parts += (
            TRACED_AS.get(precision, precision),  # a tf32 step is the fp32 trace
            workload.head,
            workload.training_optimizer,
            workload.checkpointing,
        )
        if workload.autocast:  # appended only when set: earlier keys stay valid
            parts += ("autocast",)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class GraphStore:
    """Where traced graphs and parameter counts are kept between runs.

    ``folder`` None is `default_cache_dir`; ``enabled`` False traces every time and stores
    nothing (``--no-cache``). A plain value: pass it down instead of folder/flag pairs.
    """

    folder: Path | None = None
    enabled: bool = True

    @property
    def graphs_dir(self) -> Path:
        return self.folder or default_cache_dir()

    def cached(self, workload: Workload) -> OpGraph | None:
        """The stored graph for a workload, or None (a corrupt file counts as a miss)."""
        try:
            return OpGraph.load(self.graphs_dir / f"{graph_key(workload)}.json")
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, workload: Workload, graph: OpGraph) -> None:
        """Keep a graph; a read-only or full disk only costs the next run a re-trace."""
        try:
            self.graphs_dir.mkdir(parents=True, exist_ok=True)
            graph.save(self.graphs_dir / f"{graph_key(workload)}.json")
        except OSError:
            return

    def graph(self, workload: Workload) -> OpGraph:
        """The traced graph of a workload, named after its model; from the store or by
        tracing (which imports torch only then).

        Inference graphs are fp32; training graphs are in the workload's precision.
        """
        from perfsim.layers import LAYER_LIST, layer_graph

        if workload.model.model_type == LAYER_LIST:  # layer lists need no tracing
            return layer_graph(workload.model.name, workload.model.config["layers"], workload.batch)
        graph = self.cached(workload) if self.enabled else None
        if graph is None:
            from perfsim.trace import trace_workload

            graph = trace_workload(workload)
            if self.enabled:
                self.store(workload, graph)
        # one config may be stored under another model's name (bert-base = its HF config)
        return OpGraph(graph.ops, graph.meta.but(model=workload.model.name))

    def parameters(self, spec: ModelSpec) -> int:
        """Parameter count of a model (built on meta once, then kept by config hash)."""
        folder = self.graphs_dir.parent / "params"
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
