"""On-chip residency: activations that stay on chip between the op that writes them and
the ops that read them, instead of a round trip through DRAM.

The level that can hold them (`holder_level`) is the farthest on-chip level shared by every
compute unit (a GPU's L2, an NPU's VMEM, a CPU's L3): a per-unit level (L1 / shared memory)
does not keep data from one kernel to the next. A tensor stays there when it fits, and then
its writer does not write it to DRAM and its readers do not read it from DRAM (it is dead
after its last reader, so it is never written back).

Which tensors (all decided once per graph, `lifetimes`, so a device only compares its
capacity with precomputed thresholds):

- only activations written by an op of the graph and read by later ops (``OpNode.deps``)
  can stay; weights stream from DRAM (a forward pass reads each weight once: nothing to
  reuse across ops) and graph outputs (tensors no op reads) are written to DRAM;
- an in-place op's output (a parameter or optimizer state updated in place) outlives the
  step: its readers may find it on chip, but it is written to DRAM; the optimizer step
  streams parameters, gradients and states through DRAM (no residency for its ops);
- a reader's activation input is matched to an output of one of its producers of the same
  size (views and reshapes keep the bytes); an input that matches none comes from DRAM;
- a tensor written by op ``i`` and last read by op ``j`` stays when, at every op ``k`` in
  ``[i, j]``, op ``k``'s own bytes (every tensor an op touches passes through the level)
  plus *every* activation live across ``k`` (kept or not) fit the level's capacity. That
  threshold is conservative (it assumes the others stay too), which makes the kept set
  feasible at every op and monotone in capacity: more on-chip memory never keeps fewer
  tensors (a greedy placement would not be).

The result is an annotation of the ops (`OpNode.resident`, one flag per tensor) that the
engines read through `perfsim.engines.traffic`, so both engines use the same residency.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import OpGraph, OpNode


@dataclass(frozen=True, slots=True)
class Produced:
    """One activation written by op ``op`` (its ``output``-th output) and read later."""

    op: int
    output: int
    nbytes: int
    readers: tuple[tuple[int, int], ...]  # (reading op, its input position)
    persistent: bool = False  # written in place (a parameter, an optimizer state): to DRAM

    @property
    def last(self) -> int:
        return max(reader for reader, _ in self.readers)


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """The hw-independent part of residency for one op sequence: every activation passed
    between ops, sorted by the capacity it needs to stay on chip (``thresholds``)."""

    ops: tuple[OpNode, ...]
    tensors: tuple[Produced, ...]  # ascending need
    thresholds: tuple[float, ...]  # bytes each needs, ascending
    annotated: dict[int, tuple[OpNode, ...]] = field(default_factory=dict, compare=False)

    def kept(self, capacity: float) -> int:
        """How many tensors (a prefix of ``tensors``) stay in a level of ``capacity``."""
        return bisect.bisect_right(self.thresholds, capacity)

    def resident_ops(self, capacity: float) -> tuple[OpNode, ...]:
        """The ops with their `OpNode.resident` flags for a level of ``capacity`` (every
        op flagged, all False where nothing of it stays, so the ops read as annotated)."""
        count = self.kept(capacity)
        found = self.annotated.get(count)
        if found is None:
            found = self.annotated[count] = _annotate(self.ops, self.tensors[:count])
        return found


def _match_inputs(ops: Sequence[OpNode], index: int, readers: dict[tuple[int, int], list]) -> None:
    """Record which producer output each activation input of ``ops[index]`` is."""
    op = ops[index]
    taken: set[tuple[int, int]] = set()
    for position, tensor in enumerate(op.inputs):
        if tensor.role != "activation":
            continue
        for dep in op.deps:
            if not 0 <= dep < index:  # a what-if's rewritten graph may leave stale deps
                continue
            match = next(
                (
                    (dep, q)
                    for q, out in enumerate(ops[dep].outputs)
                    if out.nbytes == tensor.nbytes and (dep, q) not in taken
                ),
                None,
            )
            if match is not None:
                taken.add(match)
                readers.setdefault(match, []).append((index, position))
                break


def _in_place(op: OpNode) -> bool:
    """An in-place op (``aten.add_.Tensor``): its output may be a tensor that outlives
    the step, so it is written to DRAM even when its readers find it on chip."""
    name = op.target.split(".")[1] if op.target.count(".") >= 2 else op.target
    return name.endswith("_")


def lifetimes(ops: Sequence[OpNode], off_chip: frozenset[int] = frozenset()) -> Lifetimes:
    """Every activation passed between ops, with the capacity it needs to stay on chip.

    Ops in ``off_chip`` (run next to DRAM, e.g. a near-memory unit) read and write DRAM:
    no tensor they touch stays on chip.
    """
    readers: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for index in range(len(ops)):
        _match_inputs(ops, index, readers)
    produced = [
        Produced(op, output, ops[op].outputs[output].nbytes, tuple(found), _in_place(ops[op]))
        for (op, output), found in sorted(readers.items())
        if op not in off_chip
        and not any(reader in off_chip for reader, _ in found)
        and not any(ops[i].phase == "optimizer" for i in (op, *(r for r, _ in found)))
    ]
    # bytes live across op k: every passed activation written before k and read after k
    live = [0.0] * (len(ops) + 1)
    for tensor in produced:
        live[tensor.op + 1] += tensor.nbytes
        live[tensor.last] -= tensor.nbytes
    running, occupancy = 0.0, []
    for k, op in enumerate(ops):
        running += live[k]
        occupancy.append(op.bytes_total + running)
    needs = [max(occupancy[t.op : t.last + 1]) for t in produced]
    order = sorted(range(len(produced)), key=lambda i: needs[i])
    return Lifetimes(tuple(ops), tuple(produced[i] for i in order), tuple(needs[i] for i in order))


def _annotate(ops: Sequence[OpNode], kept: Sequence[Produced]) -> tuple[OpNode, ...]:
    flags = [[False] * (len(op.inputs) + len(op.outputs)) for op in ops]

    def mark(index: int, position: int) -> None:
        flags[index][position] = True

    for tensor in kept:
        if not tensor.persistent:
            mark(tensor.op, len(ops[tensor.op].inputs) + tensor.output)
        for reader, position in tensor.readers:
            mark(reader, position)
    return tuple(replace(op, resident=tuple(row)) for op, row in zip(ops, flags, strict=True))


def holder_level(hw: HardwareSpec) -> int | None:
    """Index of the level that keeps activations between ops: the farthest on-chip level
    shared by all units; None if there is none (then everything goes through DRAM)."""
    for index in range(len(hw.memory) - 2, -1, -1):
        if not hw.memory[index].per_unit:
            return index
    return None


# lifetimes of the last few op sequences, by identity (graphs are immutable; the sweep and
# the what-if paths cost one graph on many devices)
_CACHE: dict[tuple[int, frozenset[int]], Lifetimes] = {}
_CACHE_SIZE = 16


def cached_lifetimes(ops: tuple[OpNode, ...], off_chip: frozenset[int] = frozenset()) -> Lifetimes:
    """`lifetimes`, computed once per op tuple."""
    key = (id(ops), off_chip)
    found = _CACHE.get(key)
    if found is not None and found.ops is ops:
        return found
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    found = _CACHE[key] = lifetimes(ops, off_chip)
    return found


def resident_ops(
    graph: OpGraph, hw: HardwareSpec, off_chip: frozenset[int] = frozenset()
) -> tuple[OpNode, ...]:
    """``graph.ops`` annotated with what stays on chip on ``hw`` (`OpNode.resident`);
    ``off_chip``: indices of ops that run next to DRAM (see `lifetimes`).

    Ops already annotated (a part of a graph annotated whole, whose ``deps`` still
    index the whole: `perfsim.whatif.placement`) are returned as they are.
    """
    level = holder_level(hw)
    if level is None or any(op.resident for op in graph.ops):
        return graph.ops
    capacity = hw.level_capacity(hw.memory[level])
    return cached_lifetimes(graph.ops, off_chip).resident_ops(capacity)
