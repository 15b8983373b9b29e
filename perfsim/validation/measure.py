"""Run the real model with random weights and measure its forward pass per `Category`.

Two kinds of runs, because the profiler perturbs what it measures:

* **Timed runs** (no profiler): the median wall time of at least ``repeats`` forward
  passes (and at least ``min_time_s`` of them) after at least ``warmup`` untimed ones
  (and ``min_time_s``). This is the measured total.
* **Profiled runs** (``torch.profiler``, host activity; device activity too on CUDA): the
  same number of forward passes, each wrapped in an annotation, split into buckets by
  `perfsim.validation.attribution.attribute`. The median over runs is taken per bucket.

On the host the profiler's own cost (about 0.4-1 µs per recorded event: callbacks and
timestamps on the calling thread) inflates the profiled pass, by a few percent for
bert-base and by a third for bert-tiny. The measured buckets are therefore the profiled
*shares* times the timed wall time, so they add up to ``wall_s`` exactly; the raw
profiled seconds and the inflation factor are kept beside them. NB: the inflation falls
mostly on buckets made of many tiny calls (views, glue), so where it is large those are
slightly overstated relative to the GEMMs. Subtracting a fixed cost per event instead was
tried and rejected: the cost is not constant (0.4 µs in a hot loop, about 1 µs averaged
over a model) and it drove real buckets (embedding) to zero. On a GPU, kernel durations
are not inflated by the profiler: the categories are the kernels' device time and
``overhead`` is the rest of the wall time (launch gaps, host-bound stretches).
"""

from __future__ import annotations

import logging
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from perfsim.errors import WorkloadError
from perfsim.validation.attribution import OVERHEAD, OpEvent, aten_kind, attribute
from perfsim.validation.hostload import cpu_clock, foreign_load_between
from perfsim.validation.profiled import median_buckets, median_ops, profiled_forwards
from perfsim.workload import load_workload

log = logging.getLogger(__name__)

ATTENTION_BACKENDS = ("auto", "math")
MAX_TIMED_PASSES = 1000
# others' share of the CPUs above which a measurement is suspect and repeated
MAX_FOREIGN_LOAD = 0.1
Progress = Callable[[str], None] | None


@dataclass(frozen=True, slots=True)
class Measurement:
    """Measured forward pass of one (model, batch, seq) on this host.

    ``wall_s`` is the median of ``wall_samples_s`` (``repeats`` or more timed passes).
    ``category_s`` (keys: `Category` values) plus ``overhead_s`` add up to ``wall_s``; the
    raw profiled values (inflated by the profiler's own cost) are kept alongside.
    ``profiled_s`` is the median span of a profiled forward (its annotation), measured
    independently of the buckets. ``foreign_load`` is the share of the machine's CPU time
    that other processes used (or the hypervisor stole) while this one measured, from
    ``/proc/stat`` (None where there is none): above about 0.1 the timings are suspect.
    ``op_s``/``op_calls``: profiled seconds and calls per forward of each dispatch-level
    aten op.
    """

    model: str
    batch: int
    seq: int
    device: str
    threads: int
    warmup: int
    repeats: int
    attention: str
    wall_s: float
    wall_samples_s: tuple[float, ...]
    category_s: Mapping[str, float]
    overhead_s: float
    profiled_s: float
    profiled_category_s: Mapping[str, float]
    profiled_overhead_s: float
    events_per_forward: int
    op_s: Mapping[str, float]
    op_calls: Mapping[str, int]
    foreign_load: float | None = None

    @property
    def profiler_inflation(self) -> float:
        """Profiled forward time over timed wall time (host); 1.0 means no distortion."""
        return self.profiled_s / self.wall_s

    @property
    def spread(self) -> float:
        """(slowest - fastest) / median of the timed runs."""
        return (max(self.wall_samples_s) - min(self.wall_samples_s)) / self.wall_s

    @property
    def fastest_s(self) -> float:
        """The fastest timed pass, seconds (the least disturbed one)."""
        return min(self.wall_samples_s)

    @property
    def slowest_s(self) -> float:
        """The slowest timed pass, seconds."""
        return max(self.wall_samples_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            name: dict(value) if isinstance(value, Mapping) else value
            for name, value in ((n, getattr(self, n)) for n in self.__dataclass_fields__)
        } | {
            "wall_samples_s": list(self.wall_samples_s),
            "spread": self.spread,
            "fastest_s": self.fastest_s,
            "slowest_s": self.slowest_s,
            "profiler_inflation": self.profiler_inflation,
        }


@dataclass(frozen=True, slots=True)
class MeasureOptions:
    """How to measure a forward pass on this host, and when to measure it again.

    Attributes:
        threads: intra-op threads for the measurement (``torch.set_num_threads``; restored
            afterwards); None keeps the current setting.
        device: ``cpu`` or ``cuda`` (``cuda:N``).
        warmup, repeats: untimed and timed forward passes (at least); ``repeats``
            profiled ones.
        attention: ``auto`` runs the attention backend torch picks (the fused flash kernel
            on CPU, whose time lands in ``attn_gemm`` with its softmax); ``math`` forces the
            unfused backend, whose ops match the tracer's one for one.
        min_time_s: warm-up and timing each last at least this long, so a 1 ms model
            reaches a steady state (allocator caches, idle threads woken, clocks up)
            and its median rests on more than a handful of samples.
        attempts, max_foreign_load: on a shared host, a measurement during which other
            processes took more than ``max_foreign_load`` of the CPUs (beyond those it left
            idle) is repeated, up to ``attempts`` measurements in all
            (`perfsim.validation.validate.validate_case`).
    """

    threads: int | None = None
    device: str = "cpu"
    warmup: int = 2
    repeats: int = 5
    attention: str = "auto"
    min_time_s: float = 0.2
    attempts: int = 3
    max_foreign_load: float = MAX_FOREIGN_LOAD

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")


def check_options(options: MeasureOptions) -> None:
    """Reject options no measurement can run with (`WorkloadError`, naming the option)."""
    if options.repeats < 1 or options.warmup < 0 or options.min_time_s < 0:
        raise WorkloadError(
            f"repeats must be >= 1, warmup and min_time_s >= 0; got {options.repeats}, "
            f"{options.warmup}, {options.min_time_s}"
        )
    if options.attention not in ATTENTION_BACKENDS:
        raise WorkloadError(
            f"attention: expected one of {', '.join(ATTENTION_BACKENDS)}, got {options.attention!r}"
        )
    if options.threads is not None and options.threads < 1:
        raise WorkloadError(f"--threads: expected a positive integer, got {options.threads}")
    if not options.on_gpu and options.device != "cpu":
        raise WorkloadError(f"--device: expected cpu or cuda[:N], got {options.device!r}")


def measure_model(
    model: str,
    *,
    batch: int,
    seq: int,
    options: MeasureOptions = MeasureOptions(),
    progress: Progress = None,
) -> Measurement:
    """Build ``model`` (random weights, fp32, eval) and measure its forward pass.

    Args:
        model: built-in name, workload YAML or HF ``config.json`` (as ``perfsim run``).
        batch, seq: input token ids of this shape, no attention mask (an unpadded batch,
            the graph the tracer records).
        options: threads, device, passes and attention backend (`MeasureOptions`).
        progress: called with a short message at each stage.
    """
    import torch

    check_options(options)
    if options.on_gpu and not torch.cuda.is_available():
        raise WorkloadError(f"--device {options.device}: CUDA is not available on this host")
    workload = load_workload(model, batch=batch, seq=seq)
    say = progress or (lambda _message: None)
    name = f"{workload.model.name} b{batch} s{seq}"
    with _intra_op_threads(options.threads) as threads:
        say(f"{workload.model.name}: building (random weights)")
        module, inputs = _build(workload, options.device)
        sync: Callable[[], None] = torch.cuda.synchronize if options.on_gpu else _no_sync
        load_before = cpu_clock()
        with torch.inference_mode(), _attention_backend(options.attention):
            say(f"{name}: warm-up and timed runs")
            samples = _timed_passes(lambda: module(**inputs), sync, options)
            say(f"{name}: {options.repeats} profiled runs")
            forwards = profiled_forwards(module, inputs, options.repeats, options.on_gpu, sync)
        foreign_load = foreign_load_between(load_before, cpu_clock())
        if foreign_load is not None and foreign_load > MAX_FOREIGN_LOAD:
            log.warning(
                "%s b%d s%d: other processes used %.0f%% of the CPUs while measuring",
                workload.model.name,
                batch,
                seq,
                foreign_load * 100,
            )
    measured = _Runs(tuple(samples), forwards, threads, foreign_load)
    return _measurement(workload, options, measured)


@contextmanager
def _intra_op_threads(threads: int | None) -> Iterator[int]:
    """Run with ``threads`` intra-op threads (None: as set); yields the count in use."""
    import torch

    previous = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def _timed_passes(
    forward: Callable[[], Any], sync: Callable[[], Any], options: MeasureOptions
) -> list[float]:
    """Wall seconds of the timed passes, after the warm-up ones (see the module docstring)."""
    deadline, passes = time.perf_counter() + options.min_time_s, 0
    while passes < options.warmup or time.perf_counter() < deadline:
        forward()
        passes += 1
    sync()
    samples: list[float] = []
    deadline = time.perf_counter() + options.min_time_s
    while len(samples) < options.repeats or (
        time.perf_counter() < deadline and len(samples) < MAX_TIMED_PASSES
    ):
        started = time.perf_counter()
        forward()
        sync()
        samples.append(time.perf_counter() - started)
    return samples


@dataclass(frozen=True, slots=True)
class _Runs:
    """What the runs of one measurement recorded, before it is reduced to buckets."""

    samples_s: tuple[float, ...]
    forwards: list[OpEvent]
    threads: int
    foreign_load: float | None


def _measurement(workload: Any, options: MeasureOptions, runs: _Runs) -> Measurement:
    """Reduce the runs: median wall time, median profiled buckets scaled onto it."""
    wall = statistics.median(runs.samples_s)
    breakdowns = [
        attribute(forward, aten_kind, device_time=options.on_gpu) for forward in runs.forwards
    ]
    profiled = median_buckets(breakdowns)
    profiled_total = statistics.median(forward.total_s for forward in runs.forwards)
    if options.on_gpu:  # the profiled span beyond the device's kernels
        profiled[OVERHEAD] = max(profiled_total - _kernel_s(profiled), 0.0)
    corrected = _wall_buckets(profiled, wall, options.on_gpu)
    ops = median_ops(breakdowns)
    return Measurement(
        model=workload.model.name,
        batch=workload.batch,
        seq=workload.seq,
        device=options.device,
        threads=runs.threads,
        warmup=options.warmup,
        repeats=options.repeats,
        attention=options.attention,
        wall_s=wall,
        wall_samples_s=runs.samples_s,
        category_s={k: v for k, v in corrected.items() if k != OVERHEAD},
        overhead_s=corrected.get(OVERHEAD, 0.0),
        profiled_s=profiled_total,
        profiled_category_s={k: v for k, v in profiled.items() if k != OVERHEAD},
        profiled_overhead_s=profiled.get(OVERHEAD, 0.0),
        events_per_forward=round(statistics.median(f.n_events for f in runs.forwards)),
        op_s=ops[0],
        op_calls=ops[1],
        foreign_load=runs.foreign_load,
    )


def _kernel_s(buckets: Mapping[str, float]) -> float:
    return sum(v for k, v in buckets.items() if k != OVERHEAD)


def _wall_buckets(profiled: Mapping[str, float], wall: float, on_gpu: bool) -> dict[str, float]:
    """The profiled buckets laid onto the timed wall time (they add up to ``wall``).

    Host: the profiled shares times the wall time. GPU: kernel time is what the profiler
    saw on the device; the host-bound rest of the wall time (launch gaps, Python) is
    overhead.
    """
    if on_gpu:
        return {**profiled, OVERHEAD: max(wall - _kernel_s(profiled), 0.0)}
    scale = wall / sum(profiled.values())
    return {k: v * scale for k, v in profiled.items()}


def _build(workload: Any, device: str) -> tuple[Any, dict[str, Any]]:
    """The workload's ``AutoModel`` with random weights on ``device``, and its inputs."""
    import torch
    import transformers

    from perfsim.trace.build import build_config

    config = build_config(workload.model)
    # the caller's random state is left as it was: weights and tokens come from a fork
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        try:
            module = transformers.AutoModel.from_config(config)  # type: ignore[no-untyped-call]
        except (ValueError, KeyError, TypeError) as error:
            raise WorkloadError(
                f"{workload.model.name}: cannot build a {workload.model.model_type} model "
                f"({str(error).splitlines()[0][:160]})"
            ) from None
        vocab = int(getattr(config, "vocab_size", 2))
        # NB: ids avoid 0, the usual pad id, so no model sees a padded-looking batch
        ids = torch.randint(1, max(vocab, 2), (workload.batch, workload.seq), dtype=torch.long)
    module = module.to(device=device, dtype=torch.float32).eval()
    return module, {"input_ids": ids.to(device)}


def _no_sync() -> None:
    return None


@contextmanager
def _attention_backend(attention: str) -> Iterator[None]:
    if attention == "auto":
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        yield
