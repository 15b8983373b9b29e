"""The rest of a device's schema: memory levels, host issue, energies, links and area inputs."""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    Field,
    PositiveInt,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from perfsim.hardware.fields import (
    Bandwidth,
    Bytes,
    Dtype,
    Fraction,
    Frozen,
    Joules,
    Seconds,
    Watts,
    without_unset,
)


class MemoryLevel(Frozen):
    """One level of the hierarchy, nearest first.

    With ``per_unit: true`` capacity and bandwidth are those of one instance per compute
    unit (an SM's shared memory, a core's L1); totals multiply by ``compute.units``.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    capacity: Bytes
    bandwidth: Bandwidth
    latency: Seconds = 0.0
    per_unit: bool = False
    energy_per_byte: Joules | None = None  # None: perfsim.energy.defaults by capacity and node
    # fraction of ``bandwidth`` a streaming kernel sustains (a published STREAM-class
    # measurement of the part, cited in the file); None: the datasheet peak (the ideal)
    achievable: Fraction | None = None


class FreshPages(Frozen):
    """What a freshly mapped output costs on a CPU host running eager PyTorch.

    torch's CPU allocator takes each tensor from the C library's ``malloc``. glibc serves a
    request at or above its mmap threshold with a fresh ``mmap`` and unmaps it on free
    (the threshold adapts upward to at most ``DEFAULT_MMAP_THRESHOLD_MAX``, 32 MiB on 64-bit
    systems: mallopt(3), ``M_MMAP_THRESHOLD``), so an op whose output is that large takes a
    page fault on every page it first writes, and the kernel zeroes each page. Smaller
    outputs reuse heap memory already mapped. ``threshold``: the smallest output, bytes,
    that pays; ``bandwidth``: output bytes/s of such first touches, serial with the kernel
    (both measured by ``perfsim calibrate``).
    """

    threshold: Bytes
    bandwidth: Bandwidth

    def seconds(self, output_bytes: float) -> float:
        """Seconds of first touches of one freshly allocated output of ``output_bytes``."""
        return output_bytes / self.bandwidth if output_bytes >= self.threshold else 0.0


class FrameworkRefill(Frozen):
    """The framework time eager PyTorch adds per op when the kernels stream bytes through
    the caches between two runs of the same Python: a CPU host's figure over ``op_overhead``.

    ``op_overhead`` is measured on a model whose weights and activations fit in a core's
    cache, so the interpreter, the dispatcher and the modules' objects stay cached from one
    layer to the next. In a real model every layer's kernels stream its weights and
    activations, evicting that state, and the same Python between the same ops runs slower
    (measured in issue 13: a hidden-8 ``BertLayer`` forward 179 us back to back, 428 us
    after a 100 MB ``torch.sum``, 272 us after a pure-Python spin of the same 3 ms).
    ``points``: (bytes one encoder layer's forward ops read and write, extra seconds per
    launched op) ascending, from the same 4-layer model at several widths, the time outside
    every op less that of the hidden-8 model (``perfsim calibrate``). Piecewise linear in
    bytes; no extra below the first point; the last point held above it.
    """

    points: tuple[tuple[Bytes, Seconds], ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> FrameworkRefill:
        sizes = [size for size, _ in self.points]
        if any(b <= a for a, b in pairwise(sizes)):
            raise ValueError(
                f"points need [layer bytes, seconds] with bytes ascending, got {sizes}"
            )
        return self

    def seconds(self, layer_bytes: float) -> float:
        """Extra framework seconds per op when each layer streams ``layer_bytes``."""
        (first, first_s), (last, last_s) = self.points[0], self.points[-1]
        if layer_bytes <= first:
            return first_s if layer_bytes == first else 0.0
        if layer_bytes >= last:
            return last_s
        for (lo, lo_s), (hi, hi_s) in pairwise(self.points):
            if layer_bytes <= hi:
                return lo_s + (hi_s - lo_s) * (layer_bytes - lo) / (hi - lo)
        return last_s  # unreachable: layer_bytes < last


Runtime = Literal["eager", "cuda_graph", "engine"]
RUNTIMES: Final[tuple[Runtime, ...]] = get_args(Runtime)


class HostIssue(Frozen):
    """Host seconds to issue one kernel, per runtime (`perfsim.timeline`): ``eager``
    (PyTorch eager: Python, dispatcher, launch), ``cuda_graph`` (one graph replay, per
    kernel node) and ``engine`` (a compiled engine such as TensorRT launching from C++).
    A file without this block keeps ``op_overhead`` for every runtime; a runtime the block
    leaves out (None) costs the host nothing: the device never waits (the ideal bound).

    ``eager_view``: host seconds per metadata op (view, reshape, transpose, expand, an
    inference dropout) that eager PyTorch dispatches without launching a kernel; the tracer
    folds these away (``OpGraph.meta.folded_ops``). Graph replay and compiled engines
    never dispatch them. None: free.

    ``graph_launch``: the fixed host seconds of one ``cudaGraphLaunch`` call. Set, a graph
    replay is one call that submits every node (``cuda_graph`` seconds each) before the
    device starts the first: the device waits ``graph_launch + nodes x cuda_graph``, then
    runs the kernels back to back (`perfsim.timeline`). None: the nodes reach the device
    one after another, ``cuda_graph`` seconds apart.
    """

    eager: Seconds | None = None
    cuda_graph: Seconds | None = None
    engine: Seconds | None = None
    eager_view: Seconds | None = None
    graph_launch: Seconds | None = None

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``eager_view`` and ``graph_launch`` out of dumps where unset
        (`without_unset`)."""
        return without_unset(self, handler(self), "eager_view", "graph_launch")


class EnergyTable(Frozen):
    """Per-action energies (joules) and static power (watts).

    Every entry is optional: what a file leaves out comes from the default table
    (`perfsim.energy.defaults`, Horowitz ISSCC 2014) scaled to ``technology_node``.
    """

    mac: dict[Dtype, Joules] = Field(default_factory=dict)
    vector_op: dict[Dtype, Joules] = Field(default_factory=dict)
    static_power: Watts = 0.0
    # operand delivery, issue and clocking (perfsim.energy.defaults; None / absent: default)
    operands: dict[Dtype, Joules] = Field(default_factory=dict)  # per MAC, all levels inside
    register_file: Joules | None = None  # per byte of register-file operand traffic
    instruction: Joules | None = None  # per issued instruction (fetch, decode, control)
    clock_share: Annotated[float, Field(ge=0, lt=1)] | None = None  # of core switching power
    # the file's ``mac`` figures are whole-core joules per MAC, measured on the part (GEMM
    # power less its memory energy): operand delivery, issue and the clock tree included,
    # so `perfsim.energy.prices` adds no bottom-up operands or issue to them
    mac_whole_core: bool | None = None  # None: false
    # on-chip energy per action at a clock ``r`` x boost is ``r ** dvfs_exponent`` x its
    # boost figure (None: 2, the V ~ f rule of `perfsim.engines.power`); a calibrated file
    # carries the exponent its device showed under its power limit
    dvfs_exponent: Annotated[float, Field(ge=0, le=3)] | None = None

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``mac_whole_core`` and ``dvfs_exponent`` out of dumps where unset
        (`without_unset`)."""
        return without_unset(self, handler(self), "mac_whole_core", "dvfs_exponent")


class ScaleOut(Frozen):
    """The network between nodes (InfiniBand, Ethernet) when devices span several nodes.

    ``devices_per_node`` devices share a node's fast fabric (the `Interconnect` links);
    ``nics`` network ports per node of ``bandwidth`` bytes/s each way connect the nodes;
    ``latency`` is one message's start-up cost between nodes, seconds.
    """

    devices_per_node: PositiveInt
    nics: PositiveInt
    bandwidth: Bandwidth
    latency: Seconds


class Interconnect(Frozen):
    """Device-to-device links, for multi-device work (`perfsim.parallel`).

    ``links`` links per device of ``bandwidth`` bytes/s each way; ``latency`` is the
    start-up cost of one message over one hop (the alpha of the alpha-beta model), seconds.
    ``topology``: ``switch`` (every device reaches every other through a switch, e.g.
    NVSwitch), ``mesh`` (direct links, rings laid over them, e.g. DGX-1's hybrid cube-mesh),
    ``ring``, ``torus2d`` (TPU pods; ``dims`` is the full pod's shape) or ``none``.
    ``scale_out`` is the network between nodes, if any; ``energy_per_byte`` prices each byte
    a device sends (joules; links and switches).
    """

    topology: Literal["ring", "switch", "torus2d", "mesh", "none"]
    bandwidth: Bandwidth
    latency: Seconds
    links: PositiveInt
    dims: tuple[PositiveInt, PositiveInt] | None = None
    scale_out: ScaleOut | None = None
    energy_per_byte: Joules | None = None

    @model_validator(mode="after")
    def _check(self) -> Interconnect:
        if self.dims is not None and self.topology != "torus2d":
            raise ValueError(f"dims is only meaningful for topology torus2d, not {self.topology}")
        if self.topology == "torus2d" and self.links < 4:
            raise ValueError(f"a torus2d device needs 4 links (2 per dimension), got {self.links}")
        return self


class AreaInputs(Frozen):
    """What the die-area model (`perfsim.area`) needs beyond the performance description.

    ``estimate``: False where the file cannot be priced honestly (no known process node,
    e.g. a `perfsim calibrate` file measured on a VM): no die area, ``area_mm2`` None.
    ``memory_interface``: the off-chip memory's interface kind (None: from the farthest
    level's name: ``hbm*`` -> hbm2, ``gddr*`` -> gddr6, ``host``/``pcie*`` -> pcie, else
    ddr4; ``none``: no PHY or controller inside the measured area, e.g. a core whose pads
    lie outside it); ``extra_sram``: on-chip SRAM the performance model leaves out (a cache
    level not modelled), bytes; ``register_file``: register file per compute unit (a GPU
    SM's), bytes; ``die_units``: compute units on the die when the part enables fewer
    (GA100: 128 SMs, A100 enables 108): per-unit blocks are costed for all of them (never
    fewer than ``compute.units``: a sweep that raises the units grows the die).
    """

    estimate: bool = True
    memory_interface: Literal["hbm2", "hbm3", "gddr6", "ddr4", "ddr3", "pcie", "none"] | None = None
    extra_sram: Bytes | None = None
    register_file: Bytes | None = None
    die_units: PositiveInt | None = None
