"""Kernels LLMCompass's authors measured on an A100 80GB SXM, against both engines with the
shipped ``a100-80gb.yaml``: checks, never inputs (no figure of any hardware file comes from
them).

    python results/validation/llmcompass/compare.py

Source: PrincetonUniversity/LLMCompass @b95c6c95 (MIT license), the artifact's
``ae/figure5/*/real_hardware/*_A100.csv`` (Zhang et al., "LLMCompass: Enabling Efficient
Hardware Design for Large Language Model Inference", ISCA 2024, Figure 5), copied below
digit for digit. Their GPU system is four ``NVIDIA A100(80GB)`` with 12 NVLink3 links each
(``configs/GA100.json``): the SXM4 part. How each was timed (``software_model/*.py``,
``run_on_gpu``), the median of repeated calls of

- ``matmul``: ``torch.matmul`` of a bf16 ``M x K`` and ``K x N`` (cuBLAS), M = 8,192 with
  N = K from 64 to 32,768, and N = K = 12,288 with M from 64 to 32,768 (``ab/``);
- ``softmax``: ``torch.softmax`` over the last axis of an fp16 ``rows x columns`` tensor, one
  side 4,096 (``cf/``);
- ``layernorm``: ``torch.layer_norm`` (no affine) of the same shapes, under
  ``torch.compile`` (a generated kernel, ``de/``);
- ``gelu``: the tanh GELU of an fp16 vector of 2^10-2^29 elements under ``torch.compile``
  (``g/``);
- ``gpt3-layer``: one GPT-3 175B layer's prefill (batch 8, 2,048 tokens) with 4-way tensor
  parallelism, op by op (``ijkl/real_hardware/transformer_A100.csv``, in the order of
  ``plot_transformer.py``'s categories): the Q, K and V projections (one timed, x 3), the
  two attention ``torch.bmm``, the output projection, the two FFN products, the softmax,
  the two LayerNorms and the GELU, each as the kernels above. The file's two all-reduce
  figures are not timed by its ``run_on_gpu`` (it adds 0 for them) and are left out.

Each call is bracketed by ``time.time()`` and ``torch.cuda.synchronize()``, so the window
holds the host's launch of the kernel and the synchronisation as well as the kernel: the
model's side is the eager runtime's host issue then the kernel (`perfsim.timeline`), and
rows measured under ``SHORT_S`` are kept apart (there the host's share, ~20-45 us by
LLMCompass's own overhead constants, is a large part of the window). The GPT-3 layer's
LayerNorm is the one row LLMCompass timed with its launch overhead subtracted: its model
side is the kernel alone. Writes ``compare.csv`` (one row per measurement) and
``summary.md``.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from perfsim.estimate import estimate_graph
from perfsim.hardware import HardwareSpec, resolve_hardware
from perfsim.ir import OpGraph
from perfsim.timeline import apply_runtime, device_s
from perfsim.trace import trace_model

HERE = Path(__file__).resolve().parent
HARDWARE = "a100-80gb"
ENGINES = ("roofline", "cycle")
# under this the window is mostly the host's launch and the synchronisation
SHORT_S = 0.2e-3

# ab/real_hardware/matmul_A100.csv: M, N, K, milliseconds (its TFLOP/s column is
# 2 M N K / time, checked by tests/test_llmcompass_check.py)
MATMUL_MS: tuple[tuple[int, int, int, float], ...] = (
    (64, 12288, 12288, 0.1900),
    (128, 12288, 12288, 0.2003),
    (256, 12288, 12288, 0.3185),
    (512, 12288, 12288, 0.6118),
    (1024, 12288, 12288, 1.1990),
    (2048, 12288, 12288, 2.3586),
    (4096, 12288, 12288, 4.4576),
    (8192, 12288, 12288, 8.6216),
    (16384, 12288, 12288, 17.0307),
    (32768, 12288, 12288, 35.4407),
    (8192, 64, 64, 0.0296),
    (8192, 128, 128, 0.0310),
    (8192, 256, 256, 0.0356),
    (8192, 512, 512, 0.0471),
    (8192, 1024, 1024, 0.0927),
    (8192, 2048, 2048, 0.2818),
    (8192, 4096, 4096, 1.0210),
    (8192, 8192, 8192, 3.9614),
    (8192, 16384, 16384, 15.0087),
    (8192, 32768, 32768, 61.1346),
)
# cf/ and de/real_hardware/{softmax,layernorm}_A100.csv: rows, columns, elements per
# nanosecond (rows x columns / seconds / 1e9)
SOFTMAX_RATE: tuple[tuple[int, int, float], ...] = (
    (4096, 32, 9.99556025250909),
    (4096, 64, 19.634136210285714),
    (4096, 128, 37.27158060257627),
    (4096, 256, 68.719476736),
    (4096, 512, 111.34294964820253),
    (4096, 1024, 152.9755308210087),
    (4096, 2048, 167.5446289944381),
    (4096, 4096, 204.5603028420465),
    (4096, 8192, 216.51921285435077),
    (4096, 16384, 242.0249154863766),
    (4096, 32768, 240.88573103179803),
    (32, 4096, 8.457781752123077),
    (64, 4096, 16.65926708751515),
    (128, 4096, 30.97215852890141),
    (256, 4096, 57.11748715719481),
    (512, 4096, 96.6603628814066),
    (1024, 4096, 137.438953472),
    (2048, 4096, 166.75057862005687),
    (4096, 4096, 203.9673744280116),
    (8192, 4096, 229.96321626687583),
    (16384, 4096, 247.12465031664266),
    (32768, 4096, 278.826128490001),
)
LAYERNORM_RATE: tuple[tuple[int, int, float], ...] = (
    (4096, 32, 2.476377540036036),
    (4096, 64, 4.8436635584845815),
    (4096, 128, 10.064179659276888),
    (4096, 256, 19.590407621844097),
    (4096, 512, 39.26827242057143),
    (4096, 1024, 78.888726656574),
    (4096, 2048, 139.06866438273516),
    (4096, 4096, 211.31755008307508),
    (4096, 8192, 265.2921552409576),
    (4096, 16384, 210.44858071824746),
    (4096, 32768, 199.2743197951547),
    (32, 4096, 2.4988900631272726),
    (64, 4096, 5.020601040073059),
    (128, 4096, 9.99556025250909),
    (256, 4096, 20.082404160292235),
    (512, 4096, 40.16480832058447),
    (1024, 4096, 79.6026517846878),
    (2048, 4096, 141.87246810012903),
    (4096, 4096, 211.6353208350797),
    (8192, 4096, 284.89370112414576),
    (16384, 4096, 345.7923546813956),
    (32768, 4096, 385.84643825998086),
)
# g/real_hardware/gelu_A100.csv: elements, elements per nanosecond
GELU_RATE: tuple[tuple[int, float], ...] = (
    (1024, 0.021262214336633663),
    (2048, 0.04338350804040404),
    (4096, 0.08547198599004975),
    (8192, 0.1700977146930693),
    (16384, 0.3368601800784314),
    (32768, 0.6889170600100251),
    (65536, 1.38129601479397),
    (131072, 2.735103551681592),
    (262144, 5.52518405917588),
    (524288, 11.19095804352163),
    (1048576, 21.935394070344138),
    (2097152, 43.980465111040004),
    (4194304, 86.66101499712316),
    (8388608, 141.87246810012903),
    (16777216, 210.36993775086398),
    (33554432, 277.042299912063),
    (67108864, 328.2507017033889),
    (134217728, 360.17271492086496),
    (268435456, 379.53814489891255),
    (536870912, 390.32758080867535),
)
# ijkl/real_hardware/transformer_A100.csv, seconds, the first ten of its twelve lines
GPT3_LAYER_S: tuple[float, ...] = (
    0.013721823692321777,
    0.0018811225891113281,
    0.001183152198791504,
    0.0045403242111206055,
    0.017464280128479004,
    0.017485618591308594,
    0.00280153751373291,
    0.0006816387176513672,
    0.0006816387176513672,
    0.0005242824554443359,
)
# GPT-3 175B (d_model 12,288, 96 heads of 128) on 4 devices: 24 heads and a quarter of
# each weight a device; batch 8 x 2,048 tokens (LLMCompass's test_transformer.py)
BATCH, TOKENS, D_MODEL, HEADS_PER_DEVICE, HEAD_DIM, TP = 8, 2048, 12288, 24, 128, 4


@dataclass(frozen=True)
class Case:
    """One measurement: the traced op(s) it timed, how many times, and its seconds."""

    kind: str
    shape: str
    build: Callable[[], OpGraph]
    measured_s: float
    repeats: int = 1  # LLMCompass timed one of several identical calls and multiplied
    with_host: bool = True  # the window holds the host's launch (all but one row)


class _Call(torch.nn.Module):
    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, **tensors: torch.Tensor) -> torch.Tensor:
        return self.fn(**tensors)


def _meta(shape: Sequence[int], dtype: torch.dtype = torch.float16) -> torch.Tensor:
    return torch.empty(tuple(shape), dtype=dtype, device="meta")


def traced(
    fn: Callable[..., torch.Tensor], dtype: torch.dtype = torch.float16, **shapes: Sequence[int]
) -> Callable[[], OpGraph]:
    """A builder of the op graph perfsim's tracer records for ``fn`` on ``dtype`` tensors
    (LLMCompass's GEMM sweep ran bf16, everything else fp16)."""
    return lambda: trace_model(_Call(fn), {name: _meta(s, dtype) for name, s in shapes.items()})


def softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, -1)


def layer_norm(x: torch.Tensor) -> torch.Tensor:
    return torch.layer_norm(x, [x.shape[-1]])


def gelu(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.gelu(x, approximate="tanh")


def bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.bmm(a, b)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.matmul(a, b)


def gpt3_layer_cases() -> list[Case]:
    """The ten timed ops of LLMCompass's GPT-3 layer, each with the op perfsim traces."""
    heads = BATCH * HEADS_PER_DEVICE
    local = D_MODEL // TP  # 3,072: a device's share of the heads, and of the FFN's 4 d
    ffn = 4 * D_MODEL // TP
    hidden = (BATCH, TOKENS, D_MODEL)
    specs: tuple[tuple[str, Callable[[], OpGraph], int], ...] = (
        ("q, k, v projections", traced(matmul, a=hidden, b=(D_MODEL, local)), 3),
        ("q k^T", traced(bmm, a=(heads, TOKENS, HEAD_DIM), b=(heads, HEAD_DIM, TOKENS)), 1),
        ("a v", traced(bmm, a=(heads, TOKENS, TOKENS), b=(heads, TOKENS, HEAD_DIM)), 1),
        ("output projection", traced(matmul, a=(BATCH, TOKENS, local), b=(local, D_MODEL)), 1),
        ("ffn up", traced(matmul, a=hidden, b=(D_MODEL, ffn)), 1),
        ("ffn down", traced(matmul, a=(BATCH, TOKENS, ffn), b=(ffn, D_MODEL)), 1),
        ("softmax", traced(softmax, x=(BATCH, HEADS_PER_DEVICE, TOKENS, TOKENS)), 1),
        ("layernorm (mha)", traced(layer_norm, x=hidden), 1),
        ("layernorm (ffn)", traced(layer_norm, x=hidden), 1),
        ("gelu", traced(gelu, x=(BATCH, TOKENS, ffn)), 1),
    )
    assert len(specs) == len(GPT3_LAYER_S)
    return [
        Case(
            "gpt3-layer",
            name,
            build,
            seconds,
            repeats=repeats,
            # LLMCompass subtracted its launch overhead from the LayerNorm rows alone
            with_host=not name.startswith("layernorm"),
        )
        for (name, build, repeats), seconds in zip(specs, GPT3_LAYER_S, strict=True)
    ]


def cases() -> list[Case]:
    """Every measurement of the artifact's A100 files (the all-reduce rows aside)."""
    found = [
        Case(
            "matmul", f"{m}x{n}x{k}", traced(matmul, torch.bfloat16, a=(m, k), b=(k, n)), ms * 1e-3
        )
        for m, n, k, ms in MATMUL_MS
    ]
    for kind, fn, table in (
        ("softmax", softmax, SOFTMAX_RATE),
        ("layernorm", layer_norm, LAYERNORM_RATE),
    ):
        found += [
            Case(kind, f"{r}x{c}", traced(fn, x=(r, c)), r * c / (rate * 1e9))
            for r, c, rate in table
        ]
    found += [Case("gelu", str(n), traced(gelu, x=(n,)), n / (rate * 1e9)) for n, rate in GELU_RATE]
    return found + gpt3_layer_cases()


def modelled_s(case: Case, graph: OpGraph, hw: HardwareSpec, engine: str) -> float:
    """The model's seconds for ``case``'s window (``graph``: its traced kernels): the kernels
    on ``hw`` at the clock they sustain, after the eager runtime's host issue where the
    window holds it."""
    result = estimate_graph(graph, hw, engine)
    if case.with_host:
        seconds = apply_runtime(result, "eager").latency_s
    else:
        seconds = sum(device_s(cost) for cost in result.costs)
    return case.repeats * seconds


def compare(rows: Sequence[Case]) -> pd.DataFrame:
    """One row per measurement: measured and modelled seconds, error = model / measured - 1
    (negative: the model is too fast)."""
    hw = resolve_hardware(HARDWARE)
    records = []
    for case in rows:
        graph = case.build()  # traced once, costed by each engine
        record: dict[str, object] = {
            "kind": case.kind,
            "shape": case.shape,
            "measured_ms": round(case.measured_s * 1e3, 4),
            "window": "launch + kernel" if case.with_host else "kernel",
        }
        for engine in ENGINES:
            seconds = modelled_s(case, graph, hw, engine)
            record[f"{engine}_ms"] = round(seconds * 1e3, 4)
            record[f"{engine}_error"] = round(seconds / case.measured_s - 1, 3)
        records.append(record)
    return pd.DataFrame(records)


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def summary(frame: pd.DataFrame) -> str:
    """Median and worst |error| per kind, rows at ``SHORT_S`` or more apart from the rest."""
    lines = [
        "# Kernels measured on an A100 80GB SXM by LLMCompass's authors, against perfsim",
        "",
        "    python results/validation/llmcompass/compare.py",
        "",
        "Error: predicted / measured - 1 (negative: the model is too fast); median and worst",
        "absolute error, and the median signed error, per kind. The measured window is one",
        "call's host launch, kernel and synchronisation (`compare.py`); rows under 0.2 ms are",
        "mostly host and are listed apart. Checks, not inputs (`a100-80gb.yaml`).",
        "",
        "| kind | measured | cases | roofline: median | worst | signed "
        "| cycle: median | worst | signed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    long_rows = frame["measured_ms"] >= SHORT_S * 1e3
    for kind in dict.fromkeys(frame["kind"]):
        for label, mask in ((">= 0.2 ms", long_rows), ("< 0.2 ms", ~long_rows)):
            chosen = frame[(frame["kind"] == kind) & mask]
            if chosen.empty:
                continue
            cells = []
            for engine in ENGINES:
                errors = chosen[f"{engine}_error"].tolist()
                worst = max(errors, key=abs)
                cells += [
                    _pct(statistics.median(abs(e) for e in errors)),
                    f"{100 * worst:+.0f}%",
                    f"{100 * statistics.median(errors):+.0f}%",
                ]
            lines.append(f"| {kind} | {label} | {len(chosen)} | " + " | ".join(cells) + " |")
    layer = frame[frame["kind"] == "gpt3-layer"]
    lines += [
        "",
        "## One GPT-3 175B layer's prefill op by op (batch 8, 2,048 tokens, 4-way tensor parallel)",
        "",
        "| op | measured (ms) | roofline (ms) | error | cycle (ms) | error |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in layer.itertuples():
        lines.append(
            f"| {row.shape} | {row.measured_ms:.3f} | {row.roofline_ms:.3f} | "
            f"{100 * row.roofline_error:+.0f}% | {row.cycle_ms:.3f} | "
            f"{100 * row.cycle_error:+.0f}% |"
        )
    total = {key: layer[f"{key}_ms"].sum() for key in ("measured", "roofline", "cycle")}
    lines.append(
        f"| all ten | {total['measured']:.3f} | {total['roofline']:.3f} | "
        f"{100 * (total['roofline'] / total['measured'] - 1):+.0f}% | {total['cycle']:.3f} | "
        f"{100 * (total['cycle'] / total['measured'] - 1):+.0f}% |"
    )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] = ()) -> None:
    out = Path(argv[0]) if argv else HERE
    frame = compare(cases())
    frame.to_csv(out / "compare.csv", index=False)
    (out / "summary.md").write_text(summary(frame), encoding="utf-8")
    print(summary(frame))


if __name__ == "__main__":
    main(sys.argv[1:])
