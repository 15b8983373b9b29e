"""The operator-graph IR: `Category`, `TensorSpec`, `OpNode`, `OpGraph`.

FLOP convention, stated once: a multiply-add is 2 FLOPs. Matrix ops (``gemm``,
``attn_gemm``) store ``macs`` and ``flops == 2 * macs`` exactly, as
``torch.utils.flop_counter`` counts them (an ``addmm``'s bias add is not counted). Every
other op has ``macs == 0`` and ``flops`` from the per-element table in `perfsim.counting`.
Bytes are the distinct bytes an op reads and writes once (its compulsory traffic); cost
models add the re-fetches a small memory forces.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

# Bits per element; int4 packs two values per byte.
DTYPE_BITS: Mapping[str, int] = {
    "fp64": 64,
    "fp32": 32,
    "tf32": 32,
    "fp16": 16,
    "bf16": 16,
    "fp8": 8,
    "int64": 64,
    "int32": 32,
    "int16": 16,
    "int8": 8,
    "uint8": 8,
    "int4": 4,
    "bool": 8,
}
FLOAT_DTYPES = frozenset({"fp64", "fp32", "tf32", "fp16", "bf16", "fp8"})


class Category(StrEnum):
    """Operator taxonomy of "Demystifying BERT" (Pati et al.), one category per op."""

    GEMM = "gemm"
    ATTN_GEMM = "attn_gemm"
    SOFTMAX = "softmax"
    LAYERNORM = "layernorm"
    GELU = "gelu"
    DROPOUT = "dropout"
    ELEMENTWISE = "elementwise"
    EMBEDDING = "embedding"
    REDUCTION = "reduction"
    DATA_MOVEMENT = "data_movement"
    OPTIMIZER = "optimizer"
    COLLECTIVE = "collective"
    OTHER = "other"

    @property
    def is_matrix(self) -> bool:
        """Runs on the matrix engine (when the hardware has one)."""
        return self in (Category.GEMM, Category.ATTN_GEMM)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Shape and dtype of one tensor an op touches.

    ``stored_numel`` is the number of distinct elements behind the tensor: smaller than the
    shape's product for a broadcast (stride-0) view, so an expanded mask is not counted
    as if it had been materialized. ``role`` is ``weight``, ``activation`` or ``index``.
    """

    shape: tuple[int, ...]
    dtype: str
    stored_numel: int = -1
    role: str = "activation"

    def __post_init__(self) -> None:
        if self.stored_numel < 0:
            object.__setattr__(self, "stored_numel", math.prod(self.shape))

    @property
    def numel(self) -> int:
        """Elements in the logical shape."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Distinct bytes behind the tensor (int4 rounds up to whole bytes)."""
        return (self.stored_numel * DTYPE_BITS[self.dtype] + 7) // 8

    def with_dtype(self, dtype: str) -> TensorSpec:
        """Same tensor, another dtype."""
        return TensorSpec(self.shape, dtype, self.stored_numel, self.role)


@dataclass(frozen=True, slots=True)
class OpNode:
    """One costed operator.

    Attributes:
        name: unique within its graph, ``<module path>/<aten op>[#n]``.
        category: taxonomy category.
        target: the aten overload it came from, e.g. ``aten.addmm.default``.
        scope: module path, for ``by_module`` grouping.
        layer: encoder layer index, -1 outside the layer stack.
        phase: ``forward``, ``backward`` or ``optimizer``.
        inputs, outputs: tensor specs.
        dims: op dimensions, e.g. ``{"b": 1, "m": 128, "n": 768, "k": 768}`` for a GEMM.
        macs: multiply-accumulates (matrix ops only).
        flops: floating-point (or integer) operations, see the module docstring.
        bytes_read, bytes_written: compulsory traffic, bytes.
        deps: indices of the ops that produced this op's inputs.
        resident: one flag per tensor of ``(*inputs, *outputs)``, True where the tensor
            stays in on-chip memory between its producer and its consumers on the device
            being costed (`perfsim.engines.residency`); empty: none (a traced graph).
    """

    name: str
    category: Category
    target: str
    scope: str
    layer: int
    phase: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    dims: Mapping[str, int]
    macs: int
    flops: int
    bytes_read: int
    bytes_written: int
    deps: tuple[int, ...] = ()
    resident: tuple[bool, ...] = ()

    @property
    def bytes_total(self) -> int:
        """Compulsory bytes read plus written."""
        return self.bytes_read + self.bytes_written

    def identity(self) -> dict[str, Any]:
        """The columns that name an op in every per-op table (ops.csv, ``perfsim trace``)."""
        return {
            "op": self.name,
            "category": self.category.value,
            "aten": self.target,
            "scope": self.scope,
            "layer": self.layer,
            "phase": self.phase,
        }


@dataclass(frozen=True, slots=True)
class GraphMeta:
    """What a graph knows about itself: the scenario it was traced for, the trace, and what
    later passes (precision, what-ifs, sequence lengths) record. Unset fields are None.
    """

    # the scenario the graph was traced for
    model: str | None = None
    config_hash: str | None = None
    batch: int | None = None
    seq: int | None = None
    mode: str | None = None
    # the trace
    trace_precision: str | None = None  # a training step's; inference traces in fp32
    trace_version: int | None = None
    trace_seconds: float | None = None
    params: int | None = None
    folded_ops: int = 0  # metadata-only ops removed at zero cost
    unsupported: Mapping[str, int] = field(default_factory=dict)  # aten name -> count
    # bytes by kind (`perfsim.training.footprint`): weights, peak_live; a training step also
    # gradients, optimizer_state, activations
    memory: Mapping[str, int] | None = None
    # a training step
    trainable_params: int | None = None
    head: str | None = None
    head_class: str | None = None
    optimizer: str | None = None
    checkpointing: bool | None = None
    autocast: bool | None = None  # mixed precision as torch.autocast runs it ("O1")
    # per parameter, in the order backward finalizes gradients: [op index, numel, dtype]
    grad_ready: tuple[tuple[int, int, str], ...] | None = None
    # later passes
    precision: str | None = None  # the precision the graph is typed in (apply_precision)
    whatifs: Mapping[str, Any] = field(default_factory=dict)  # the knobs applied
    instances: int = 1  # what-if instances sharing the device
    kernel_parts: tuple[str, ...] = ()  # ops launched inside an earlier op's kernel
    seq_lengths: Mapping[str, Any] | None = None  # a batch of real lengths, summarized
    runtime: str | None = None  # the host runtime issuing the kernels (`perfsim.timeline`)

    def but(self, **changes: Any) -> GraphMeta:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field that differs from its default."""
        defaults = GraphMeta()
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value != getattr(defaults, item.name):
                out[item.name] = _jsonable(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GraphMeta:
        """Inverse of `to_dict`; a key that is not a field is a `KeyError`."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise KeyError(f"graph meta: unknown keys {unknown}")
        values = dict(data)
        if values.get("grad_ready") is not None:
            values["grad_ready"] = tuple(tuple(entry) for entry in values["grad_ready"])
        if "kernel_parts" in values:
            values["kernel_parts"] = tuple(values["kernel_parts"])
        return cls(**values)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


@dataclass(frozen=True, slots=True)
class OpGraph:
    """Ordered ops of one traced workload, plus what the trace knows about it (`GraphMeta`)."""

    ops: tuple[OpNode, ...]
    meta: GraphMeta = field(default_factory=GraphMeta)

    def __len__(self) -> int:
        return len(self.ops)

    @property
    def flops(self) -> int:
        """Total FLOPs."""
        return sum(op.flops for op in self.ops)

    def to_json(self) -> str:
        """Serialize; `from_json` restores an equal graph."""
        return json.dumps(
            {"meta": self.meta.to_dict(), "ops": [_op_to_dict(op) for op in self.ops]}
        )

    @staticmethod
    def from_json(text: str) -> OpGraph:
        """Inverse of `to_json`."""
        data = json.loads(text)
        ops = tuple(_op_from_dict(op) for op in data["ops"])
        return OpGraph(ops=ops, meta=GraphMeta.from_dict(data["meta"]))

    def save(self, path: Path) -> None:
        """Write JSON atomically (a crash never leaves a half-written cache file)."""
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(self.to_json(), encoding="utf-8")
        temporary.replace(path)

    @staticmethod
    def load(path: Path) -> OpGraph:
        """Read a graph written by `save`."""
        return OpGraph.from_json(path.read_text(encoding="utf-8"))


def _op_to_dict(op: OpNode) -> dict[str, Any]:
    data = asdict(op)
    data["category"] = op.category.value
    data["inputs"] = [[list(t.shape), t.dtype, t.stored_numel, t.role] for t in op.inputs]
    data["outputs"] = [[list(t.shape), t.dtype, t.stored_numel, t.role] for t in op.outputs]
    data["dims"] = dict(op.dims)
    data["deps"] = list(op.deps)
    del data["resident"]  # a costing annotation for one device, not part of the trace
    return data


def _tensor_from_list(item: list[Any]) -> TensorSpec:
    shape, dtype, stored, role = item
    return TensorSpec(tuple(shape), dtype, stored, role)


def _op_from_dict(data: dict[str, Any]) -> OpNode:
    return OpNode(
        name=data["name"],
        category=Category(data["category"]),
        target=data["target"],
        scope=data["scope"],
        layer=data["layer"],
        phase=data["phase"],
        inputs=tuple(_tensor_from_list(t) for t in data["inputs"]),
        outputs=tuple(_tensor_from_list(t) for t in data["outputs"]),
        dims=data["dims"],
        macs=data["macs"],
        flops=data["flops"],
        bytes_read=data["bytes_read"],
        bytes_written=data["bytes_written"],
        deps=tuple(data["deps"]),
    )
