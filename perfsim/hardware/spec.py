"""The hardware schema: one pydantic model for CPUs, GPUs, NPUs and FPGAs alike.

Quantities are unit strings in YAML (``"900 GB/s"``) and SI floats here (bytes/s). Every
model is frozen and rejects unknown keys. Cost models read *capabilities* (has a matrix
engine, its tile, its peak per dtype), never the ``kind`` string.

Peak figures are per unit per cycle, so a datasheet's TFLOP/s can be checked by hand:
``peak FLOP/s = 2 * macs_per_cycle * units * clock_hz`` for the matrix engine and
``flops_per_cycle * units * clock_hz`` for the vector engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    model_serializer,
    model_validator,
)

from perfsim.dtypes import Precision, executable_precisions
from perfsim.energy.defaults import MAC_ENERGY_45NM_J, VECTOR_OP_ENERGY_45NM_J
from perfsim.hardware.efficiency import EfficiencyGrid, ladder_at
from perfsim.units import parse_quantity

Dtype = Literal["fp32", "tf32", "fp16", "bf16", "fp8", "int32", "int8", "int4"]
DTYPES: Final[tuple[Dtype, ...]] = get_args(Dtype)


def _quantity(dimension: str) -> BeforeValidator:
    """Parse a unit string; a bare number passes only as already-SI data (``from_si``)."""

    def parse(value: Any, info: ValidationInfo) -> float:
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if is_number and info.context and info.context.get("si"):
            return float(value)
        return parse_quantity(value, dimension)

    return BeforeValidator(parse)


Bytes = Annotated[float, _quantity("bytes"), Field(gt=0)]
Bandwidth = Annotated[float, _quantity("bandwidth"), Field(gt=0)]
Frequency = Annotated[float, _quantity("frequency"), Field(gt=0)]
Seconds = Annotated[float, _quantity("time"), Field(ge=0)]
Joules = Annotated[float, _quantity("energy"), Field(ge=0)]
Watts = Annotated[float, _quantity("power"), Field(ge=0)]
Metres = Annotated[float, _quantity("length"), Field(gt=0)]
PositiveCount = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]


def _without_unset(model: BaseModel, data: dict[str, Any], *names: str) -> dict[str, Any]:
    """``data`` (``model``'s dump) without the optional fields ``names`` that are None, so a
    file without them dumps (and hashes, e.g. a sweep's device identity) as before those
    fields existed."""
    for name in names:
        if getattr(model, name) is None:
            data.pop(name, None)
    return data


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Buffers(_Frozen):
    """On-chip operand buffers of one systolic array (SCALE-Sim's ifmap/filter/ofmap SRAMs).

    They are carved out of the nearest memory level; without them the cycle engine splits
    that level's per-array share in three.
    """

    ifmap: Bytes
    filter: Bytes
    ofmap: Bytes


# one shipped threadblock tile: m, n, k, pipeline stages, warps along m, warps along n
LibraryTileRow = tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt, PositiveInt, PositiveInt]


class MatrixEngine(_Frozen):
    """A matrix unit per compute unit: a systolic array, tensor cores, or SIMD/AMX GEMM.

    ``tile`` is the output tile (rows, cols) the engine computes from its operand
    registers: each tile reads one row panel of A and one column panel of B from the
    nearest memory level. For a systolic array it is the array itself.
    """

    type: Literal["systolic", "tensor_core", "simd"]
    rows: PositiveInt | None = None
    cols: PositiveInt | None = None
    dataflow: Literal["os", "ws", "is"] | None = None
    tile: tuple[PositiveInt, PositiveInt] | None = None
    macs_per_cycle: dict[Dtype, PositiveCount]
    buffers: Buffers | None = None
    # operand buffers are double-buffered: the next tile loads while this one computes
    double_buffered: bool = True
    # (m, fraction of peak) points, m ascending: see `efficiency_at`
    efficiency: tuple[tuple[PositiveInt, Fraction], ...] | None = None
    # fraction of peak over (m, n*k): see `efficiency_at`; takes precedence over the ladder
    efficiency_grid: EfficiencyGrid | None = None
    # bytes/s at which a CPU BLAS packs a GEMM's weight operand (k x n) from memory before
    # its kernel runs, serial with the multiply; None: packing is not modelled
    weight_packing_bandwidth: Bandwidth | None = None
    # per dtype, the threadblock tiles a GPU library ships (CUTLASS / cuBLAS), each
    # [m, n, k, stages, warps_m, warps_n]: GEMMs run as `perfsim.engines.gpu_gemm` plans
    # them (a dtype the matrix engine lacks, e.g. fp32 on tensor cores, runs its tiles on
    # the vector engine's FMAs); None, or a dtype not listed: the datasheet peak
    library_tiles: dict[Dtype, tuple[LibraryTileRow, ...]] | None = None

    @model_validator(mode="after")
    def _check(self) -> MatrixEngine:
        if self.type == "systolic":
            if self.rows is None or self.cols is None or self.dataflow is None:
                raise ValueError("a systolic matrix engine needs rows, cols and dataflow")
            if (
                self.efficiency is not None
                or self.efficiency_grid is not None
                or self.weight_packing_bandwidth is not None
                or self.library_tiles is not None
            ):
                raise ValueError(
                    "efficiency, efficiency_grid, weight_packing_bandwidth and library_tiles "
                    "are for "
                    "tensor_core / simd "
                    "engines (a systolic "
                    "array's utilization comes from its folds)"
                )
        elif self.tile is None:
            raise ValueError(f"a {self.type} matrix engine needs tile: [rows, cols]")
        if not self.macs_per_cycle:
            raise ValueError("macs_per_cycle needs at least one dtype")
        if self.efficiency is not None:
            rows = [m for m, _ in self.efficiency]
            if not rows or rows != sorted(set(rows)):
                raise ValueError(
                    f"efficiency needs [m, fraction] points with m ascending, got m {rows}"
                )
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``efficiency_grid`` out of dumps where unset (`_without_unset`)."""
        return _without_unset(self, handler(self), "efficiency_grid")

    def efficiency_at(self, m: int, n: int | None = None, k: int | None = None) -> float:
        """Fraction of ``macs_per_cycle`` a GEMM with ``m`` output rows (and, where known,
        ``n`` columns and depth ``k``; per instance for a batched GEMM) sustains.

        CPU BLAS kernels amortize packing a weight panel over the rows of the activation,
        and run short accumulation loops (small ``k``) or few column panels (small ``n``)
        below peak. Both tables are measured (``perfsim calibrate``): the grid over
        ``(m, n*k)`` where the file has one and ``n``, ``k`` are given, else the ladder over
        ``m``, else 1 (`perfsim.hardware.efficiency`: log-log interpolation, ends held).
        """
        if self.efficiency_grid is not None and n and k:
            return self.efficiency_grid.at(m, n * k)
        if not self.efficiency:
            return 1.0
        return ladder_at(self.efficiency, m)

    @property
    def output_tile(self) -> tuple[int, int]:
        """Output tile (rows, cols) in elements; the systolic array or the given tile."""
        if self.tile is not None:
            return self.tile
        assert self.rows is not None and self.cols is not None
        return (self.rows, self.cols)


class VectorEngine(_Frozen):
    """SIMD / vector unit per compute unit: element-wise, softmax, norms, activations."""

    flops_per_cycle: dict[Dtype, PositiveCount]

    @model_validator(mode="after")
    def _check(self) -> VectorEngine:
        if not self.flops_per_cycle:
            raise ValueError("flops_per_cycle needs at least one dtype")
        return self


class SingleThread(_Frozen):
    """What one thread alone sustains on a multi-core CPU (``perfsim calibrate`` measures it
    beside the all-thread figures): per-cycle rates of its core, the bandwidth it reaches
    per memory level (by name), its per-op framework time. A 1-thread run uses these in
    place of the file's figures (`perfsim.hardware.threads.at_threads`)."""

    macs_per_cycle: dict[Dtype, PositiveCount] = Field(default_factory=dict)
    flops_per_cycle: dict[Dtype, PositiveCount] = Field(default_factory=dict)
    bandwidth: dict[str, Bandwidth] = Field(default_factory=dict)
    op_overhead: Seconds | None = None


class ComputeSpec(_Frozen):
    """``units`` identical compute units (cores, SMs, MXUs) running at ``clock``."""

    units: PositiveInt
    clock: Frequency
    matrix: MatrixEngine | None = None
    vector: VectorEngine
    # optional: the figures of one thread alone, where ``units`` > 1 (CPUs)
    single_thread: SingleThread | None = None

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``single_thread`` out of dumps where unset (`_without_unset`)."""
        return _without_unset(self, handler(self), "single_thread")


class MemoryLevel(_Frozen):
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


Runtime = Literal["eager", "cuda_graph", "engine"]
RUNTIMES: Final[tuple[Runtime, ...]] = get_args(Runtime)


class HostIssue(_Frozen):
    """Host seconds to issue one kernel, per runtime (`perfsim.timeline`): ``eager``
    (PyTorch eager: Python, dispatcher, launch), ``cuda_graph`` (one graph replay, per
    kernel node) and ``engine`` (a compiled engine such as TensorRT launching from C++).
    A file without this block keeps ``op_overhead`` for every runtime; a runtime the block
    leaves out (None) costs the host nothing: the device never waits (the ideal bound).

    ``eager_view``: host seconds per metadata op (view, reshape, transpose, expand, an
    inference dropout) that eager PyTorch dispatches without launching a kernel; the tracer
    folds these away (``OpGraph.meta.folded_ops``). Graph replay and compiled engines
    never dispatch them. None: free.
    """

    eager: Seconds | None = None
    cuda_graph: Seconds | None = None
    engine: Seconds | None = None
    eager_view: Seconds | None = None

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``eager_view`` out of dumps where unset (`_without_unset`)."""
        return _without_unset(self, handler(self), "eager_view")


class EnergyTable(_Frozen):
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
        (`_without_unset`)."""
        return _without_unset(self, handler(self), "mac_whole_core", "dvfs_exponent")


class ScaleOut(_Frozen):
    """The network between nodes (InfiniBand, Ethernet) when devices span several nodes.

    ``devices_per_node`` devices share a node's fast fabric (the `Interconnect` links);
    ``nics`` network ports per node of ``bandwidth`` bytes/s each way connect the nodes;
    ``latency`` is one message's start-up cost between nodes, seconds.
    """

    devices_per_node: PositiveInt
    nics: PositiveInt
    bandwidth: Bandwidth
    latency: Seconds


class Interconnect(_Frozen):
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


class AreaInputs(_Frozen):
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


class HardwareSpec(_Frozen):
    """A whole device. ``memory`` is ordered from nearest to farthest (DRAM last)."""

    version: Literal[1]
    name: str
    kind: Literal["cpu", "gpu", "npu", "fpga"]
    description: str = ""
    technology_node: Metres
    native_precision: Precision
    op_overhead: Seconds = 0.0
    # True: the framework's per-op host work (dispatch, interpreter) runs on the same core
    # before each kernel and adds to it (eager CPU execution is synchronous); False: it
    # overlaps the previous kernel (asynchronous GPU launch), so an op takes at least it
    op_overhead_serial: bool = False
    # per-runtime host issue cost per kernel (the host/device timeline); None: op_overhead
    host_issue: HostIssue | None = None
    compute: ComputeSpec
    memory: tuple[MemoryLevel, ...] = Field(min_length=1)
    energy: EnergyTable = Field(default_factory=EnergyTable)
    # board / chip power limit; None: the boost clock is always sustained (perfsim.engines.power)
    tdp: Watts | None = None
    interconnect: Interconnect | None = None
    # inputs of the die-area model only (perfsim.area); None: every default
    area: AreaInputs | None = None

    @model_validator(mode="after")
    def _check(self) -> HardwareSpec:
        names = [level.name for level in self.memory]
        if len(set(names)) != len(names):
            raise ValueError(f"memory level names must be unique, got {names}")
        single = self.compute.single_thread
        unknown = sorted(set(single.bandwidth) - set(names)) if single else []
        if unknown:
            raise ValueError(
                f"compute.single_thread.bandwidth names no memory level: {unknown} (levels {names})"
            )
        matrix = self.compute.matrix
        for dtype in matrix.macs_per_cycle if matrix else ():
            if dtype not in self.energy.mac and dtype not in MAC_ENERGY_45NM_J:
                raise ValueError(f"energy.mac needs an entry for matrix dtype {dtype} (no default)")
        for dtype in self.compute.vector.flops_per_cycle:
            if dtype not in self.energy.vector_op and dtype not in VECTOR_OP_ENERGY_45NM_J:
                raise ValueError(
                    f"energy.vector_op needs an entry for vector dtype {dtype} (no default)"
                )
        if self.tdp is not None and self.tdp <= self.energy.static_power:
            raise ValueError(
                f"tdp ({self.tdp} W) must exceed energy.static_power ({self.energy.static_power} W)"
            )
        if self.native_precision not in self.supported_precisions():
            raise ValueError(
                f"native_precision {self.native_precision} is not executable: "
                f"supported {list(self.supported_precisions())}"
            )
        return self

    @classmethod
    def from_si(cls, data: dict[str, Any]) -> HardwareSpec:
        """Validate SI-float data, e.g. an edited ``spec.model_dump()``."""
        return cls.model_validate(data, context={"si": True})

    # ---- derived figures (SI) -------------------------------------------------------
    def matrix_peak_flops(self, dtype: str) -> float:
        """Peak matrix FLOP/s at ``dtype`` (2 FLOPs per MAC), 0 if unsupported."""
        matrix = self.compute.matrix
        if matrix is None or dtype not in matrix.macs_per_cycle:
            return 0.0
        return 2.0 * matrix.macs_per_cycle[dtype] * self.compute.units * self.compute.clock

    def matrix_efficiency(self, m: int, n: int | None = None, k: int | None = None) -> float:
        """Fraction of the matrix peak a GEMM of ``m`` x ``n`` x ``k`` (per instance)
        sustains (`MatrixEngine.efficiency_at`; 1 without a table)."""
        matrix = self.compute.matrix
        return 1.0 if matrix is None else matrix.efficiency_at(m, n, k)

    def gemm_efficiency(self, dims: Mapping[str, int]) -> float:
        """`matrix_efficiency` of a matrix op from its ``dims`` (per instance: ``b`` does
        not count); a fused attention op's ``v`` adds to its depth ``k``, as in its FLOPs."""
        k = dims.get("k", 0) + dims.get("v", 0)
        return self.matrix_efficiency(dims.get("m", 0), dims.get("n"), k or None)

    def weight_packing_s(self, weight_bytes: float) -> float:
        """Seconds to pack a GEMM's weight operand of ``weight_bytes`` (0 if not modelled)."""
        matrix = self.compute.matrix
        if matrix is None or matrix.weight_packing_bandwidth is None:
            return 0.0
        return weight_bytes / matrix.weight_packing_bandwidth

    def op_latency(self, busy_s: float) -> float:
        """An op's latency, seconds, from its kernel's time ``busy_s`` and ``op_overhead``.

        Serial overhead (CPU eager) adds to the kernel; overlapped overhead (GPU launch)
        bounds it from below.
        """
        if self.op_overhead_serial:
            return self.op_overhead + busy_s
        return max(self.op_overhead, busy_s)

    def vector_peak_flops(self, dtype: str) -> float:
        """Peak vector FLOP/s at ``dtype``, 0 if unsupported."""
        per_cycle = self.compute.vector.flops_per_cycle.get(dtype, 0.0)  # type: ignore[call-overload]
        return float(per_cycle) * self.compute.units * self.compute.clock

    def level_bandwidth(self, level: MemoryLevel) -> float:
        """Aggregate bandwidth of a level, bytes/s: its peak times its ``achievable``
        fraction (1 where the file gives none)."""
        fraction = 1.0 if level.achievable is None else level.achievable
        return level.bandwidth * fraction * (self.compute.units if level.per_unit else 1)

    def host_issue_s(self, runtime: str | None) -> float | None:
        """Host seconds to issue one kernel under ``runtime`` (0 where the ``host_issue``
        block leaves it out); None without the block or a runtime: no timeline, each op
        floored at ``op_overhead`` (`op_latency`)."""
        if runtime is None or self.host_issue is None:
            return None
        seconds = getattr(self.host_issue, runtime)
        return 0.0 if seconds is None else float(seconds)

    def host_view_s(self, runtime: str | None) -> float:
        """Host seconds per folded metadata op under ``runtime``: ``host_issue.eager_view``
        for eager PyTorch, 0 otherwise (replayed graphs and engines dispatch no views)."""
        if runtime != "eager" or self.host_issue is None:
            return 0.0
        return float(self.host_issue.eager_view or 0.0)

    def level_capacity(self, level: MemoryLevel) -> float:
        """Aggregate capacity of a level, bytes."""
        return level.capacity * (self.compute.units if level.per_unit else 1)

    @property
    def dram(self) -> MemoryLevel:
        """The farthest level (device memory)."""
        return self.memory[-1]

    @property
    def on_chip_bytes(self) -> float:
        """Total capacity of every level but the farthest, bytes."""
        return sum(self.level_capacity(level) for level in self.memory[:-1])

    def supported_precisions(self) -> tuple[str, ...]:
        """Precisions (``--precision`` values) this device can execute (`perfsim.dtypes`)."""
        matrix = self.compute.matrix.macs_per_cycle if self.compute.matrix else {}
        return executable_precisions(matrix, self.compute.vector.flops_per_cycle)
