"""Fused multi-tensor optimizers: each parameter's update in one or two kernels.

A traced step runs torch's single-tensor optimizers: 3 to 21 element-wise kernels per
parameter (`perfsim.trace.optimizers`), each reading and writing whole tensors. Fused
optimizers — NVIDIA apex ``FusedAdam`` / ``FusedLAMB`` (``apex/optimizers/fused_adam.py``,
``fused_lamb.py``, kernels ``csrc/multi_tensor_adam.cu``, ``multi_tensor_lamb.cu`` launched
through ``multi_tensor_apply``) and DeepSpeed's ``FusedAdam`` / ``FusedLamb``
(``deepspeed/ops/adam/fused_adam.py``, ``deepspeed/ops/lamb/fused_lamb.py``) — read each
parameter, gradient and state tensor once and write parameter and state once per step.

Model. The optimizer-phase ops of one parameter (a connected component of ``deps``: a
parameter's update never reads another's) become *stages*. An op that uses a whole-tensor
reduction's result (LAMB's trust ratio ``‖x‖ / ‖r + λx‖``) cannot run until the reduction
has seen every element: it starts a new kernel. So Adam, AdamW and SGD are one kernel per
parameter, LAMB two, as apex's ``multi_tensor_lamb`` runs (stage 1: moments, update and
the per-tensor norms; stage 2: apply the trust ratio). Each stage's first op carries the
stage's compulsory bytes, per parameter element (``P``: the fp32 weight the optimizer
updates, the master weight under mixed precision; ``G``: the gradient in the model's
dtype; ``S``: each fp32 state tensor; ``H``: the half model weight under mixed precision;
``U``: LAMB's fp32 update, written by stage 1 and read by stage 2):

- one stage: read ``G + P + n·S``, write ``P + n·S (+ H)``;
- LAMB stage 1: read ``G + P + 2S``, write ``2S + U``; stage 2: read ``P + U``, write
  ``P (+ H)``.

with ``n`` state tensors (SGD momentum 1, Adam and LAMB moments 2). E.g. fp32 Adam:
4 B x (P r+w, G r, m r+w, v r+w) = 28 B per parameter. The other ops of the stage move no
bytes and are launched inside its kernel (no launch overhead); every op keeps its FLOPs,
so a kernel's FLOPs are the sum of its ops'. NB: mixed precision's master-gradient cast,
unscale and inf/nan check are folded into the first stage, as apex's fused optimizers take
the loss scale as an argument; a multi_tensor_apply launch covers many small parameters
at once, so one launch per parameter stage is an upper bound on launches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Final

from perfsim.ir import DTYPE_BITS, GraphMeta, OpGraph, OpNode

# state tensors per parameter element, each read and written once per step
STATE_TENSORS: Final[Mapping[str, int]] = {"sgd": 1, "adam": 2, "adamw": 2, "lamb": 2}
_FP32: Final = 4  # bytes: master weights, state and LAMB's update are fp32 (train_step)


def optimizer_stages(graph: OpGraph, taken: frozenset[int] = frozenset()) -> list[list[list[int]]]:
    """Per parameter (in graph order), its optimizer ops split into kernels (op indices)."""
    if graph.meta.optimizer not in STATE_TENSORS:
        return []
    ops = graph.ops
    members = [i for i, op in enumerate(ops) if op.phase == "optimizer" and i not in taken]
    parent = {i: i for i in members}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in members:
        for dep in ops[i].deps:
            if dep in parent:
                parent[root(dep)] = root(i)
    components: dict[int, list[int]] = {}
    for i in members:
        components.setdefault(root(i), []).append(i)
    updates = []
    for component in components.values():
        elements = _elements(ops, component)
        barriers: dict[int, int] = {}
        inside = set(component)
        for i in component:  # graph order: deps come first
            barriers[i] = max(
                (barriers[d] + _reduces(ops[d], elements) for d in ops[i].deps if d in inside),
                default=0,
            )
        count = max(barriers.values()) + 1
        if count > 2:  # no optimizer traced here needs more; leave such a step unfused
            continue
        updates.append([[i for i in component if barriers[i] == s] for s in range(count)])
    return updates


def _elements(ops: Sequence[OpNode], component: Sequence[int]) -> int:
    """The parameter's element count: the largest tensor its update touches."""
    return max(
        (t.stored_numel for i in component for t in (*ops[i].inputs, *ops[i].outputs)),
        default=0,
    )


def _reduces(op: OpNode, elements: int) -> int:
    """1 if ``op`` reduces a whole parameter-sized tensor to fewer elements, else 0."""
    reads_whole = any(t.stored_numel == elements for t in op.inputs)
    return int(reads_whole and all(t.stored_numel < elements for t in op.outputs))


def stage_bytes(meta: GraphMeta, stages: int) -> list[tuple[int, int]]:
    """(read, written) bytes per parameter element of each stage (module docstring)."""
    states = STATE_TENSORS[str(meta.optimizer)]
    precision = meta.trace_precision or "fp32"
    mixed = precision != "fp32"
    grad = DTYPE_BITS[precision] // 8
    half = grad if mixed else 0
    weight = state = update = _FP32
    if stages == 1:
        return [(grad + weight + states * state, weight + states * state + half)]
    return [
        (grad + weight + states * state, states * state + update),
        (weight + update, weight + half),
    ]


def fuse_optimizer(
    ops: list[OpNode], updates: Sequence[Sequence[Sequence[int]]], meta: GraphMeta
) -> None:
    """Give each stage's first op the stage's bytes and its other ops none (in place)."""
    for stages in updates:
        elements = _elements(ops, [i for stage in stages for i in stage])
        for stage, (read, written) in zip(stages, stage_bytes(meta, len(stages)), strict=True):
            for index in stage:
                first = index == stage[0]
                ops[index] = replace(
                    ops[index],
                    bytes_read=read * elements if first else 0,
                    bytes_written=written * elements if first else 0,
                )
