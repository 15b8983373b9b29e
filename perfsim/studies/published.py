"""Study ``published-inference``: perfsim's BERT inference predictions against NVIDIA's
published TensorRT measurements on an A100 40GB and a T4.

Source of every measured figure: NVIDIA/TensorRT, ``demo/BERT/README.md``, sections
"Inference performance: NVIDIA A100 (40GB)" and "... NVIDIA T4 (16GB)" (TensorRT 8.4.3,
CUDA 11.6; average latency over
1,000-2,000 iterations after 100 warm-ups, host-device copies excluded;
https://github.com/NVIDIA/TensorRT/tree/release/8.4/demo/BERT). The engines are built from
TensorRT's fused BERT plugins (fused QKV-to-context multi-head attention, skip+layernorm,
bias+GELU in the GEMM epilogue), so perfsim predicts them with every fusion what-if on.
``int8`` in that table is TensorRT's ``--int8 --fp16`` mode as the benchmark script builds
it on Turing and Ampere (``builder.py --int8 --fp16 -iln -imh``): int8 GEMMs, and the
skip-LayerNorm and attention plugins taking and giving int8, so every activation between
kernels is stored in int8 while the math between GEMMs runs in fp16: perfsim's ``int8``
precision policy with the ``quant=int8-io`` what-if (`perfsim.whatif.quantize`).
The benchmark times the engine replayed from a CUDA graph (``BENCHMARK_RUNTIME``), so each
prediction is the graph launch call (the start event is recorded before it) and then the
kernels' device time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from perfsim.cache import GraphStore
from perfsim.scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd

    from perfsim.estimate import Result
    from perfsim.studies.report import Figure

SOURCES: Final = {
    "a100": "NVIDIA/TensorRT demo/BERT/README.md, 'Inference performance: NVIDIA A100 (40GB)', "
    "TensorRT 8.4.3, average latency",
    "t4": "NVIDIA/TensorRT demo/BERT/README.md, 'Inference performance: NVIDIA T4 (16GB)', "
    "TensorRT 8.4.3, average latency",
}
SOURCE: Final = SOURCES["a100"]
HARDWARE: Final = "a100"
# TensorRT's plugins fuse attention, softmax, layernorm and the GEMM epilogues; the
# benchmark's engines (demo/BERT/scripts/inference_benchmark.sh -> builder.py) use the
# fixed-length attention plugin, one CTA per sequence and head
# (perfsim.hardware.attention_kernel)
WHATIFS: Final = {"fusion": "all", "attention_kernel": "per_head"}
# issue 12's aims for these rows: batched within 15%, batch 1 within 25% (percent)
BATCHED_AIM_PCT: Final = 15
SINGLE_AIM_PCT: Final = 25
# an int8 row's engine also keeps its activations in int8 between kernels (builder.py
# -iln -imh, which inference_benchmark.sh passes on Turing and Ampere)
INT8_WHATIFS: Final = {**WHATIFS, "quant": "int8-io"}
# how the benchmark issues the engine's kernels (perfsim.timeline): inference_benchmark.sh
# runs `build/perf ... --enable_graph` whenever that binary exists (the README's quick start
# builds it), else perf.py; infer_c/bert_infer.h captures the engine's enqueueV2 into a CUDA
# graph and times each replay between two CUDA events: cudaEventRecord(start), then
# cudaGraphLaunch, cudaEventRecord(stop), cudaStreamSynchronize. The start event runs on the
# idle device at once, so the launch call's host time (CUDA 11.x: 2 us + 0.2 us per node,
# the files' host_issue.graph_launch) is inside the window; past it the device bounds batch
# 1: a host-bound engine would run int8 and fp16 in the same time (same kernels), and they
# differ by 16-34% at seq 128
BENCHMARK_RUNTIME: Final = "cuda_graph"


@dataclass(frozen=True, slots=True)
class PublishedLatency:
    """One published measurement: average latency in seconds, on the shipped ``hw``."""

    model: str
    seq: int
    batch: int
    precision: str
    latency_s: float
    hw: str = HARDWARE

    @property
    def label(self) -> str:
        return f"{self.model} s{self.seq} b{self.batch} {self.precision}"

    def scenario(self, whatifs: dict[str, object] | None = None) -> Scenario:
        """The inference this row measured, with ``whatifs`` (default: TensorRT's fusions,
        and int8 activations for an int8 row), its kernels replayed from a CUDA graph."""
        from perfsim.whatif import parse_whatifs

        if whatifs is None:
            whatifs = INT8_WHATIFS if self.precision == "int8" else WHATIFS
        knobs = parse_whatifs(whatifs, "published-inference")
        return Scenario(
            self.model,
            batch=self.batch,
            seq=self.seq,
            precision=self.precision,
            whatifs=knobs,
            runtime=BENCHMARK_RUNTIME,
        )


# NVIDIA/TensorRT demo/BERT/README.md, A100 (40GB), "Average" columns (ms → s)
PUBLISHED: Final[tuple[PublishedLatency, ...]] = (
    PublishedLatency("bert-large", 384, 1, "int8", 2.81e-3),
    PublishedLatency("bert-large", 384, 1, "fp16", 3.12e-3),
    PublishedLatency("bert-large", 384, 32, "int8", 23.17e-3),
    PublishedLatency("bert-large", 384, 32, "fp16", 43.01e-3),
    PublishedLatency("bert-large", 384, 128, "int8", 89.01e-3),
    PublishedLatency("bert-large", 384, 128, "fp16", 163.70e-3),
    PublishedLatency("bert-base", 128, 1, "int8", 0.58e-3),
    PublishedLatency("bert-base", 128, 1, "fp16", 0.67e-3),
)
# the same README and cases, "Inference performance: NVIDIA T4 (16GB)", "Average" (ms → s)
PUBLISHED_T4: Final[tuple[PublishedLatency, ...]] = (
    PublishedLatency("bert-large", 384, 1, "int8", 7.29e-3, "t4"),
    PublishedLatency("bert-large", 384, 1, "fp16", 12.45e-3, "t4"),
    PublishedLatency("bert-large", 384, 32, "int8", 186.60e-3, "t4"),
    PublishedLatency("bert-large", 384, 32, "fp16", 370.87e-3, "t4"),
    PublishedLatency("bert-large", 384, 128, "int8", 755.50e-3, "t4"),
    PublishedLatency("bert-large", 384, 128, "fp16", 1518.35e-3, "t4"),
    PublishedLatency("bert-base", 128, 1, "int8", 1.69e-3, "t4"),
    PublishedLatency("bert-base", 128, 1, "fp16", 1.95e-3, "t4"),
)


def predict(
    case: PublishedLatency,
    hw: str | Path | None = None,
    *,
    store: GraphStore | None = None,
    whatifs: dict[str, object] | None = None,
    engine: str = "roofline",
) -> Result:
    """perfsim's prediction of one published case on ``hw`` (default: the case's own part;
    roofline unless ``engine`` says), fused as TensorRT runs it."""
    from perfsim.pipeline import simulate

    device = case.hw if hw is None else hw
    return simulate(case.scenario(whatifs), device, store=store, engine=engine)


def comparison_table(
    cases: Sequence[PublishedLatency] = PUBLISHED,
    hw: str | Path | None = None,
    *,
    store: GraphStore | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Predicted vs published latency per case on ``hw`` (default: each case's own part;
    the roofline's, and the cycle engine's in ``predicted_cycle_s``), with the signed
    errors in percent and the share of the roofline's prediction spent in per-kernel
    launch overhead."""
    import pandas as pd

    rows = []
    for case in cases:
        if progress is not None:
            progress(case.label)
        result = predict(case, hw, store=store)
        cycle = predict(case, hw, store=store, engine="cycle").latency_s
        frame = result.to_frame()
        overhead_bound = float(frame.loc[frame["bound"] == "overhead", "latency_s"].sum())
        rows.append(
            {
                "hw": case.hw if hw is None else str(hw),
                "model": case.model,
                "seq": case.seq,
                "batch": case.batch,
                "precision": case.precision,
                "published_s": case.latency_s,
                "predicted_s": result.latency_s,
                "error_pct": 100.0 * (result.latency_s - case.latency_s) / case.latency_s,
                "predicted_cycle_s": cycle,
                "error_cycle_pct": 100.0 * (cycle - case.latency_s) / case.latency_s,
                # ops fused into an earlier op's kernel pay no launch: they are not kernels
                "n_kernels": int((frame["overhead_s"] > 0).sum()),
                "launch_bound_share": overhead_bound / result.latency_s,
                "matrix_share": float(
                    frame.loc[frame["category"].isin(("gemm", "attn_gemm")), "latency_s"].sum()
                )
                / result.latency_s,
                "source": SOURCES.get(case.hw, SOURCE),
            }
        )
    return pd.DataFrame(rows)


TITLE: Final = "perfsim against NVIDIA's published TensorRT BERT inference on an A100 and a T4"
INTRO: Final = (
    "Each row: the published average latency of NVIDIA's TensorRT 8.4 BERT demo on an A100 "
    "40GB or a T4, and perfsim's roofline and cycle-engine predictions on hwconfigs/a100.yaml "
    "or hwconfigs/t4.yaml (datasheet and published figures, no calibration) with every "
    "fusion what-if on, as TensorRT's plugins fuse them, and the fused attention launched "
    "as the benchmark's fixed-length plugin launches it (attention_kernel=per_head: one CTA "
    "per sequence and head); the int8 rows keep their activations in int8 between kernels "
    "(quant=int8-io), as the benchmark's builder.py -iln -imh engines do; the kernels are "
    "replayed from a CUDA graph (--runtime cuda_graph), as the benchmark's build/perf "
    "--enable_graph times them. Sources: " + "; ".join(SOURCES.values()) + "."
)


def comparison_figure(
    frame: pd.DataFrame, key: str = "published_inference", part: str = "A100"
) -> Figure:
    """Predicted vs published on one ``part``, one bar group per case, with the sentence
    that reads it."""
    import plotly.graph_objects as go

    labels = [
        f"{m} s{s} b{b} {p}"
        for m, s, b, p in zip(
            frame["model"], frame["seq"], frame["batch"], frame["precision"], strict=True
        )
    ]
    figure = go.Figure()
    figure.add_bar(name="published", x=labels, y=(frame["published_s"] * 1e3).tolist())
    for name, column, error in (
        ("perfsim (roofline)", "predicted_s", "error_pct"),
        ("perfsim (cycle)", "predicted_cycle_s", "error_cycle_pct"),
    ):
        figure.add_bar(
            name=name,
            x=labels,
            y=(frame[column] * 1e3).tolist(),
            customdata=frame[error].tolist(),
            hovertemplate="%{x}<br>%{y:.3g} ms (%{customdata:+.0f}%)<extra></extra>",
        )
    figure.update_layout(
        barmode="group",
        title=f"TensorRT on {part}: published vs predicted latency",
        yaxis={"type": "log", "title": "latency (ms)"},
    )
    batched = frame[frame["batch"] > 1]
    single = frame[frame["batch"] == 1]
    within = int((batched["error_pct"].abs() <= BATCHED_AIM_PCT).sum())
    within_single = int((single["error_pct"].abs() <= SINGLE_AIM_PCT).sum())
    sentence = (
        f"{within} of {len(batched)} batched cases are within issue 12's {BATCHED_AIM_PCT}% "
        f"(errors {', '.join(f'{e:+.0f}%' for e in batched['error_pct'])}); {within_single} of "
        f"{len(single)} batch-1 cases within its {SINGLE_AIM_PCT}% (errors "
        f"{', '.join(f'{e:+.0f}%' for e in single['error_pct'])}), where launch-bound "
        f"kernels are {single['launch_bound_share'].mean():.0%} of the predicted time. "
        f"The cycle engine: batched "
        f"{', '.join(f'{e:+.0f}%' for e in batched['error_cycle_pct'])}, batch 1 "
        f"{', '.join(f'{e:+.0f}%' for e in single['error_cycle_pct'])}."
    )
    from perfsim.studies.report import Figure

    title = "Predicted vs published latency" + ("" if part == "A100" else f" ({part})")
    return Figure(key, title, sentence, frame, figure)


def run_study(
    *, store: GraphStore | None = None, progress: Callable[[str], None] | None = None
) -> list[Figure]:
    """The study's figures (and their tables): the A100's cases, then the T4's."""
    return [
        comparison_figure(comparison_table(PUBLISHED, store=store, progress=progress)),
        comparison_figure(
            comparison_table(PUBLISHED_T4, store=store, progress=progress),
            "published_inference_t4",
            "T4",
        ),
    ]
