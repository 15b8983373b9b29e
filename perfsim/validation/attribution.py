"""Profiler op tree → seconds per perfsim `Category`, each microsecond counted once.

``torch.profiler`` records every aten call, nested: ``aten::linear`` contains ``aten::t``
and ``aten::addmm``, which contains ``aten::copy_`` (the bias broadcast). Summing the
events' *total* times counts a GEMM two or three times; summing only leaves loses the
dispatch cost of the parents. The rule here mirrors what perfsim's tracer records:

* A **dispatch-level op** is one with a real kernel (not ``CompositeImplicitAutograd``).
  The tracer's ``TorchDispatchMode`` sees exactly these ops, as one node each: whatever
  a kernel calls internally (``addmm``'s ``copy_``) is part of it. So a dispatch-level
  op's *total* time goes to its category and its subtree is not visited again.
* A **composite op** (``linear``, ``layer_norm``, ``matmul``, ``scaled_dot_product_attention``,
  ``reshape``...) is decomposed before the tracer sees it. Only its *self* time (the
  decomposition's own dispatch cost) is attributed, to its category when the tracer's
  table knows the name (``linear`` → gemm), else to the category of its most expensive
  non-view dispatch-level descendant (``matmul`` → ``bmm`` → attn_gemm); its children
  are visited with the same rule.
* **View ops** (`perfsim.trace.aten_ops.is_metadata_op`: outputs alias inputs, nothing
  written; the tracer folds them at zero cost) take the category of the composite op
  they are part of (``linear``'s ``t``), so a category's time is the whole cost of
  calling that op from Python. Views the model's Python code issues directly
  (``transpose_for_scores``' ``view``/``permute``) go to ``overhead``, with the
  interpreter time between ops (the forward annotation's self time): work perfsim's
  graph does not contain.

Every event contributes either its self time (composites, the forward annotation) or its
total time (dispatch-level ops, whose descendants then contribute nothing), so the
buckets partition the forward's time exactly: ``sum(buckets) == forward total``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from perfsim.ir import Category

OVERHEAD: Final = "overhead"  # bucket for work outside perfsim's graph (not a Category)


@dataclass(frozen=True, slots=True)
class OpEvent:
    """One profiled call: its name, host and device seconds, and its nested calls."""

    name: str
    self_s: float
    total_s: float
    children: tuple[OpEvent, ...] = ()
    self_device_s: float = 0.0
    total_device_s: float = 0.0

    def walk(self) -> Iterator[OpEvent]:
        """This event and all below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def n_events(self) -> int:
        """Events in this subtree, itself included."""
        return sum(1 for _ in self.walk())


class OpKind(NamedTuple):
    """How the tracer treats an aten op: decomposed first, folded as a view, or costed."""

    composite: bool
    metadata: bool
    category: Category | None  # None: no rule of the tracer's table knows the name


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One forward pass split into buckets (`Category` values and ``overhead``).

    ``op_s``/``op_calls`` are per dispatch-level aten op (``aten::addmm``), for diagnosis.
    """

    seconds: dict[str, float] = field(default_factory=dict)
    op_s: dict[str, float] = field(default_factory=dict)
    op_calls: dict[str, int] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


def aten_kind(name: str) -> OpKind:
    """Classify a profiler name (``aten::addmm``) with the tracer's own rules.

    The profiler drops the overload, so the packet's first dispatcher overload (in
    registration order: ``add.Tensor``, ``view.default``) stands for it;
    `perfsim.trace.aten_ops.classify` and ``is_metadata_op`` then answer exactly as they
    do while tracing. Non-aten events (annotations, runtime calls) are transparent
    containers.
    """
    from perfsim.trace import aten_ops

    found = _overload(name)
    if found is None:
        return OpKind(composite=True, metadata=True, category=None)
    overload, composite = found
    category = aten_ops.CATEGORY_OF.get(aten_ops.base_name(overload))
    return OpKind(composite, aten_ops.is_metadata_op(overload), category)


def _overload(name: str) -> tuple[Any, bool] | None:
    """The op's first dispatcher overload and whether it is ``CompositeImplicitAutograd``."""
    if not name.startswith("aten::"):
        return None
    import torch

    try:
        packet = getattr(torch.ops.aten, name.removeprefix("aten::"))
    except (AttributeError, RuntimeError):
        return None
    key = torch._C.DispatchKey.CompositeImplicitAutograd
    for overload_name in packet.overloads():
        if "out" in overload_name:
            continue
        try:
            overload = getattr(packet, overload_name)
            # TorchScript-only overloads (add.int) are not in the dispatcher: this raises
            return overload, bool(overload.has_kernel_for_dispatch_key(key))
        except (AttributeError, RuntimeError):
            continue
    return None


def attribute(
    forward: OpEvent,
    kind_of: Callable[[str], OpKind] = aten_kind,
    *,
    device_time: bool = False,
) -> Breakdown:
    """Split one forward pass (an annotation event wrapping it) into buckets.

    Args:
        forward: the annotation event around one forward call; its children are the
            top-level aten calls.
        kind_of: name → `OpKind` (the tracer's rules by default; memoize per call).
        device_time: attribute kernel time on the accelerator instead of host time. The
            host-side gaps (``overhead``) are then left to the caller (wall - kernels).
    """
    breakdown = Breakdown()
    kinds: dict[str, OpKind] = {}

    def kind(name: str) -> OpKind:
        if name not in kinds:
            kinds[name] = kind_of(name)
        return kinds[name]

    def own(event: OpEvent) -> float:
        return event.self_device_s if device_time else event.self_s

    def total(event: OpEvent) -> float:
        return event.total_device_s if device_time else event.total_s

    def add(bucket: str, seconds: float) -> None:
        breakdown.seconds[bucket] = breakdown.seconds.get(bucket, 0.0) + seconds

    def dominant(event: OpEvent) -> str | None:
        """Category of the most expensive non-view dispatch-level op below ``event``."""
        best: tuple[float, str] | None = None
        for child in event.children:
            child_kind = kind(child.name)
            if child_kind.composite:
                found = dominant(child)
                candidate = (total(child), found) if found else None
            elif child_kind.metadata:
                candidate = None
            else:
                category = child_kind.category or Category.OTHER
                candidate = (total(child), category.value)
            if candidate and (best is None or candidate[0] > best[0]):
                best = candidate
        return best[1] if best else None

    def visit(event: OpEvent, inherited: str) -> None:
        event_kind = kind(event.name)
        if not event_kind.composite:
            if event_kind.metadata:
                bucket = inherited
            else:
                bucket = (event_kind.category or Category.OTHER).value
                breakdown.op_s[event.name] = breakdown.op_s.get(event.name, 0.0) + total(event)
                breakdown.op_calls[event.name] = breakdown.op_calls.get(event.name, 0) + 1
            add(bucket, total(event))
            return
        if event_kind.category is not None and not event_kind.metadata:
            bucket = event_kind.category.value
        else:
            bucket = dominant(event) or inherited
        add(bucket, own(event))
        for child in event.children:
            visit(child, bucket)

    add(OVERHEAD, own(forward))
    for child in forward.children:
        visit(child, OVERHEAD)
    return breakdown
