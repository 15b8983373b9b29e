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
        """The ops with their `OpNode.resident` flags for a level of ``capacity``."""
        count = self.kept(capacity)
        if count == 0:
            return self.ops
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


def lifetimes(ops: Sequence[OpNode]) -> Lifetimes:
    """Every activation passed between ops, with the capacity it needs to stay on chip."""
    readers: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for index in range(len(ops)):
        _match_inputs(ops, index, readers)
    produced = [
        Produced(op, output, ops[op].outputs[output].nbytes, tuple(found))
        for (op, output), found in sorted(readers.items())
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
    return Lifetimes(
        tuple(ops), tuple(produced[i] for i in order), tuple(needs[i] for i in order)
    )


def _annotate(ops: Sequence[OpNode], kept: Sequence[Produced]) -> tuple[OpNode, ...]:
    flags: dict[int, list[bool]] = {}

    def mark(index: int, position: int) -> None:
        op = ops[index]
        row = flags.setdefault(index, [False] * (len(op.inputs) + len(op.outputs)))
        row[position] = True

    for tensor in kept:
        mark(tensor.op, len(ops[tensor.op].inputs) + tensor.output)
        for reader, position in tensor.readers:
            mark(reader, position)
    return tuple(
        replace(op, resident=tuple(flags[i])) if i in flags else op for i, op in enumerate(ops)
    )


def holder_level(hw: HardwareSpec) -> int | None:
    """Index of the level that keeps activations between ops: the farthest on-chip level
    shared by all units; None if there is none (then everything goes through DRAM)."""
    for index in range(len(hw.memory) - 2, -1, -1):
        if not hw.memory[index].per_unit:
            return index
    return None


# lifetimes of the last few op sequences, by identity (graphs are immutable; the sweep and
# the what-if paths cost one graph on many devices)
_CACHE: dict[int, Lifetimes] = {}
_CACHE_SIZE = 16


def cached_lifetimes(ops: tuple[OpNode, ...]) -> Lifetimes:
    """`lifetimes`, computed once per op tuple."""
    found = _CACHE.get(id(ops))
    if found is not None and found.ops is ops:
        return found
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    found = _CACHE[id(ops)] = lifetimes(ops)
    return found


def resident_ops(graph: OpGraph, hw: HardwareSpec) -> tuple[OpNode, ...]:
    """``graph.ops`` annotated with what stays on chip on ``hw`` (`OpNode.resident`)."""
    level = holder_level(hw)
    if level is None:
        return graph.ops
    capacity = hw.level_capacity(hw.memory[level])
    return cached_lifetimes(graph.ops).resident_ops(capacity)
