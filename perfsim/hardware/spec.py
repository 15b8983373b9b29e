"""The hardware schema: one pydantic model for CPUs, GPUs, NPUs and FPGAs alike.

Quantities are unit strings in YAML (``"900 GB/s"``) and SI floats here (bytes/s). Every
model is frozen and rejects unknown keys. Cost models read *capabilities* (has a matrix
engine, its tile, its peak per dtype), never the ``kind`` string.

Peak figures are per unit per cycle, so a datasheet's TFLOP/s can be checked by hand:
``peak FLOP/s = 2 * macs_per_cycle * units * clock_hz`` for the matrix engine and
``flops_per_cycle * units * clock_hz`` for the vector engine.

The parts live in their own modules (`perfsim.hardware.fields`: dtypes, quantities and the
frozen base; `perfsim.hardware.compute_spec`: the engines; `perfsim.hardware.components`:
memory, host issue, energy, links, area inputs) and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from perfsim.dtypes import Precision, executable_precisions
from perfsim.energy.defaults import MAC_ENERGY_45NM_J, VECTOR_OP_ENERGY_45NM_J
from perfsim.hardware.components import (
    RUNTIMES,
    AreaInputs,
    EnergyTable,
    FrameworkRefill,
    FreshPages,
    HostIssue,
    Interconnect,
    MemoryLevel,
    Runtime,
    ScaleOut,
)
from perfsim.hardware.compute_spec import (
    Buffers,
    ComputeSpec,
    LibraryTileRow,
    MatrixEngine,
    SingleThread,
    VectorEngine,
)
from perfsim.hardware.fields import (
    DTYPES,
    Bandwidth,
    Bytes,
    Dtype,
    Fraction,
    Frequency,
    Frozen,
    Joules,
    Metres,
    PositiveCount,
    Seconds,
    Watts,
    without_unset,
)
from perfsim.hardware.flash_blocks import flash_block_dims

__all__ = [
    "DTYPES",
    "RUNTIMES",
    "AreaInputs",
    "Bandwidth",
    "Buffers",
    "Bytes",
    "ComputeSpec",
    "Dtype",
    "EnergyTable",
    "Fraction",
    "FrameworkRefill",
    "Frequency",
    "FreshPages",
    "HardwareSpec",
    "HostIssue",
    "Interconnect",
    "Joules",
    "LibraryTileRow",
    "MatrixEngine",
    "MemoryLevel",
    "Metres",
    "PositiveCount",
    "Runtime",
    "ScaleOut",
    "Seconds",
    "SingleThread",
    "VectorEngine",
    "Watts",
]


class HardwareSpec(Frozen):
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
    # device seconds every launched kernel takes beyond its work: the grid's launch, its
    # blocks' dispatch and its completion before the next kernel can start (the period of
    # back-to-back trivial kernels replayed from a CUDA graph, where no host is in the
    # loop); added to each kernel's time (`kernel_s`); None: 0
    kernel_startup: Seconds | None = None
    # per-runtime host issue cost per kernel (the host/device timeline); None: op_overhead
    host_issue: HostIssue | None = None
    # first touches of freshly mapped large outputs (CPU hosts); None: not modelled
    fresh_pages: FreshPages | None = None
    # eager framework time that grows with the bytes each layer streams (CPU hosts); None:
    # op_overhead alone (`perfsim.engines.framework`)
    framework_refill: FrameworkRefill | None = None
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
        if matrix is not None and matrix.fp32_as and "fp32" not in self.energy.mac:
            # the fp32 default is a full fp32 multiply, not a pass of the fp32_as MACs
            raise ValueError(
                f"energy.mac needs an fp32 entry with compute.matrix.fp32_as: {matrix.fp32_as} "
                f"(an fp32 product is a pass of the {matrix.fp32_as} MACs)"
            )
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

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``fresh_pages``, ``framework_refill`` and ``kernel_startup`` out of dumps
        where unset (`without_unset`)."""
        return without_unset(
            self, handler(self), "fresh_pages", "framework_refill", "kernel_startup"
        )

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
        not count); a fused attention op's ``v`` adds to its depth ``k``, as in its FLOPs.
        A product inside a fused attention kernel (``dims["flash"]``) runs as the kernel's
        block products do (`perfsim.hardware.flash_blocks`)."""
        if "flash" in dims:
            dims = flash_block_dims(dims)
        k = dims.get("k", 0) + dims.get("v", 0)
        return self.matrix_efficiency(dims.get("m", 0), dims.get("n"), k or None)

    def weight_packing_s(self, weight_bytes: float) -> float:
        """Seconds to pack a GEMM's weight operand of ``weight_bytes`` (0 if not modelled)."""
        matrix = self.compute.matrix
        if matrix is None or matrix.weight_packing_bandwidth is None:
            return 0.0
        return weight_bytes / matrix.weight_packing_bandwidth

    def fresh_pages_s(self, output_bytes: float) -> float:
        """Seconds of first touches of a freshly allocated output of ``output_bytes`` (0
        where the file has no ``fresh_pages`` or the output is below its threshold)."""
        return 0.0 if self.fresh_pages is None else self.fresh_pages.seconds(output_bytes)

    @property
    def kernel_startup_s(self) -> float:
        """Device seconds a launched kernel takes beyond its work (0 where not modelled)."""
        return 0.0 if self.kernel_startup is None else float(self.kernel_startup)

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

    def graph_launch_s(self, runtime: str | None) -> float | None:
        """Fixed host seconds of one graph launch under ``runtime`` (``host_issue.
        graph_launch``, for ``cuda_graph`` only); None: the nodes stream to the device."""
        if runtime != "cuda_graph" or self.host_issue is None:
            return None
        launch = self.host_issue.graph_launch
        return None if launch is None else float(launch)

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
        return sum([self.level_capacity(level) for level in self.memory[:-1]])

    def supported_precisions(self) -> tuple[str, ...]:
        """Precisions (``--precision`` values) this device can execute (`perfsim.dtypes`)."""
        matrix = self.compute.matrix.macs_per_cycle if self.compute.matrix else {}
        return executable_precisions(matrix, self.compute.vector.flops_per_cycle)
