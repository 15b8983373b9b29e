"""CUDA device microbenchmarks with torch: GEMM per dtype, element-wise, L2 and HBM, launch cost.

Short kernels are captured ``calls`` times into a CUDA graph and timed with CUDA events
around a replay (median over batches), so launch gaps do not hide them; bandwidths and
element-wise rates are two-size slopes as on the CPU. torch's float32 matmul precision
is set per step (fp32: "highest", tf32: "high") and restored afterwards.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Final

from perfsim.calibration.gpu_energy import (
    BURST_S,
    ActionEnergy,
    Burst,
    Meter,
    PowerCalibration,
    measure_action,
    nvml_meter,
)
from perfsim.calibration.kernels import (
    VECTOR_OPS,
    copy_call,
    gemm_call,
    int8_skip_reason,
    triad_call,
    vector_call,
)
from perfsim.calibration.record import (
    BandwidthResult,
    Calibration,
    GemmResult,
    MemoryInfo,
    Shape,
    VectorResult,
)
from perfsim.calibration.timing import Call, Effort, Progress, run_steps

# BERT's GEMM shapes at batch 32 x seq 128 = 4096 tokens: a device this wide needs that
# many rows before launch cost stops hiding throughput
CUDA_GEMM_SHAPES: Final[tuple[Shape, ...]] = (
    (4096, 768, 768),
    (4096, 3072, 768),
    (4096, 1024, 1024),
)
QUICK_CUDA_GEMM_SHAPES: Final[tuple[Shape, ...]] = ((256, 256, 256), (256, 1024, 256))
CUDA_GEMM_DTYPES: Final = ("fp32", "tf32", "fp16", "bf16", "int8")
CUDA_VECTOR_DTYPES: Final = ("fp32", "fp16", "bf16")
MAX_GRAPH_CALLS: Final = 200
GRAPH_BELOW_S: Final = 50e-6  # shorter kernels are timed inside a CUDA graph
GEMM_REST: Final = 2.0  # idle batch-times after each GEMM batch: a third duty holds the clock
ENERGY_WINDOW_S: Final = 1.5  # seconds per duty level of an energy measurement


@contextmanager
def matmul_precision(dtype: str) -> Iterator[None]:
    """fp32 GEMMs in IEEE fp32 ("highest") or on TF32 tensor cores ("high"); restored after."""
    import torch

    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if dtype == "tf32" else "highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def _captured(call: Call, calls: int) -> Call:
    """``calls`` calls of ``call`` captured in one CUDA graph, returned as its replay."""
    import torch

    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(calls):
            call()
    return graph.replay


def cuda_effort(quick: bool) -> Effort:
    """Medians of many batches timed by CUDA events (a lent GPU has no neighbours): 61
    batches of about 5 ms within 1.5 s per figure; quick: 3 tiny ones."""
    if quick:
        return Effort(batches=3, target_s=0.0005, budget_s=0.01, min_batches=3)
    return Effort(batches=61, target_s=0.005, budget_s=1.5)


def _repeated(call: Call, calls: int) -> None:
    for _ in range(calls):
        call()


def cuda_time_s(call: Call, how: Effort, rest: float = 0.0) -> float:
    """Median seconds per call, CUDA events around ``calls`` back-to-back calls.

    Kernels shorter than ``GRAPH_BELOW_S`` are captured in a CUDA graph so launch gaps do
    not hide them; longer ones run eagerly. NB: a same-dtype ``copy_`` becomes a memcpy
    node in a graph, which ran at half the bandwidth of a kernel on an H200. ``rest``:
    idle this many times a batch's time after it (the power limit then keeps its hands
    off the clock: `perfsim.engines.power` models the limit from the measured energies).
    """
    import torch

    side = torch.cuda.Stream()  # type: ignore[no-untyped-call]
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up off the capture stream, as torch's docs ask
        for _ in range(3):
            call()
    torch.cuda.current_stream().wait_stream(side)
    start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
    end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
    start.record()
    call()
    end.record()
    end.synchronize()
    once_s = max(start.elapsed_time(end) * 1e-3, 1e-7)
    calls = max(1, min(MAX_GRAPH_CALLS, round(how.target_s / once_s)))
    run = _captured(call, calls) if once_s < GRAPH_BELOW_S else partial(_repeated, call, calls)
    times = []
    for _ in range(how.batches_for(calls * once_s)):
        start.record()
        run()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e-3 / calls)
        if rest > 0:
            time.sleep(rest * times[-1] * calls)
    return float(statistics.median(times))


def cuda_slope(lo: tuple[Call, float], hi: tuple[Call, float], how: Effort) -> float:
    """Work per second from two sizes: ``(work_hi - work_lo) / (t_hi - t_lo)``."""
    t_lo, t_hi = cuda_time_s(lo[0], how), cuda_time_s(hi[0], how)
    naive = hi[1] / t_hi  # a lower bound: includes the fixed per-call cost
    return max((hi[1] - lo[1]) / (t_hi - t_lo), naive) if t_hi > t_lo else naive


def launch_overhead_s(how: Effort) -> float:
    """Median seconds per eager ``torch.add`` of 1-element tensors, back to back (no graph)."""
    import torch

    a, b = torch.ones(1, device="cuda"), torch.ones(1, device="cuda")
    calls = 1000 if how.batches > 3 else 100
    start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
    end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
    torch.add(a, b)
    torch.cuda.synchronize()
    times = []
    for _ in range(how.batches):
        start.record()
        for _ in range(calls):
            torch.add(a, b)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e-3 / calls)
    return float(statistics.median(times))


def cuda_gemm(
    dtype: str, units: int, shapes: tuple[Shape, ...], how: Effort, rest: float = 0.0
) -> GemmResult:
    """GEMM FLOP/s per shape on the device (fp32: no TF32; tf32: fp32 storage, TF32 math),
    resting ``rest`` x each batch's time after it (`cuda_time_s`)."""
    with matmul_precision(dtype):
        rates = tuple(
            2.0 * math.prod(shape) / cuda_time_s(gemm_call(dtype, shape, "cuda"), how, rest)
            for shape in shapes
        )
    op = "torch._int_mm" if dtype == "int8" else "torch.mm"
    return GemmResult(dtype, units, op, shapes, rates)


def cuda_vector(dtype: str, units: int, elements: int, how: Effort) -> VectorResult:
    """Element-wise FLOP/s (one per element) over ``elements`` values, device memory bound."""
    lo = elements // 2
    rates = tuple(
        cuda_slope(
            (vector_call(op, dtype, lo, "cuda"), float(lo)),
            (vector_call(op, dtype, elements, "cuda"), float(elements)),
            how,
        )
        for op in VECTOR_OPS
    )
    return VectorResult(dtype, units, VECTOR_OPS, rates, (lo, elements))


def cuda_bandwidth(level: str, units: int, hi_bytes: int, how: Effort) -> BandwidthResult:
    """Copy and triad bytes/s between working sets of ``hi_bytes/2`` and ``hi_bytes``."""
    lo = hi_bytes // 2
    copy = cuda_slope(copy_call(lo, "cuda"), copy_call(hi_bytes, "cuda"), how)
    triad = cuda_slope(triad_call(lo, "cuda"), triad_call(hi_bytes, "cuda"), how)
    return BandwidthResult(level, units, copy, triad, (lo, hi_bytes))


def energy_gemm_call(dtype: str, side: int) -> Call:
    """A ``side``^3 product with random full-range operands (switching as real data does)."""
    import torch

    if dtype != "int8":
        return gemm_call(dtype, (side, side, side), "cuda")
    a = torch.randint(-128, 128, (side, side), dtype=torch.int8, device="cuda")
    w = torch.randint(-128, 128, (side, side), dtype=torch.int8, device="cuda")
    return partial(torch._int_mm, a, w.t())


def _burst(call: Call, work_per_call: float) -> Burst:
    """About `BURST_S` of ``call``, synchronized, and the work it does."""
    import torch

    call()
    torch.cuda.synchronize()
    once = cuda_time_s(call, Effort(batches=3, target_s=0.005, budget_s=0.1))  # ~5 ms loops
    calls = max(1, round(BURST_S / once))

    def burst() -> None:
        for _ in range(calls):
            call()
        torch.cuda.synchronize()

    return Burst(burst, calls * once, calls * work_per_call)


def cuda_action_energy(action: str, meter: Meter, window_s: float) -> ActionEnergy:
    """`measure_action` for ``mac.<dtype>`` (an 8192^3 product; 4096^3 in fp32 on the CUDA
    cores) or ``dram.bytes`` (a 1 GiB copy, bytes read plus written)."""
    kind, _, dtype = action.partition(".")
    if kind == "dram":
        return measure_action(action, _burst(*copy_call(2**30, "cuda")), meter, window_s)
    side = 4096 if dtype == "fp32" else 8192
    with matmul_precision(dtype):
        burst = _burst(energy_gemm_call(dtype, side), float(side) ** 3)
        return measure_action(action, burst, meter, window_s)


def measure_cuda(*, quick: bool = False, progress: Progress | None = None) -> Calibration:
    """Measure the current CUDA device; the figures follow `measure_host`'s conventions.

    ``units`` are the multiprocessors; L2 is timed at half its capacity, device memory
    at 8x L2 (at least 1 GiB); element-wise ops run on 64 Mi elements.
    """
    import torch

    start = time.perf_counter()
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    units, how = props.multi_processor_count, cuda_effort(quick)
    clock_khz = getattr(props, "clock_rate", 0)
    l2 = MemoryInfo("l2", props.L2_cache_size, False, 1, "cudaDeviceProp.l2CacheSize")
    hbm = MemoryInfo("dram", props.total_memory, False, 1, "cudaDeviceProp.totalGlobalMem")
    skipped = int8_skip_reason("cuda")
    dtypes = [d for d in CUDA_GEMM_DTYPES if not (d == "int8" and skipped)]
    shapes = QUICK_CUDA_GEMM_SHAPES if quick else CUDA_GEMM_SHAPES
    elements = 2**20 if quick else 2**26
    hbm_bytes = 2**26 if quick else max(8 * l2.capacity_bytes, 2**30)
    # with a power meter the GEMMs are timed at the top clock (two idle batch-times after
    # each batch) and the limit is modelled from the measured energies; without one, the
    # rates are what back-to-back runs sustain
    meter = nvml_meter()
    rest = GEMM_REST if meter is not None else 0.0
    energies = [f"mac.{d}" for d in dtypes] + ["dram.bytes"] if meter is not None else []
    window = 0.3 if quick else ENERGY_WINDOW_S
    steps: list[tuple[str, Callable[[], object]]] = [
        ("launch overhead", partial(launch_overhead_s, how)),
        *((f"GEMM {d}", partial(cuda_gemm, d, units, shapes, how, rest)) for d in dtypes),
        *(
            (f"element-wise {d}", partial(cuda_vector, d, units, elements, how))
            for d in CUDA_VECTOR_DTYPES
        ),
        ("bandwidth l2", partial(cuda_bandwidth, "l2", units, l2.capacity_bytes // 2, how)),
        ("bandwidth dram", partial(cuda_bandwidth, "dram", units, hbm_bytes, how)),
        *((f"energy {a}", partial(cuda_action_energy, a, meter, window)) for a in energies),
    ]
    results = run_steps(steps, progress)
    actions = tuple(r for r in results if isinstance(r, ActionEnergy))
    overhead = results[0]
    assert isinstance(overhead, float)
    return Calibration(
        device="cuda",
        model_name=props.name,
        torch_version=torch.__version__,
        units=units,
        clock_hz=clock_khz * 1e3 if clock_khz > 0 else 1e9,
        clock_source=(
            "cudaDeviceProp.clockRate (the SM clock the driver reports)"
            if clock_khz > 0
            else "assumed: the device reports no clock; 1 GHz"
        ),
        isa=f"sm_{props.major}{props.minor}",
        tile=(128, 256),
        tile_source=(
            "assumed: CUTLASS default tensor-op threadblock 128x256 (cuBLAS's choice per "
            "shape is not visible from torch)"
        ),
        memory=(l2, hbm),
        gemm=tuple(r for r in results if isinstance(r, GemmResult)),
        vector=tuple(r for r in results if isinstance(r, VectorResult)),
        bandwidth=tuple(r for r in results if isinstance(r, BandwidthResult)),
        op_overhead_s=overhead,
        op_overhead_how=(
            f"CUDA events around back-to-back eager torch.add of 1-element tensors, median "
            f"of {how.batches} batches (launch rate: host dispatch plus kernel launch)"
        ),
        skipped=(skipped,) if skipped else (),
        quick=quick,
        wall_s=time.perf_counter() - start,
        power=PowerCalibration(actions, meter.power_limit_w()) if meter and actions else None,
    )
