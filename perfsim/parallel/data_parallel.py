"""Data-parallel training steps: a global batch split over devices, gradients all-reduced.

Every device runs the same traced training step on its micro-batch (``global_batch /
devices / grad_accum`` samples), so one device's costed step (`perfsim.estimate.Result`)
describes them all. The step on top of it, as PyTorch DDP runs it:

- **buckets**: gradients, in the order they become final during backward (the traced
  graph's ``meta.grad_ready``: ``[op_index, numel, dtype]`` per parameter), fill buckets
  of ``bucket_bytes`` (25 MiB, DDP's ``bucket_cap_mb`` default) after a first, small bucket of
  ``first_bucket_bytes`` (1 MiB, ``torch.distributed._DEFAULT_FIRST_BUCKET_BYTES``); a bucket
  closes once it reaches its cap and never mixes dtypes (DDP's
  ``compute_bucket_assignment_by_size``; DDP rebuilds its buckets in gradient-ready order
  after the first iteration, which is the order used here).
- **overlap**: a bucket's all-reduce starts when its last gradient is final and the previous
  all-reduce is done (one communication stream, buckets in order); the communication that
  ends after the backward pass is *exposed*, the rest hides under backward compute.
  Contention of the all-reduce with compute for memory bandwidth or cores is not modeled.
- **gradient accumulation**: ``grad_accum`` micro-steps of forward and backward, the
  all-reduce only on the last (DDP's ``no_sync`` on the others), then one optimizer step;
  every micro-step but the first adds its gradients into the accumulated ones, one kernel
  per parameter (`perfsim.parallel.accumulation`, phase ``accumulate``).
- **no overlap** (``overlap=False``: apex's ``--allreduce_post_accumulation``, a
  DistributedFusedLAMB with ``overlap_reductions`` off): every bucket's exchange starts
  after the backward pass, so all of it is exposed.
- **sharded optimizer** (``sharded_optimizer=True``: apex's DistributedFusedLAMB,
  ZeRO stage 1): the gradients are reduce-scattered and the parameters all-gathered, which
  moves what a ring all-reduce moves (its two halves), and each device runs the optimizer
  on 1/devices of the parameters: the optimizer ops count ``1 / devices`` a step.

``step_time_s = grad_accum * (forward + backward) + (grad_accum - 1) * accumulation +
exposed_communication_s + optimizer``.

Collectives are ``collective``-category ops in phase ``communication`` (a phase of their
own, so the ``backward`` rows stay compute; their ``start_s``/``end_s`` say how they overlap
it). In the per-op table and ``by_category`` each op's ``latency_s`` is per occurrence and
``count`` says how often it runs per step; ``by_category["collective"]["latency_s"]`` is the
*exposed* communication, so the shares of the categories add up to the step time, and its
``busy_s`` is the all-reduce time including the hidden part. Figures are per device (every
device runs the same step) except ``throughput_samples_per_s``, ``global_batch`` and
``energy_all_devices_j``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfsim.engines import OpCost
from perfsim.errors import SpecError, WorkloadError
from perfsim.estimate import Result, estimate_graph
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import Category, OpNode
from perfsim.parallel.accumulation import PHASE as ACCUMULATE
from perfsim.parallel.accumulation import accumulation_graph
from perfsim.parallel.buckets import DDP_BUCKET_BYTES, DDP_FIRST_BUCKET_BYTES, gradient_buckets
from perfsim.parallel.collectives import Algorithm, CollectiveTime, allreduce
from perfsim.timeline import apply_runtime
from perfsim.totals import CategoryTotals, Totals, ratio

if TYPE_CHECKING:
    import pandas as pd

COMMUNICATION = "communication"  # the phase of collective ops


@dataclass(frozen=True, slots=True)
class DataParallel:
    """How a step is spread over devices (the options of ``perfsim run``)."""

    devices: int = 1
    grad_accum: int = 1
    bucket_bytes: int = DDP_BUCKET_BYTES
    first_bucket_bytes: int = DDP_FIRST_BUCKET_BYTES
    algorithm: Algorithm = "auto"
    overlap: bool = True
    sharded_optimizer: bool = False


@dataclass(frozen=True, slots=True)
class Bucket:
    """One gradient bucket: its bytes, when its last gradient is final, when its all-reduce
    runs (seconds from the start of the last micro-step)."""

    index: int
    n_grads: int
    nbytes: int
    dtype: str
    last_op: int
    ready_s: float
    start_s: float
    end_s: float
    collective: CollectiveTime


def _phase_sums(result: Result) -> tuple[float, float, float]:
    """(micro-step seconds, optimizer seconds, end of the backward pass) of one device."""
    micro = optimizer = backward_end = 0.0
    elapsed = 0.0
    for op, cost in zip(result.graph.ops, result.costs, strict=True):
        elapsed += cost.latency_s
        if op.phase == "optimizer":
            optimizer += cost.latency_s
        else:
            micro += cost.latency_s
            backward_end = elapsed
    return micro, optimizer, backward_end


@dataclass(frozen=True, slots=True)
class DataParallelResult:
    """A data-parallel training step: one device's costed micro-step plus the all-reduces,
    and (``grad_accum > 1``) one costed pass of gradient-accumulation adds."""

    result: Result
    plan: DataParallel
    buckets: tuple[Bucket, ...]
    accumulation: Result | None = None

    @property
    def hw(self) -> HardwareSpec:
        return self.result.hw

    @property
    def global_batch(self) -> int:
        batch = int(self.result.graph.meta.batch or 1)
        return batch * self.plan.devices * self.plan.grad_accum

    @property
    def micro_s(self) -> float:
        """Forward and backward of one micro-step, seconds."""
        return _phase_sums(self.result)[0]

    @property
    def optimizer_s(self) -> float:
        """The optimizer step, seconds: this device's share of it when sharded."""
        return _phase_sums(self.result)[1] * self._count("optimizer")

    @property
    def accumulation_s(self) -> float:
        """Gradient-accumulation adds per step (``grad_accum - 1`` passes), seconds."""
        if self.accumulation is None:
            return 0.0
        return (self.plan.grad_accum - 1) * self.accumulation.latency_s

    @property
    def compute_s(self) -> float:
        """Compute per step: every micro-step, its accumulation adds and one optimizer
        step, seconds."""
        return self.plan.grad_accum * self.micro_s + self.accumulation_s + self.optimizer_s

    @property
    def communication_s(self) -> float:
        """All-reduce time, hidden and exposed, seconds."""
        return sum(bucket.collective.seconds for bucket in self.buckets)

    @property
    def exposed_communication_s(self) -> float:
        """All-reduce time that sticks out past the last backward pass, seconds."""
        backward_end = _phase_sums(self.result)[2]
        last = max((bucket.end_s for bucket in self.buckets), default=0.0)
        return max(0.0, last - backward_end)

    @property
    def step_time_s(self) -> float:
        return self.compute_s + self.exposed_communication_s

    @property
    def sent_bytes(self) -> float:
        """Bytes each device sends per step."""
        return sum(bucket.collective.sent_bytes for bucket in self.buckets)

    @property
    def flops(self) -> int:
        """FLOPs per device per step."""
        return self.device_totals().flops

    def _count(self, phase: str) -> float:
        """How often an op of ``phase`` runs a step on one device."""
        if phase == ACCUMULATE:
            return self.plan.grad_accum - 1
        if phase != "optimizer":
            return self.plan.grad_accum
        return 1 / self.plan.devices if self.plan.sharded_optimizer else 1

    def _costed(self) -> tuple[tuple[OpNode, ...], tuple[OpCost, ...]]:
        """The step's ops and costs, the accumulation pass after the micro-step's."""
        ops, costs = self.result.graph.ops, self.result.costs
        if self.accumulation is not None:
            ops, costs = ops + self.accumulation.graph.ops, costs + self.accumulation.costs
        return ops, costs

    def device_totals(self) -> Totals:
        """One device's ops over a step: every micro-step, the accumulation adds, one
        optimizer step."""
        ops, costs = self._costed()
        return Totals.of(costs, [self._count(op.phase) for op in ops])

    def communication_energy_j(self) -> dict[str, float]:
        """Static joules while the device waits on exposed communication, and interconnect
        joules (bytes sent x ``interconnect.energy_per_byte``) when the file prices links."""
        energy = {"static": self.hw.energy.static_power * self.exposed_communication_s}
        net = self.hw.interconnect
        if net is not None and net.energy_per_byte is not None:
            energy["interconnect"] = self.sent_bytes * net.energy_per_byte
        return energy

    def energy_breakdown_j(self) -> dict[str, float]:
        """Joules per component per device per step."""
        total = dict(self.device_totals().energy_breakdown_j)
        for key, value in self.communication_energy_j().items():
            total[key] = total.get(key, 0.0) + value
        return total

    @property
    def energy_j(self) -> float:
        """Joules per device per step."""
        return sum(self.energy_breakdown_j().values())

    def by_category(self) -> dict[str, dict[str, float]]:
        """Per-category step time (module docstring: collective = exposed communication)."""
        step = self.step_time_s
        rows = self.device_totals().category_rows(step)
        if self.buckets:
            rows[Category.COLLECTIVE.value] = {
                **CategoryTotals(
                    latency_s=self.exposed_communication_s,
                    bytes=float(self.sent_bytes),
                    energy_j=sum(self.communication_energy_j().values()),
                    n_ops=len(self.buckets),
                ).row(step),
                "busy_s": self.communication_s,
            }
        return {c.value: rows[c.value] for c in Category if c.value in rows}

    def summary(self) -> dict[str, Any]:
        """The single-device summary, rescaled to the step, with the data-parallel keys."""
        base = self.result.summary()
        step = self.step_time_s
        flops = self.flops
        device = self.device_totals().traffic_bytes
        traffic = {name: device.get(name, 0.0) for name in base["memory_traffic_bytes"]}
        energy = self.energy_j
        algorithms = sorted({bucket.collective.algorithm for bucket in self.buckets})
        return {
            **base,
            "batch": self.global_batch,
            "latency_s": step,
            "throughput_samples_per_s": ratio(self.global_batch, step),
            "flops": flops,
            "achieved_flops_per_s": ratio(flops, step),
            "memory_traffic_bytes": traffic,
            "energy_j": energy,
            "energy_breakdown_j": self.energy_breakdown_j(),
            "by_category": self.by_category(),
            "n_ops": len(self._costed()[1]) + len(self.buckets),
            "devices": self.plan.devices,
            "grad_accum": self.plan.grad_accum,
            "global_batch": self.global_batch,
            "micro_batch": self.result.graph.meta.batch,
            "step_time_s": step,
            "compute_s": self.compute_s,
            "optimizer_s": self.optimizer_s,
            "accumulation_s": self.accumulation_s,
            "communication_s": self.communication_s,
            "exposed_communication_s": self.exposed_communication_s,
            "communication_sent_bytes": self.sent_bytes,
            "gradient_bytes": sum(bucket.nbytes for bucket in self.buckets),
            "n_buckets": len(self.buckets),
            "collective_algorithm": ",".join(algorithms) or "none",
            "energy_all_devices_j": energy * self.plan.devices,
        }

    def to_frame(self) -> pd.DataFrame:
        """One device's per-op table plus one ``collective`` row per bucket."""
        import pandas as pd

        frame = self.result.to_frame()
        frame["count"] = [self._count(op.phase) for op in self.result.graph.ops]
        if self.accumulation is not None:
            added = self.accumulation.to_frame()
            added["count"] = self.plan.grad_accum - 1
            frame = pd.concat([frame, added], ignore_index=True)
        level_columns = [f"{level.name}_bytes" for level in self.hw.memory]
        rows = [
            {
                "op": f"ddp/allreduce#{bucket.index}",
                "category": Category.COLLECTIVE.value,
                "aten": "c10d.allreduce_",
                "scope": "ddp",
                "layer": -1,
                "phase": COMMUNICATION,
                "unit": "interconnect",
                "dtype": bucket.dtype,
                "macs": 0,
                "flops": 0,
                "bytes_read": bucket.nbytes,
                "bytes_written": bucket.nbytes,
                "latency_s": bucket.collective.seconds,
                "bound": f"collective:{bucket.collective.algorithm}",
                "supported": True,
                "count": 1,
                "start_s": bucket.start_s,
                "end_s": bucket.end_s,
                "sent_bytes": bucket.collective.sent_bytes,
                **dict.fromkeys(level_columns, 0.0),
            }
            for bucket in self.buckets
        ]
        return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True) if rows else frame


def data_parallel(
    result: Result,
    plan: DataParallel,
    hw_source: str | Path | None = None,
    runtime: str | None = None,
) -> DataParallelResult:
    """Spread one device's costed training step (at its micro-batch) over ``plan.devices``.

    ``runtime``: the host runtime the step's kernels were issued by (`perfsim.timeline`);
    the gradient-accumulation adds are issued the same way.

    Raises:
        WorkloadError: more than one device for a graph without ``grad_ready`` (not a
            training step).
        SpecError: the hardware has no interconnect, or the devices do not fit it.
    """
    where = hw_source or result.hw.name
    if plan.grad_accum <= 0:
        raise WorkloadError(f"--grad-accum: expected a positive integer, got {plan.grad_accum}")
    if plan.devices <= 0:
        raise WorkloadError(f"--devices: expected a positive integer, got {plan.devices}")
    grad_ready = result.graph.meta.grad_ready
    if grad_ready is None:
        if plan.devices > 1 or plan.grad_accum > 1:
            raise WorkloadError(
                "--devices/--grad-accum: data parallelism needs a training step (--mode training)"
            )
        grad_ready = []
    net = result.hw.interconnect
    if plan.devices > 1 and (net is None or net.topology == "none"):
        raise SpecError(f"{where}: interconnect: missing; --devices {plan.devices} needs links")
    ends = list(accumulate(cost.latency_s for cost in result.costs))
    free = 0.0
    buckets = []
    if plan.devices > 1:
        assert net is not None
        specs = gradient_buckets(grad_ready, plan.bucket_bytes, plan.first_bucket_bytes)
        after_backward = None if plan.overlap else _phase_sums(result)[2]
        for index, (last_op, count, nbytes, dtype) in enumerate(specs):
            try:
                collective = allreduce(nbytes, plan.devices, net, plan.algorithm)
            except ValueError as error:
                raise SpecError(f"{where}: interconnect: {error} (--devices)") from None
            ready = ends[last_op] if 0 <= last_op < len(ends) else 0.0
            if after_backward is not None:  # exchanged after the backward pass
                ready = after_backward
            start = max(ready, free)
            free = start + collective.seconds
            buckets.append(
                Bucket(index, count, nbytes, dtype, last_op, ready, start, free, collective)
            )
    accumulation = None
    if plan.grad_accum > 1 and grad_ready:
        adds = estimate_graph(accumulation_graph(result.graph), result.hw, result.engine)
        accumulation = apply_runtime(adds, runtime)
    return DataParallelResult(
        result=result, plan=plan, buckets=tuple(buckets), accumulation=accumulation
    )
