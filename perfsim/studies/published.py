"""Study ``published-inference``: perfsim's BERT inference predictions against NVIDIA's
published TensorRT measurements on an A100 40GB.

Source of every measured figure: NVIDIA/TensorRT, ``demo/BERT/README.md``, section
"Inference performance: NVIDIA A100 (40GB)" (TensorRT 8.4.3, CUDA 11.6; average latency over
1,000-2,000 iterations after 100 warm-ups, host-device copies excluded;
https://github.com/NVIDIA/TensorRT/tree/release/8.4/demo/BERT). The engines are built from
TensorRT's fused BERT plugins (fused QKV-to-context multi-head attention, skip+layernorm,
bias+GELU in the GEMM epilogue), so perfsim predicts them with every fusion what-if on.
``int8`` in that table is TensorRT's ``--int8 --fp16`` mode: int8 GEMMs, fp16 elsewhere,
which is perfsim's ``int8`` precision policy.
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

SOURCE: Final = (
    "NVIDIA/TensorRT demo/BERT/README.md, 'Inference performance: NVIDIA A100 (40GB)', "
    "TensorRT 8.4.3, average latency"
)
HARDWARE: Final = "a100"
# TensorRT's plugins fuse attention, softmax, layernorm and the GEMM epilogues
WHATIFS: Final = {"fusion": "all"}


@dataclass(frozen=True, slots=True)
class PublishedLatency:
    """One published measurement: average latency in seconds."""

    model: str
    seq: int
    batch: int
    precision: str
    latency_s: float

    @property
    def label(self) -> str:
        return f"{self.model} s{self.seq} b{self.batch} {self.precision}"

    def scenario(self, whatifs: dict[str, object] | None = None) -> Scenario:
        """The inference this row measured, with ``whatifs`` (default: TensorRT's fusions),
        its kernels issued by an engine runtime."""
        from perfsim.whatif import parse_whatifs

        knobs = parse_whatifs(WHATIFS if whatifs is None else whatifs, "published-inference")
        return Scenario(
            self.model,
            batch=self.batch,
            seq=self.seq,
            precision=self.precision,
            whatifs=knobs,
            runtime="engine",  # TensorRT launches its kernels from C++ (perfsim.timeline)
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


def predict(
    case: PublishedLatency,
    hw: str | Path = HARDWARE,
    *,
    store: GraphStore | None = None,
    whatifs: dict[str, object] | None = None,
    engine: str = "roofline",
) -> Result:
    """perfsim's prediction of one published case (roofline unless ``engine`` says),
    fused as TensorRT runs it."""
    from perfsim.pipeline import simulate

    return simulate(case.scenario(whatifs), hw, store=store, engine=engine)


def comparison_table(
    cases: Sequence[PublishedLatency] = PUBLISHED,
    hw: str | Path = HARDWARE,
    *,
    store: GraphStore | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Predicted vs published latency per case (the roofline's, and the cycle engine's in
    ``predicted_cycle_s``), with the signed errors in percent and the share of the
    roofline's prediction spent in per-kernel launch overhead."""
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
                "source": SOURCE,
            }
        )
    return pd.DataFrame(rows)


TITLE: Final = "perfsim against NVIDIA's published TensorRT BERT inference on an A100"
INTRO: Final = (
    "Each row: the published average latency of NVIDIA's TensorRT 8.4 BERT demo on an A100 "
    "40GB, and perfsim's roofline and cycle-engine predictions on hwconfigs/a100.yaml "
    "(datasheet figures, no "
    "calibration) with every fusion what-if on, as TensorRT's plugins fuse them. "
    "Source: " + SOURCE + "."
)


def comparison_figure(frame: pd.DataFrame) -> Figure:
    """Predicted vs published, one bar pair per case, with the sentence that reads it."""
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
        title="TensorRT on A100: published vs predicted latency",
        yaxis={"type": "log", "title": "latency (ms)"},
    )
    batched = frame[frame["batch"] > 1]
    single = frame[frame["batch"] == 1]
    within = int((batched["error_pct"].abs() <= 25).sum())
    sentence = (
        f"{within} of {len(batched)} batched cases are within 25% "
        f"(errors {', '.join(f'{e:+.0f}%' for e in batched['error_pct'])}); the batch-1 cases "
        f"err by {', '.join(f'{e:+.0f}%' for e in single['error_pct'])}, where launch-bound "
        f"kernels are {single['launch_bound_share'].mean():.0%} of the predicted time. "
        f"The cycle engine: batched "
        f"{', '.join(f'{e:+.0f}%' for e in batched['error_cycle_pct'])}, batch 1 "
        f"{', '.join(f'{e:+.0f}%' for e in single['error_cycle_pct'])}."
    )
    from perfsim.studies.report import Figure

    return Figure("published_inference", "Predicted vs published latency", sentence, frame, figure)


def run_study(
    *, store: GraphStore | None = None, progress: Callable[[str], None] | None = None
) -> list[Figure]:
    """The study's one figure (and its table)."""
    return [comparison_figure(comparison_table(store=store, progress=progress))]
