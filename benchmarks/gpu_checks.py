"""Measure an NVIDIA GPU at BERT's shapes: the checks of issue 12 that need the real part.

    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_checks.py OUT_DIR [--quick] [--only=a.csv,b.csv]

Writes, one file per section, so a failure in one section keeps the others:

- ``device.json``: name, SM count, L2, power limit, clocks (NVML), torch/CUDA versions.
- ``gemm.csv``: ``torch.matmul`` at BERT's linear shapes (m = batch x seq tokens; n, k from
  bert-base and bert-large) and one 8192^3 product, in fp32 (CUDA cores, TF32 off), tf32,
  fp16, bf16 and int8 (``torch._int_mm``): median seconds per product and TFLOP/s.
- ``attention.csv``: the two attention batched products and the fused SDPA kernel, fp16.
- ``sustained.csv``: NVML power and SM clock sampled while one large fp16 product repeats
  for about two seconds (does the part hold its boost clock under tensor load?).
- ``inference.csv``: Hugging Face ``BertModel`` with random weights in fp16, eager and
  replayed as a CUDA graph: median seconds per forward, and NVML energy per forward and
  average power over a loop of about one second.
- ``training.csv``: one masked-LM training step (fp16 autocast, fused AdamW): median seconds,
  NVML energy per step and average power.
- ``inference-eager-attention.csv``: as ``inference.csv`` with Hugging Face's unfused
  attention (``attn_implementation="eager"``: matmul, softmax, matmul), so the graph
  replay runs the same kernels as eager and as perfsim's traced graph.
- ``training-master.csv``: a half model with fp32 master weights and fused AdamW (DeepSpeed's
  fp16 optimizer, the step perfsim traces), as ``training.csv``.
- ``copy.csv``: a 4 GiB device-to-device copy repeated: HBM bytes per second and power.
- ``duty.csv``: energy per action at a known clock. One large product per dtype (and the
  4 GiB copy) in short bursts with idle gaps, at several duty levels (0 to 100%): average
  power against achieved MAC/s (or bytes/s) and the SM clock. Where the clock holds, power
  is a line in the rate: its slope is joules per MAC (per byte) at that clock, its
  intercept the baseline power with the clocks up; the 100% row shows the power limit.
- ``host_ops.csv``: eager bert-base b1 fp16: aten ops dispatched (top-level and nested, with
  their CPU time) and kernels launched (with their GPU time) in one forward.
- ``short_k.csv``: fp16 ``torch.bmm`` of 512 x 512 outputs over a reduction of 16-256, at
  three batch counts (16-256 products, 8-128 MiB of outputs: inside and beyond a Hopper
  L2), graph-replayed: whether a tile's output stores overlap its mainloop. Overlapped,
  the time is flat in k until the MACs outlast the stores; serialised, it rises from an
  intercept (the stores) at every k. Attention's Q K^T (k = 64) is this shape, and the
  model is 15-46% fast on it (`results/validation/README.md`, sessions 22-23).

These are checks, not inputs: perfsim's hardware files are datasheet figures, and
``results/validation/gpu-h200-checks/compare.py`` compares the model against what this
writes. Nothing here is downloaded; weights are random.
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
import threading
import time
import traceback
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

BERT = {
    "bert-base": dict(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072
    ),
    "bert-large": dict(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096
    ),
}
# (n, k) of nn.Linear(k -> n): QKV/output projections, FFN up, FFN down
LINEAR_SHAPES = [(768, 768), (3072, 768), (768, 3072), (1024, 1024), (4096, 1024), (1024, 4096)]
TOKENS = [128, 512, 2048, 4096, 12288, 16384]
DTYPES = ["fp32", "tf32", "fp16", "bf16", "int8"]
# one large square product: the part's sustained matrix rate, for reference
SQUARE = 8192


def _nvml():
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:
        return None, None


NVML, HANDLE = _nvml()


def energy_mj() -> float:
    if NVML is None:
        return float("nan")
    return float(NVML.nvmlDeviceGetTotalEnergyConsumption(HANDLE))


def sm_clock_mhz() -> float:
    if NVML is None:
        return float("nan")
    return float(NVML.nvmlDeviceGetClockInfo(HANDLE, NVML.NVML_CLOCK_SM))


def power_w() -> float:
    if NVML is None:
        return float("nan")
    return NVML.nvmlDeviceGetPowerUsage(HANDLE) / 1e3


def write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path} ({len(rows)} rows)", flush=True)


def time_loop(fn, inner: int, outer: int = 5) -> float:
    """Median over ``outer`` CUDA-event timings of ``inner`` back-to-back calls, per call (s)."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(outer):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3 / inner)
    return statistics.median(times)


def calls_per_timing(fn) -> int:
    """Calls per timing: about 20 ms of work, 3 to 500 calls (from one probe of 3 calls)."""
    probe = time_loop(fn, inner=3, outer=1)
    return max(3, min(500, int(0.02 / max(probe, 1e-7))))


def graph_seconds(fn, inner: int, outer: int = 5) -> float:
    """Like `time_loop`, but the ``inner`` calls are captured once as a CUDA graph and
    replayed: the device's time per call, without the host's per-call dispatch (eager
    PyTorch spends ~15 us per small op, longer than a small GEMM's kernel)."""

    def calls() -> None:
        for _ in range(inner):
            fn()  # each result is dropped at once, so the graph's pool reuses its memory

    return time_loop(graphed(calls), inner=1, outer=outer) / inner


def operands(dtype: str, m: int, n: int, k: int):
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    if dtype == "int8":
        a = torch.randint(-64, 64, (m, k), dtype=torch.int8, device="cuda")
        b = torch.randint(-64, 64, (n, k), dtype=torch.int8, device="cuda").t()
        return partial(torch._int_mm, a, b)
    torch_dtype = {
        "fp32": torch.float32,
        "tf32": torch.float32,
        "fp16": torch.float16,
        "bf16": torch.bfloat16,
    }[dtype]
    a = torch.randn(m, k, dtype=torch_dtype, device="cuda")
    # weights are stored (n, k) as nn.Linear keeps them: the product is a @ w.T, as F.linear runs it
    w = torch.randn(n, k, dtype=torch_dtype, device="cuda")
    return partial(F.linear, a, w)


def gemm_rows(quick: bool) -> list[dict]:
    rows = []
    shapes = [(m, n, k) for m in TOKENS for n, k in LINEAR_SHAPES] + [(SQUARE, SQUARE, SQUARE)]
    if quick:
        shapes = shapes[:3] + shapes[-1:]
    for dtype in DTYPES:
        for m, n, k in shapes:
            flops = 2.0 * m * n * k
            fn = operands(dtype, m, n, k)
            inner = calls_per_timing(fn)
            eager = time_loop(fn, inner=inner)
            seconds = graph_seconds(fn, inner=inner)
            rows.append(
                dict(
                    dtype=dtype,
                    m=m,
                    n=n,
                    k=k,
                    seconds=seconds,
                    tflops=flops / seconds / 1e12,
                    eager_seconds=eager,
                    calls=inner,
                )
            )
        print(f"gemm {dtype}: done", flush=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    return rows


def attention_rows(quick: bool) -> list[dict]:
    rows = []
    cases = [
        ("bert-base", 32, 128),
        ("bert-base", 8, 512),
        ("bert-large", 32, 384),
        ("bert-large", 8, 512),
        ("bert-base", 1, 128),
    ]
    if quick:
        cases = cases[:1]
    for model, batch, seq in cases:
        heads, head_dim = (
            BERT[model]["num_attention_heads"],
            BERT[model]["hidden_size"] // BERT[model]["num_attention_heads"],
        )
        q, k, v = (
            torch.randn(batch, heads, seq, head_dim, dtype=torch.float16, device="cuda")
            for _ in range(3)
        )
        scores = torch.randn(batch, heads, seq, seq, dtype=torch.float16, device="cuda")
        product_flops = 2.0 * batch * heads * seq * seq * head_dim
        kernels = {
            "qk_bmm": (partial(torch.matmul, q, k.transpose(-1, -2)), product_flops),
            "pv_bmm": (partial(torch.matmul, scores, v), product_flops),
            "softmax": (partial(torch.softmax, scores, dim=-1), 5.0 * batch * heads * seq * seq),
            "sdpa": (partial(F.scaled_dot_product_attention, q, k, v), 2 * product_flops),
        }
        for name, (fn, flops) in kernels.items():
            inner = calls_per_timing(fn)
            seconds = graph_seconds(fn, inner=inner)
            rows.append(
                dict(
                    model=model,
                    batch=batch,
                    seq=seq,
                    kernel=name,
                    seconds=seconds,
                    tflops=flops / seconds / 1e12,
                )
            )
    return rows


SHORT_K = [16, 32, 64, 128, 256]
SHORT_K_BATCHES = [16, 64, 256]
SHORT_K_OUTPUT = 512  # m = n: 512 x 512 fp16 outputs, 0.5 MiB a product


def short_k_rows(quick: bool) -> list[dict]:
    rows = []
    m = n = SHORT_K_OUTPUT
    for batch in SHORT_K_BATCHES[1:2] if quick else SHORT_K_BATCHES:
        for k in SHORT_K:
            a = torch.randn(batch, m, k, dtype=torch.float16, device="cuda")
            b = torch.randn(batch, k, n, dtype=torch.float16, device="cuda")
            fn = partial(torch.bmm, a, b)
            inner = calls_per_timing(fn)
            seconds = graph_seconds(fn, inner=inner)
            output_bytes = 2.0 * batch * m * n
            rows.append(
                dict(
                    batch=batch,
                    m=m,
                    n=n,
                    k=k,
                    seconds=seconds,
                    tflops=2.0 * batch * m * n * k / seconds / 1e12,
                    output_gb_s=output_bytes / seconds / 1e9,
                )
            )
    return rows


def sustained_rows(duration_s: float) -> list[dict]:
    """Power and SM clock, sampled every 50 ms, while SQUARE^3 products repeat, per dtype."""
    rows = []
    for dtype in DTYPES:
        fn = operands(dtype, SQUARE, SQUARE, SQUARE)
        samples: list[dict] = []
        stop = threading.Event()

        def sample(samples=samples, stop=stop) -> None:
            t0 = time.perf_counter()
            while not stop.is_set():
                samples.append(
                    dict(
                        t_s=time.perf_counter() - t0, power_w=power_w(), sm_clock_mhz=sm_clock_mhz()
                    )
                )
                time.sleep(0.05)

        fn()
        torch.cuda.synchronize()
        sampler = threading.Thread(target=sample)
        e0, t0 = energy_mj(), time.perf_counter()
        sampler.start()
        count = 0
        while time.perf_counter() - t0 < duration_s:
            for _ in range(10):
                fn()
            torch.cuda.synchronize()
            count += 10
        elapsed, e1 = time.perf_counter() - t0, energy_mj()
        stop.set()
        sampler.join()
        tflops = 2.0 * SQUARE**3 * count / elapsed / 1e12
        summary = dict(t_s=-1.0, power_w=(e1 - e0) / 1e3 / elapsed, sm_clock_mhz=float("nan"))
        print(f"sustained {dtype} {SQUARE}^3: {tflops:.0f} TFLOP/s, {summary['power_w']:.0f} W")
        rows += [dict(s, dtype=dtype, tflops=tflops) for s in [summary, *samples]]
    torch.backends.cuda.matmul.allow_tf32 = False
    return rows


def bert(model: str, attention: str = "sdpa"):
    """Hugging Face's BertModel, random weights, fp16 on the GPU; ``attention`` is its
    ``attn_implementation`` (``sdpa``: one fused kernel; ``eager``: matmul, softmax, matmul)."""
    import transformers

    config = transformers.BertConfig(**BERT[model], attn_implementation=attention)
    torch.manual_seed(0)
    return transformers.BertModel(config).to("cuda", torch.float16).eval()


def energy_per_call(fn, min_s: float = 1.0) -> tuple[float, float, float]:
    """(joules per call, average watts, SM clock MHz mid-run) over a loop of at least min_s."""
    torch.cuda.synchronize()
    e0, t0, calls, clock = energy_mj(), time.perf_counter(), 0, float("nan")
    while True:
        fn()
        calls += 1
        if calls == 3:
            clock = sm_clock_mhz()
        if calls % 4 == 0:
            torch.cuda.synchronize()
            if time.perf_counter() - t0 >= min_s:
                break
    elapsed, e1 = time.perf_counter() - t0, energy_mj()
    joules = (e1 - e0) / 1e3
    return joules / calls, joules / elapsed, clock


def graphed(fn):
    """``fn`` captured as a CUDA graph; replaying it issues every kernel with one launch."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


KERNEL_KINDS = (
    ("attention", ("sdpa", "flash", "fmha", "attention", "attn")),
    ("gemm", ("gemm", "nvjet", "cutlass", "xmma", "splitkreduce", "cublas")),
    ("layernorm", ("layer_norm", "layernorm")),
    ("softmax", ("softmax",)),
    ("optimizer", ("adam", "multi_tensor", "foreach")),
)


def kernel_kind(name: str) -> str:
    lowered = name.lower()
    for kind, keys in KERNEL_KINDS:
        if any(key in lowered for key in keys):
            return kind
    return "other"


def device_kernels(prof) -> list:
    """The profiler's device events that are kernels, memsets and copies: not the user
    annotations it mirrors on the GPU timeline (``Optimizer.step#AdamW.step`` spans the
    optimizer's own kernels; counting it would count them twice)."""
    return [
        event
        for event in prof.events()
        if event.device_type == torch.autograd.DeviceType.CUDA
        and not getattr(event, "is_user_annotation", False)
        and not event.name.startswith(("ProfilerStep#", "Optimizer."))
    ]


def kernel_profile(fn) -> dict:
    """The GPU kernels of one call of ``fn`` (profiled): count, and seconds by kind."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        fn()
        torch.cuda.synchronize()
    seconds = {f"{kind}_s": 0.0 for kind, _ in KERNEL_KINDS} | {"other_s": 0.0}
    count = 0
    for event in device_kernels(prof):
        seconds[f"{kernel_kind(event.name)}_s"] += event.device_time_total / 1e6
        count += 1
    return dict(kernels=count, kernel_s=sum(seconds.values()), **seconds)


def kernel_table(fn, case: str, top: int = 40) -> list[dict]:
    """The ``top`` kernels of one profiled call of ``fn`` by device time: name (first 150
    characters), kind (`kernel_kind`), calls and seconds; the rest summed in one row."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        fn()
        torch.cuda.synchronize()
    totals: dict[str, list] = {}
    for event in device_kernels(prof):
        entry = totals.setdefault(event.name[:150], [0, 0.0])
        entry[0] += 1
        entry[1] += event.device_time_total / 1e6
    ranked = sorted(totals.items(), key=lambda item: -item[1][1])
    rows = [
        dict(case=case, kernel=name, kind=kernel_kind(name), calls=calls, seconds=seconds)
        for name, (calls, seconds) in ranked[:top]
    ]
    rest = ranked[top:]
    rows.append(
        dict(
            case=case,
            kernel=f"(the other {len(rest)} kernels)",
            kind="rest",
            calls=sum(calls for _, (calls, _) in rest),
            seconds=sum(seconds for _, (_, seconds) in rest),
        )
    )
    return rows


def kernel_rows() -> list[dict]:
    """Per-kernel tables of an AMP training step (bert-large b32 s128, fused AdamW) and of
    an eager fp16 inference (bert-large b32 s384, SDPA): where the kernel time goes."""
    torch.manual_seed(0)
    ids = torch.randint(1, 30000, (32, 128), device="cuda")
    step = autocast_trainee("bert-large", ids)
    rows = kernel_table(step, "train fp16-amp bert-large b32 s128")
    del step
    torch.cuda.empty_cache()
    step = master_trainee("bert-large", ids)
    rows += kernel_table(step, "train fp16-master bert-large b32 s128")
    del step
    torch.cuda.empty_cache()
    model = bert("bert-large")
    ids = torch.randint(1, 30000, (32, 384), device="cuda")
    with torch.inference_mode():
        rows += kernel_table(partial(model, input_ids=ids), "eager fp16 bert-large b32 s384")
    return rows


def measured_call(fn, repeats: int) -> dict:
    """One call of ``fn`` measured: wall seconds (median, min, max over ``repeats`` after
    3 warm-ups), NVML energy and power over a loop of about a second, SM clock, and the
    kernels of one profiled call (`kernel_profile`)."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        walls.append(time.perf_counter() - t0)
    joules, watts, clock = energy_per_call(fn)
    return dict(
        median_s=statistics.median(walls),
        min_s=min(walls),
        max_s=max(walls),
        energy_j=joules,
        average_power_w=watts,
        sm_clock_mhz=clock,
        **kernel_profile(fn),
    )


def report(label: str, row: dict) -> None:
    print(f"{label}: {row['median_s'] * 1e3:.2f} ms, {row['average_power_w']:.0f} W", flush=True)


def inference_rows(quick: bool, attention: str = "sdpa") -> list[dict]:
    rows = []
    cases = [
        ("bert-base", 1, 128),
        ("bert-base", 32, 128),
        ("bert-base", 8, 512),
        ("bert-large", 1, 128),
        ("bert-large", 32, 128),
        ("bert-large", 32, 384),
        ("bert-large", 8, 512),
    ]
    if quick:
        cases = cases[:2]
    for model_name, batch, seq in cases:
        model = bert(model_name, attention)
        ids = torch.randint(1, 30000, (batch, seq), device="cuda")
        with torch.inference_mode():
            forward = partial(model, input_ids=ids)
            runtimes = [("eager", forward)]
            try:
                runtimes.append(("cuda_graph", graphed(forward)))
            except Exception:
                traceback.print_exc()
            for runtime, fn in runtimes:
                labels = dict(model=model_name, batch=batch, seq=seq, dtype="fp16")
                row = labels | dict(attention=attention, runtime=runtime)
                rows.append(row | measured_call(fn, repeats=15))
                report(f"{model_name} b{batch} s{seq} {runtime}", rows[-1])
        del model
        torch.cuda.empty_cache()
    return rows


TRAINING_CASES = [("bert-base", 32, 128), ("bert-large", 32, 128), ("bert-large", 8, 512)]


def autocast_trainee(model_name: str, ids):
    """fp32 weights, fp16 autocast, GradScaler, fused AdamW: the usual PyTorch AMP step."""
    import transformers

    config = transformers.BertConfig(**BERT[model_name], attn_implementation="sdpa")
    model = transformers.BertForMaskedLM(config).to("cuda").train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    return partial(train_step, model, optimizer, torch.amp.GradScaler("cuda"), ids)


def master_trainee(model_name: str, ids):
    """A half model with fp32 master weights and fused AdamW over them (`master_step`)."""
    import transformers

    config = transformers.BertConfig(**BERT[model_name], attn_implementation="sdpa")
    model = transformers.BertForMaskedLM(config).to("cuda", torch.float16).train()
    masters = [p.detach().float().requires_grad_() for p in model.parameters()]
    optimizer = torch.optim.AdamW(masters, lr=1e-5, fused=True)
    return partial(master_step, model, masters, optimizer, ids)


def training_rows(quick: bool, trainee=autocast_trainee, dtype: str = "fp16-amp") -> list[dict]:
    """One masked-LM training step per case (Hugging Face BertForMaskedLM), measured."""
    rows = []
    for model_name, batch, seq in TRAINING_CASES[:1] if quick else TRAINING_CASES:
        torch.manual_seed(0)
        ids = torch.randint(1, 30000, (batch, seq), device="cuda")
        step = trainee(model_name, ids)
        labels = dict(model=model_name, batch=batch, seq=seq, dtype=dtype)
        rows.append(labels | dict(optimizer="adamw-fused") | measured_call(step, repeats=8))
        report(f"train {dtype} {model_name} b{batch} s{seq}", rows[-1])
        del step
        torch.cuda.empty_cache()
    return rows


def train_step(model, optimizer, scaler, ids) -> None:
    """An autocast step: fp16 forward, scaled backward, unscale-and-step, scaler update."""
    with torch.autocast("cuda", dtype=torch.float16):
        loss = model(input_ids=ids, labels=ids).loss
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


def master_step(model, masters, optimizer, ids, scale: float = 1024.0) -> None:
    """DeepSpeed-style fp16 step, as perfsim traces it (`perfsim.trace.train_step`): a half
    model, fp32 master weights and optimizer; master gradients, unscale, step, copy back."""
    loss = model(input_ids=ids, labels=ids).loss
    (loss * scale).backward()
    params = [p for p in model.parameters() if p.grad is not None]
    for master, param in zip(masters, params, strict=True):
        master.grad = param.grad.float().mul_(1.0 / scale)
        param.grad = None
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():
        for master, param in zip(masters, params, strict=True):
            param.copy_(master)


def copy_power_rows(duration_s: float = 1.5) -> list[dict]:
    """A device-to-device copy of 4 GiB repeated: achieved HBM bandwidth and its power."""
    source = torch.empty(4 * 2**30, dtype=torch.uint8, device="cuda")
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize()
    e0, t0, count = energy_mj(), time.perf_counter(), 0
    clock = float("nan")
    while time.perf_counter() - t0 < duration_s:
        for _ in range(5):
            target.copy_(source)
        if count == 5:
            clock = sm_clock_mhz()
        torch.cuda.synchronize()
        count += 5
    elapsed, e1 = time.perf_counter() - t0, energy_mj()
    moved = 2.0 * source.numel() * count  # read and written
    row = dict(
        bytes_per_s=moved / elapsed,
        average_power_w=(e1 - e0) / 1e3 / elapsed,
        idle_power_w=float("nan"),
        sm_clock_mhz=clock,
    )
    del source, target
    torch.cuda.empty_cache()
    time.sleep(1.0)
    row["idle_power_w"] = power_w()
    print(f"copy: {row['bytes_per_s'] / 1e12:.2f} TB/s at {row['average_power_w']:.0f} W")
    return [row]


DUTY_LEVELS = (0.0, 0.15, 0.3, 0.5, 0.75, 1.0)
BURST_S = 0.004  # short bursts: the power controller averages over longer windows


class ClockSampler:
    """SM clock and power sampled every 10 ms on a thread, between start() and stop()."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((sm_clock_mhz(), power_w()))
            time.sleep(0.01)

    def __enter__(self) -> ClockSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def duty_row(label: str, fn, work_per_call: float, level: float, window_s: float) -> dict:
    """Average power, work per second and SM clock with ``fn`` busy ``level`` of the time."""
    call_s = time_loop(fn, inner=3, outer=3) if level > 0 else 0.0
    burst = max(1, round(BURST_S / call_s)) if level > 0 else 0
    torch.cuda.synchronize()
    e0, t0, calls = energy_mj(), time.perf_counter(), 0
    with ClockSampler() as sampler:
        while time.perf_counter() - t0 < window_s:
            start = time.perf_counter()
            if burst:
                for _ in range(burst):
                    fn()
                torch.cuda.synchronize()
                calls += burst
            if level < 1.0:
                period = burst * call_s / level if level > 0 else 0.05
                time.sleep(max(0.0, period - (time.perf_counter() - start)))
        elapsed, e1 = time.perf_counter() - t0, energy_mj()
    clocks = sorted(c for c, _ in sampler.samples)
    powers = sorted(p for _, p in sampler.samples)
    row = dict(
        kind=label,
        level=level,
        calls=calls,
        work_per_s=calls * work_per_call / elapsed,
        seconds=elapsed,
        average_power_w=(e1 - e0) / 1e3 / elapsed,
        clock_median_mhz=statistics.median(clocks) if clocks else float("nan"),
        clock_max_mhz=clocks[-1] if clocks else float("nan"),
        clock_min_mhz=clocks[0] if clocks else float("nan"),
        power_max_w=powers[-1] if powers else float("nan"),
        temperature_c=NVML.nvmlDeviceGetTemperature(HANDLE, NVML.NVML_TEMPERATURE_GPU),
    )
    print(
        f"duty {label} {level:.2f}: {row['work_per_s']:.3g}/s {row['average_power_w']:.0f} W"
        f" clock {row['clock_min_mhz']:.0f}-{row['clock_max_mhz']:.0f} MHz",
        flush=True,
    )
    return row


def duty_rows(quick: bool) -> list[dict]:
    """`duty_row` per duty level for one large product per dtype (MACs) and the copy (bytes)."""
    window = 0.6 if quick else 2.0
    cases = []
    for dtype in DTYPES:
        side = 4096 if dtype == "fp32" else SQUARE  # fp32 on CUDA cores: ~3 ms per call
        cases.append((f"mac.{dtype}", operands(dtype, side, side, side), float(side) ** 3))
    source = torch.empty(2**30, dtype=torch.uint8, device="cuda")
    target = torch.empty_like(source)
    cases.append(("hbm.bytes", partial(target.copy_, source), 2.0 * source.numel()))
    rows = []
    for label, fn, work in cases:
        torch.backends.cuda.matmul.allow_tf32 = label == "mac.tf32"
        fn()
        for level in DUTY_LEVELS:
            rows.append(duty_row(label, fn, work, level, window))
        time.sleep(0.5)  # let the clocks and temperature settle between cases
    torch.backends.cuda.matmul.allow_tf32 = False
    return rows


def host_op_rows() -> list[dict]:
    from torch.profiler import ProfilerActivity, profile

    model = bert("bert-base")
    ids = torch.randint(1, 30000, (1, 128), device="cuda")
    with torch.inference_mode():
        for _ in range(3):
            model(input_ids=ids)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            model(input_ids=ids)
            torch.cuda.synchronize()
    counts: dict[tuple[str, str], list[float]] = {}
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            kind, time_us = "kernel", event.device_time_total
        elif event.name.startswith("aten::"):
            # a top-level op is one Python dispatched; nested ones ran inside another op
            kind = "aten-nested" if event.cpu_parent is not None else "aten-top"
            time_us = event.cpu_time_total
        else:
            continue
        counts.setdefault((kind, event.name), []).append(time_us)
    return [
        dict(kind=kind, name=name, count=len(times), total_us=sum(times))
        for (kind, name), times in sorted(counts.items())
    ]


def device_info() -> dict:
    props = torch.cuda.get_device_properties(0)
    info = dict(
        name=props.name,
        sms=props.multi_processor_count,
        total_memory_bytes=props.total_memory,
        l2_bytes=getattr(props, "L2_cache_size", None),
        torch=torch.__version__,
        cuda=torch.version.cuda,
    )
    if NVML is not None:
        for key, call in {
            "power_limit_w": lambda: NVML.nvmlDeviceGetPowerManagementLimit(HANDLE) / 1e3,
            "default_power_limit_w": lambda: (
                NVML.nvmlDeviceGetPowerManagementDefaultLimit(HANDLE) / 1e3
            ),
            "max_sm_clock_mhz": lambda: NVML.nvmlDeviceGetMaxClockInfo(HANDLE, NVML.NVML_CLOCK_SM),
            "max_mem_clock_mhz": lambda: NVML.nvmlDeviceGetMaxClockInfo(
                HANDLE, NVML.NVML_CLOCK_MEM
            ),
            "app_sm_clock_mhz": lambda: NVML.nvmlDeviceGetApplicationsClock(
                HANDLE, NVML.NVML_CLOCK_SM
            ),
            "idle_power_w": power_w,
        }.items():
            try:
                info[key] = call()
            except Exception as error:
                info[key] = f"unavailable: {error}"
    return info


def main() -> int:
    out = Path(sys.argv[1])
    quick = "--quick" in sys.argv
    out.mkdir(parents=True, exist_ok=True)
    if not torch.cuda.is_available():
        print("no CUDA device: nothing measured", file=sys.stderr)
        return 1
    sections = [
        ("device.json", lambda: device_info()),
        ("gemm.csv", lambda: gemm_rows(quick)),
        ("attention.csv", lambda: attention_rows(quick)),
        ("sustained.csv", lambda: sustained_rows(0.5 if quick else 1.5)),
        ("inference.csv", lambda: inference_rows(quick)),
        ("training.csv", lambda: training_rows(quick)),
        ("host_ops.csv", host_op_rows),
        ("inference-eager-attention.csv", lambda: inference_rows(quick, attention="eager")),
        ("training-master.csv", lambda: training_rows(quick, master_trainee, "fp16-master")),
        ("copy.csv", copy_power_rows),
        ("duty.csv", lambda: duty_rows(quick)),
        ("kernels.csv", kernel_rows),
        ("short_k.csv", lambda: short_k_rows(quick)),
    ]
    chosen = next((arg.split("=", 1)[1] for arg in sys.argv if arg.startswith("--only=")), "")
    if chosen:  # --only=a.csv,b.csv: those sections alone
        sections = [(name, run) for name, run in sections if name in chosen.split(",")]
    for name, section in sections:
        t0 = time.perf_counter()
        try:
            result = section()
        except Exception:
            traceback.print_exc()
            continue
        if name.endswith(".json"):
            (out / name).write_text(json.dumps(result, indent=2, default=str) + "\n")
            print(json.dumps(result, default=str), flush=True)
        else:
            write_csv(out / name, result)
        print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
