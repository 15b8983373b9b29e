"""The compute part of the hardware schema: matrix and vector engines, and the units."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    Field,
    PositiveInt,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from perfsim.counting import VECTOR_KINDS
from perfsim.hardware.efficiency import EfficiencyGrid, ladder_at
from perfsim.hardware.fields import (
    Bandwidth,
    Bytes,
    Dtype,
    Fraction,
    Frequency,
    Frozen,
    PositiveCount,
    Seconds,
    without_unset,
)


class Buffers(Frozen):
    """On-chip operand buffers of one systolic array (SCALE-Sim's ifmap/filter/ofmap SRAMs).

    They are carved out of the nearest memory level; without them the cycle engine splits
    that level's per-array share in three.
    """

    ifmap: Bytes
    filter: Bytes
    ofmap: Bytes


def _library_tile_row(row: tuple[float, ...]) -> tuple[float, ...]:
    """m, n, k, stages, warps along m, warps along n as positive integers, then optionally
    the kernel's rate relative to the dtype's best kernel, in (0, 1]."""
    if len(row) not in (6, 7):
        raise ValueError(
            f"a tile row is [m, n, k, stages, warps_m, warps_n(, rate)], got {len(row)} values"
        )
    shape = row[:6]
    if any(value != int(value) or value < 1 for value in shape):
        raise ValueError(f"a tile's first six values are positive integers, got {list(shape)}")
    if len(row) == 7 and not 0 < row[6] <= 1:
        raise ValueError(f"a tile's rate is a fraction in (0, 1], got {row[6]}")
    return (*(int(value) for value in shape), *row[6:])


# one shipped threadblock tile: m, n, k, pipeline stages, warps along m, warps along n, and
# optionally the kernel's own mainloop rate relative to the dtype's best kernel (1 where left
# out): a library's kernels of one dtype do not all hold its best rate
LibraryTileRow = Annotated[tuple[float, ...], AfterValidator(_library_tile_row)]


class MatrixEngine(Frozen):
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
    # per dtype, the fraction of the peak MAC rate (of the vector engine's FMAs for a dtype
    # the matrix engine lacks) the library's best GEMM holds at the clock it runs: its
    # mainloop's issue and synchronisation, published as a measured best-shape rate over
    # the datasheet peak; applied to the rate `library_tiles` plans with; None, or a dtype
    # not listed: every step at the full rate
    library_achievable: dict[Dtype, Fraction] | None = None
    # thread-block clusters the library's tensor-core kernels launch, each [CTAs along m,
    # CTAs along n]: a cluster's CTAs share operand tiles by TMA multicast, so a CTA of an
    # (cm, cn) cluster loads 1/cn of its A tile and 1/cm of its B tile from L2
    # (`perfsim.engines.gpu_gemm.load_cycles`); None: every CTA loads its own (pre-Hopper)
    library_clusters: tuple[tuple[PositiveInt, PositiveInt], ...] | None = None
    # systolic arrays that share one core's on-chip memory and the streamed operand (a TPU
    # TensorCore's MXUs and its VMEM): `perfsim.engines.cycle.cores`; None: every array
    # has its own buffers and DRAM ports (SCALE-Sim)
    arrays_per_core: PositiveInt | None = None
    # the arrays load each fold's stationary tile while the fold before streams (weights
    # double-buffered) and overlap consecutive folds' skew, so a run of folds pays one
    # preload, fill and drain (`perfsim.engines.cycle.folds.pipelined_cycles`); modelled
    # for arrays that share a core (``arrays_per_core``); False: SCALE-Sim's per-fold
    # preload and skew
    pipelined_folds: bool = False
    # the dtype whose MACs an fp32 matrix op runs on, one pass per product, where the part
    # has no fp32 datapath of its own: a TPU's MXU multiplies fp32 matmuls in bf16 by default
    # (XLA's DEFAULT precision), so fp32's rate is that dtype's (filled in ``macs_per_cycle``)
    # and no fp32 array adds to the area (`datapaths`); None: fp32 runs where listed, else
    # on the vector engine
    fp32_as: Dtype | None = None

    @model_validator(mode="before")
    @classmethod
    def _fp32_rate(cls, data: Any) -> Any:
        """An fp32 matrix op at ``fp32_as``'s rate: its ``macs_per_cycle`` entry."""
        if not isinstance(data, dict) or data.get("fp32_as") is None:
            return data
        alias, rates = data["fp32_as"], dict(data.get("macs_per_cycle") or {})
        if alias == "fp32" or alias not in rates:
            raise ValueError(f"fp32_as: {alias} is not a dtype in macs_per_cycle")
        if "fp32" in rates and rates["fp32"] != rates[alias]:
            raise ValueError(
                f"fp32_as: {alias} runs fp32 at {alias}'s rate; macs_per_cycle.fp32 differs"
            )
        return {**data, "macs_per_cycle": {**rates, "fp32": rates[alias]}}

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
                or self.library_achievable is not None
                or self.library_clusters is not None
            ):
                raise ValueError(
                    "efficiency, efficiency_grid, weight_packing_bandwidth, library_tiles, "
                    "library_achievable and library_clusters "
                    "are for "
                    "tensor_core / simd "
                    "engines (a systolic "
                    "array's utilization comes from its folds)"
                )
        elif self.tile is None:
            raise ValueError(f"a {self.type} matrix engine needs tile: [rows, cols]")
        if self.arrays_per_core is not None and self.type != "systolic":
            raise ValueError("arrays_per_core is for systolic matrix engines")
        if self.pipelined_folds and self.arrays_per_core is None:
            raise ValueError(
                "pipelined_folds is modelled for systolic arrays that share a core: "
                "set arrays_per_core"
            )
        if not self.macs_per_cycle:
            raise ValueError("macs_per_cycle needs at least one dtype")
        if self.library_achievable is not None:
            tiled = set(self.library_tiles or {})
            untiled = sorted(set(self.library_achievable) - tiled)
            if untiled:
                raise ValueError(
                    f"library_achievable lists {', '.join(untiled)}, which library_tiles "
                    "does not: the fraction applies to the library's tile plans"
                )
        if self.efficiency is not None:
            rows = [m for m, _ in self.efficiency]
            if not rows or rows != sorted(set(rows)):
                raise ValueError(
                    f"efficiency needs [m, fraction] points with m ascending, got m {rows}"
                )
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``efficiency_grid``, ``library_achievable``, ``library_clusters``,
        ``arrays_per_core`` and ``fp32_as`` out of dumps where unset (`without_unset`),
        and the fp32 rate that ``fp32_as`` derives (an edited dump, e.g. a sweep's
        override of the bf16 rate, derives it again)."""
        data = handler(self)
        if self.fp32_as:
            data["macs_per_cycle"] = {
                d: n for d, n in data["macs_per_cycle"].items() if d != "fp32"
            }
        return without_unset(
            self,
            data,
            "efficiency_grid",
            "library_achievable",
            "library_clusters",
            "arrays_per_core",
            "fp32_as",
        )

    @property
    def datapaths(self) -> dict[str, float]:
        """``macs_per_cycle`` of the dtypes the engine has multipliers for (fp32 left out
        where it runs on another dtype's, ``fp32_as``): what its area is built of."""
        return {d: n for d, n in self.macs_per_cycle.items() if not (d == "fp32" and self.fp32_as)}

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


def _qualified_kind(name: str) -> str:
    """``layer_norm.fp16`` -> ``layer_norm`` (a kind at one dtype); an unknown dtype
    leaves the name whole, so the kind check reports it."""
    kind, _, dtype = name.rpartition(".")
    return kind if kind and dtype in get_args(Dtype) else name


class VectorEngine(Frozen):
    """SIMD / vector unit per compute unit: element-wise, softmax, norms, activations.

    ``element_cost``: what one element of each kind of op (`perfsim.counting.vector_kind`:
    ``gelu``, ``softmax``, ``layer_norm``, ``exp``, ...) costs, measured, in elements of an
    out-of-place add at ``flops_per_cycle`` (one FLOP each); both engines charge an op of a
    listed kind ``elements x cost`` FLOPs of vector time instead of its counted FLOPs
    (roofline) or its instruction slots (cycle engine). Measured by ``perfsim calibrate``
    on a CPU, where a library's transcendental and a normalization's passes cost what no
    FLOP count says; None or a kind not listed: the counted FLOPs and the slot tables.
    """

    flops_per_cycle: dict[Dtype, PositiveCount]
    element_cost: dict[str, PositiveCount] | None = None
    # the fraction of each memory level's achievable bandwidth the framework's own kernels
    # of a kind (``layer_norm``, ``softmax``) sustain, measured (eager PyTorch's per-row
    # reductions stream slower than its element-wise kernels); a key ``kind.dtype``
    # (``layer_norm.fp16``) holds for that input dtype before the kind's own; None or a kind
    # not listed: the achievable rate. A fusion pass that brings in a library kernel for the
    # kind runs it at the achievable rate (`perfsim.whatif.placement.library_kernels`)
    stream_efficiency: dict[str, Fraction] | None = None
    # special-function results (exp2, log2, reciprocal, rsqrt, sin, cos) per cycle per unit:
    # a GPU's MUFU pipe, at a fraction of its FMA lanes' rate; an op's transcendentals
    # (`perfsim.engines.cycle.vector.specials_per_element`) take this long on top of its
    # arithmetic (`perfsim.engines.vector_work.special_function_s`); None: no such pipe,
    # the slot tables' cost alone
    special_per_cycle: PositiveCount | None = None
    # type conversions (int <-> float, float -> half) per cycle per unit: a GPU's conversion
    # instructions, at a fraction of its FMA lanes' rate; the softmax of a fused attention
    # kernel converts the products' accumulators and its probabilities at this rate
    # (`perfsim.engines.vector_work.conversion_s`); None: not modelled
    convert_per_cycle: PositiveCount | None = None

    @model_validator(mode="after")
    def _check(self) -> VectorEngine:
        if not self.flops_per_cycle:
            raise ValueError("flops_per_cycle needs at least one dtype")
        for field in ("element_cost", "stream_efficiency"):
            names = set(getattr(self, field) or {})
            if field == "stream_efficiency":  # a kind, or a kind at one dtype: kind.dtype
                names = {_qualified_kind(name) for name in names}
            unknown = sorted(names - VECTOR_KINDS)
            if unknown:
                raise ValueError(
                    f"{field} names no kind of vector op: {unknown} "
                    f"(kinds: {', '.join(sorted(VECTOR_KINDS))})"
                )
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``element_cost``, ``stream_efficiency``, ``special_per_cycle`` and
        ``convert_per_cycle`` out of dumps where unset (`without_unset`)."""
        return without_unset(
            self,
            handler(self),
            "element_cost",
            "stream_efficiency",
            "special_per_cycle",
            "convert_per_cycle",
        )


class SingleThread(Frozen):
    """What one thread alone sustains on a multi-core CPU (``perfsim calibrate`` measures it
    beside the all-thread figures): per-cycle rates of its core, the bandwidth it reaches
    per memory level (by name), its per-op framework time. A 1-thread run uses these in
    place of the file's figures (`perfsim.hardware.threads.at_threads`)."""

    macs_per_cycle: dict[Dtype, PositiveCount] = Field(default_factory=dict)
    flops_per_cycle: dict[Dtype, PositiveCount] = Field(default_factory=dict)
    bandwidth: dict[str, Bandwidth] = Field(default_factory=dict)
    op_overhead: Seconds | None = None


class ComputeSpec(Frozen):
    """``units`` identical compute units (cores, SMs, MXUs) running at ``clock``."""

    units: PositiveInt
    clock: Frequency
    matrix: MatrixEngine | None = None
    vector: VectorEngine
    # optional: the figures of one thread alone, where ``units`` > 1 (CPUs)
    single_thread: SingleThread | None = None

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``single_thread`` out of dumps where unset (`without_unset`)."""
        return without_unset(self, handler(self), "single_thread")
