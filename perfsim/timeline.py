"""A host/device timeline: kernels queue asynchronously, the device idles only when the
host falls behind.

With a runtime named (``Scenario.runtime``: ``eager`` PyTorch, ``cuda_graph`` replay, a
compiled ``engine`` such as TensorRT) and the hardware file's host issue cost for it
(``host_issue.<runtime>``, seconds per kernel, `perfsim.hardware.spec.HostIssue`), the
host issues kernel ``i`` at ``h_i = (i + 1) * host`` (one after another, never waiting for
the device; under eager PyTorch ``host`` also carries each kernel's share of the metadata
ops the tracer folded, ``host_issue.eager_view`` each) and the device runs it from
``start_i = max(h_i, end_{i-1})`` to
``end_i = start_i + device_i``; the latency is ``end`` of the last kernel. A CUDA graph
whose file sets ``host_issue.graph_launch`` is submitted whole by one launch call: every
``h_i`` is then ``graph_launch + nodes * host``, the time the call takes to hand its nodes
to the device (the driver works per node inside it), and the device runs them back to
back from there. ``device_i`` is
the op's kernel time as the engine costed it, without the ``op_overhead`` floor the
timeline replaces (`device_s`). Each op's ``latency_s`` becomes its step on the timeline,
``end_i - end_{i-1}`` (its kernel plus the device's wait for the host before it), so every
sum over ops (totals, categories, modules) adds up to the timeline's latency; static
energy follows the new latencies.

Ops launched inside another op's kernel (a fusion what-if: costed without overhead) cost
the host nothing. Serial hosts (``op_overhead_serial``: eager CPU execution, where the
framework's work runs on the cores that run the kernels) keep today's serial sum; so does
a file without a ``host_issue`` block. A runtime the block leaves out (the ideal bound,
`perfsim.hardware.ideal`) issues at no cost: the latency is the sum of the kernels' device
times, never above any timeline's. A pure post-pass over the per-op costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from perfsim.energy.prices import energy_prices
from perfsim.engines import OpCost
from perfsim.ir import OpGraph

if TYPE_CHECKING:
    from perfsim.estimate import Result


def device_s(cost: OpCost) -> float:
    """The kernel's time on the device: its latency without the ``op_overhead`` floor
    (where the floor set it, the engine's ``kernel_s``, else the busier of its compute and
    memory terms)."""
    if cost.bound == "overhead":
        if cost.kernel_s is not None:
            return cost.kernel_s
        return max(cost.compute_s, cost.memory_s)
    return cost.latency_s


def _busy_bound(cost: OpCost) -> str:
    """What bounds the kernel itself (the engine's bound, unless that was the floor)."""
    if cost.bound != "overhead":
        return cost.bound
    if cost.compute_s >= cost.memory_s or not cost.level_s:
        return "compute"
    return "memory:" + max(cost.level_s, key=lambda name: cost.level_s[name])


def timeline(
    costs: Sequence[OpCost],
    host_s: float,
    launched: Sequence[bool],
    static_power_w: float,
    submitted_s: float | None = None,
) -> tuple[OpCost, ...]:
    """The costs with ``latency_s`` each op's step on the host/device timeline.

    ``launched[i]``: whether the host issues op ``i`` (False: it runs inside an earlier
    op's kernel). ``submitted_s``: seconds until one call has handed every kernel to the
    device (a graph launch); None: the host issues them one after another, ``host_s``
    each. ``details`` gains ``host_wait_s``, the device's idle time before the op.
    """
    host = end = 0.0
    timed = []
    for cost, issued in zip(costs, launched, strict=True):
        if issued:
            host = submitted_s if submitted_s is not None else host + host_s
        start = max(host, end) if issued else end
        finish = start + device_s(cost)
        step = finish - end
        breakdown = dict(cost.energy_breakdown_j)
        if "static" in breakdown:
            breakdown["static"] = static_power_w * step
        waited = start - end > finish - start
        timed.append(
            replace(
                cost,
                latency_s=step,
                overhead_s=host_s if issued else 0.0,
                bound="overhead" if waited else _busy_bound(cost),
                energy_j=sum(breakdown.values()),
                energy_breakdown_j=breakdown,
                details={**cost.details, "host_wait_s": start - end},
            )
        )
        end = finish
    return tuple(timed)


def views_per_kernel(folded_ops: int, kernels: int) -> float:
    """Folded metadata ops the host dispatches per kernel it launches, spread evenly: eager
    PyTorch interleaves its views and reshapes with the kernels (each linear's weight
    transpose, each attention's head split), so each launch carries its share."""
    return folded_ops / kernels if kernels else 0.0


def apply_runtime(result: Result, runtime: str | None) -> Result:
    """``result`` on the host/device timeline of ``runtime`` (unchanged without one, on a
    serial host, or where the hardware file has no issue cost for it)."""
    hw = result.hw
    host_s = hw.host_issue_s(runtime)
    if host_s is None or hw.op_overhead_serial:
        return result
    launched = [cost.overhead_s > 0 or hw.op_overhead == 0 for cost in result.costs]
    kernels = sum(launched)
    host_s += views_per_kernel(result.graph.meta.folded_ops, kernels) * hw.host_view_s(runtime)
    launch = hw.graph_launch_s(runtime)
    submitted = None if launch is None else launch + host_s * kernels
    costs = timeline(
        result.costs, host_s, launched, energy_prices(hw).static_power_w, submitted_s=submitted
    )
    graph = OpGraph(result.graph.ops, result.graph.meta.but(runtime=runtime))
    return replace(result, graph=graph, costs=costs)
