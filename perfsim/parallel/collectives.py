"""All-reduce time on a described interconnect: the alpha-beta (Hockney) model.

A collective of ``n`` bytes per device over ``p`` devices costs ``steps * alpha +
factor * n / B``: ``alpha`` is one message's start-up over one hop (the interconnect's
``latency``), ``B`` the bandwidth a device can drive each way, and ``factor`` the bytes each
device must send per byte of payload. The algorithms and their terms:

- **ring** (reduce-scatter then all-gather around a ring; Patarasuk & Yuan, "Bandwidth
  optimal all-reduce algorithms for clusters of workstations", JPDC 69(2), 2009; Thakur,
  Rabenseifner & Gropp, "Optimization of collective communication operations in MPICH",
  IJHPCA 19(1), 2005, section 4.5): ``2 (p - 1)`` steps, factor ``2 (p - 1) / p``, the
  bandwidth lower bound.
- **tree** (NCCL's double binary tree: reduce up, broadcast down, each of two trees
  carrying half the data, every device an inner node of at most one tree; Sanders, Speck &
  Träff, "Two-tree algorithms for full bandwidth broadcast, reduction and scan", Parallel
  Computing 35(12), 2009; Jeaugey, "Massively scale your deep learning training with NCCL
  2.4", NVIDIA blog 2019): ``2 ceil(log2 p)`` steps, factor 2 (an inner node receives from two
  children and sends to one parent in each half, both ways).
- **torus2d** (TPU pods: reduce-scatter along the X rings, all-reduce of the 1/X shard
  along the Y rings, all-gather along X; each ring bidirectional, so a dimension's two links
  carry half the data each; Ying et al., "Image classification at supercomputer scale",
  arXiv:1811.06992, 2018, section 3.2; Kumar et al., "Scale MLPerf-0.6 models on Google
  TPU-v3 pods", arXiv:1909.09756, 2019).
- **hierarchical** (a scale-out network between nodes: reduce-scatter inside each node,
  all-reduce of each device's 1/d shard between nodes over the node's network ports,
  all-gather inside the node; Jia et al., "Highly scalable deep learning training system with
  mixed-precision", arXiv:1807.11205, 2018; NCCL's inter-node rings and trees follow the same
  bytes).

Inside a node every device drives ``links * bandwidth`` each way: through a switch
(NVSwitch) directly, and over direct links (DGX-1's cube-mesh, an AMD hive, a physical ring)
because NCCL and RCCL lay one ring per link over them. Contention with compute for the
device's memory or cores is not modeled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from perfsim.hardware.spec import Interconnect

Algorithm = Literal["auto", "ring", "tree"]
ALGORITHMS: tuple[Algorithm, ...] = ("auto", "ring", "tree")


@dataclass(frozen=True, slots=True)
class CollectiveTime:
    """One all-reduce: which algorithm, its latency and bandwidth terms (seconds), and the
    bytes each device sends."""

    algorithm: str
    devices: int
    payload_bytes: float
    latency_s: float
    transfer_s: float
    sent_bytes: float

    @property
    def seconds(self) -> float:
        """Total time, seconds."""
        return self.latency_s + self.transfer_s


def ring_allreduce(nbytes: float, p: int, bandwidth: float, alpha: float) -> CollectiveTime:
    """Ring all-reduce of ``nbytes`` per device over ``p`` devices.

    ``2 (p - 1) alpha + 2 (p - 1) / p * nbytes / bandwidth`` (Patarasuk & Yuan 2009).
    """
    if p <= 1:
        return CollectiveTime("ring", p, nbytes, 0.0, 0.0, 0.0)
    factor = 2.0 * (p - 1) / p
    return CollectiveTime(
        "ring", p, nbytes, 2 * (p - 1) * alpha, factor * nbytes / bandwidth, factor * nbytes
    )


def tree_allreduce(nbytes: float, p: int, bandwidth: float, alpha: float) -> CollectiveTime:
    """Double-binary-tree all-reduce: ``2 ceil(log2 p) alpha + 2 nbytes / bandwidth``.

    Pipelined, so the depth costs start-ups only (Sanders, Speck & Träff 2009; NCCL 2.4).
    """
    if p <= 1:
        return CollectiveTime("tree", p, nbytes, 0.0, 0.0, 0.0)
    depth = math.ceil(math.log2(p))
    return CollectiveTime(
        "tree", p, nbytes, 2 * depth * alpha, 2.0 * nbytes / bandwidth, 2.0 * nbytes
    )


def torus2d_allreduce(
    nbytes: float, dims: tuple[int, int], link_bandwidth: float, alpha: float
) -> CollectiveTime:
    """2-D torus all-reduce over ``dims = (X, Y)`` devices with bidirectional rings.

    Reduce-scatter along X (``(X-1)/X * n`` over two links), all-reduce of ``n / X`` along
    Y (``2 (Y-1)/Y * n/X``), all-gather along X: time ``2 (X-1 + Y-1) alpha +
    (2 (X-1)/X + 2 (Y-1)/(X Y)) * n / (2 b)`` with ``b`` one link's bandwidth each way.
    The bandwidth factor simplifies to the ring's ``2 (p-1)/p`` (p = X Y), over a
    dimension's two links; what the torus saves over one long ring is start-ups:
    ``2 (X-1 + Y-1)`` instead of ``2 (p-1)``. NB: running half the payload X-first and half
    Y-first at once would use all four links; that variant is not modeled (conservative).
    """
    x, y = dims
    if x * y <= 1:
        return CollectiveTime("torus2d", 1, nbytes, 0.0, 0.0, 0.0)
    factor = 2.0 * (x - 1) / x + 2.0 * (y - 1) / (x * y)
    steps = 2 * (x - 1) + 2 * (y - 1)
    return CollectiveTime(
        "torus2d",
        x * y,
        nbytes,
        steps * alpha,
        factor * nbytes / (2.0 * link_bandwidth),
        factor * nbytes,
    )


def torus_slice(p: int, pod: tuple[int, int] | None) -> tuple[int, int]:
    """The (X, Y) slice of a torus that holds ``p`` devices: the pod itself when ``p`` fills
    it, else the squarest X <= Y factorization that fits in the pod.

    Raises:
        ValueError: no X x Y = p fits in the pod.
    """
    if pod is not None and p == pod[0] * pod[1]:
        return pod
    short, long = (min(pod), max(pod)) if pod is not None else (p, p)
    for x in range(math.isqrt(p), 0, -1):
        if p % x == 0 and x <= short and p // x <= long:
            return (x, p // x)
    raise ValueError(f"{p} devices do not form a slice of a {short}x{long} torus")


def _best(*options: CollectiveTime) -> CollectiveTime:
    return min(options, key=lambda option: option.seconds)


def _flat(
    nbytes: float, p: int, bandwidth: float, alpha: float, algorithm: Algorithm
) -> CollectiveTime:
    ring = ring_allreduce(nbytes, p, bandwidth, alpha)
    if algorithm == "ring":
        return ring
    tree = tree_allreduce(nbytes, p, bandwidth, alpha)
    return tree if algorithm == "tree" else _best(ring, tree)


def allreduce(
    nbytes: float, devices: int, net: Interconnect, algorithm: Algorithm = "auto"
) -> CollectiveTime:
    """All-reduce of ``nbytes`` per device over ``devices`` devices of one interconnect.

    ``auto`` picks the faster of ring and tree (what NCCL's tuner aims for) on switched and
    meshed fabrics, the ring on a physical ring (a tree would contend for its links) and the
    2-D algorithm on a torus. With ``devices`` beyond one node of a ``scale_out`` network the
    all-reduce is hierarchical.

    Raises:
        ValueError: the devices do not fit the topology (too many for a torus pod, a count
            that is not a whole number of nodes, or no interconnect at all).
    """
    if devices <= 1:
        return CollectiveTime("none", max(devices, 1), nbytes, 0.0, 0.0, 0.0)
    if net.topology == "none":
        raise ValueError("topology none cannot connect devices")
    if net.topology == "torus2d":
        pod = net.dims
        if pod is not None and devices > pod[0] * pod[1]:
            raise ValueError(
                f"{devices} devices exceed a {pod[0]}x{pod[1]} torus pod "
                "(no scale-out between pods)"
            )
        return torus2d_allreduce(nbytes, torus_slice(devices, pod), net.bandwidth, net.latency)
    intra_bandwidth = net.links * net.bandwidth
    intra_algorithm: Algorithm = "ring" if net.topology == "ring" else algorithm
    out = net.scale_out
    if out is None or devices <= out.devices_per_node:
        return _flat(nbytes, devices, intra_bandwidth, net.latency, intra_algorithm)
    d = out.devices_per_node
    if devices % d:
        raise ValueError(f"{devices} devices are not a whole number of {d}-device nodes")
    nodes = devices // d
    # reduce-scatter inside the node leaves each device 1/d of the payload; the node's ports
    # are shared by its d devices
    inside = ring_allreduce(nbytes, d, intra_bandwidth, net.latency)
    between = _flat(nbytes / d, nodes, out.nics * out.bandwidth / d, out.latency, algorithm)
    return CollectiveTime(
        f"hierarchical({between.algorithm})",
        devices,
        nbytes,
        inside.latency_s + between.latency_s,
        inside.transfer_s + between.transfer_s,
        inside.sent_bytes + between.sent_bytes,
    )
