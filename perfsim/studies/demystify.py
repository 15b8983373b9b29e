"""Study ``demystify-bert``: the analysis of Pati, Aga, Jayasena & Sinclair, "Demystifying
BERT: Implications for Accelerator Design" (arXiv 2104.08335; IISWC 2022 as "System Design
Implications"), as a command.

The scenario is theirs: BERT-large pre-training with LAMB, phase 1 at sequence 128 and phase 2
at sequence 512, fp32 and mixed precision, on an AMD MI100 and an NVIDIA V100 (plus perfsim's
NPU). The per-device batches are NVIDIA's BERT-large pre-training recipe on 32 GB V100s
(DeepLearningExamples: 64 x seq 128 with gradient accumulation in micro-batches, 16 x seq
512 at phase 2 with mixed precision); perfsim uses micro-batches of 32 and 8, which fit an
fp32 step in 32 GB as well. The optimizer is costed as a multi-tensor fused LAMB (NVIDIA
apex ``FusedLAMB``, what that reference implementation runs): the ``fusion=optimizer``
what-if.

Every figure is computed from perfsim runs made here; each sentence under a figure is
formatted from the same numbers (nothing in a sentence is typed in by hand).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from perfsim.cache import GraphStore
from perfsim.scenario import Scenario, TrainingOptions
from perfsim.studies.analysis import (
    amdahl_curve,
    class_breakdown,
    matrix_share,
    op_intensity,
    scaled_softmax_ops,
)
from perfsim.studies.report import Figure

if TYPE_CHECKING:
    import pandas as pd

    from perfsim.estimate import Result

MODEL: Final = "bert-large"
DEVICES: Final = ("mi100", "v100", "npu")
PHASES: Final = ((128, 32), (512, 8))  # (sequence length, per-device micro-batch)
# the multi-tensor fused LAMB of NVIDIA's reference implementation (apex FusedLAMB)
BASE_WHATIFS: Final[Mapping[str, str]] = {"fusion": "optimizer"}
AMDAHL_FACTORS: Final = (1.0, 2.0, 4.0, 8.0, 16.0, 64.0, math.inf)
BATCH_SWEEP: Final = (4, 8, 32)
SEQ_SWEEP: Final = (128, 256, 512)
DEVICE_COUNTS: Final = (1, 8, 64, 512)
# Ivanov et al., "Data Movement Is All You Need", MLSys 2021, Table 1 (BERT-large encoder
# layer, PyTorch on a V100, forward + backward): share of runtime per operator class
IVANOV_RUNTIME_SHARE: Final[Mapping[str, float]] = {
    "tensor_contraction": 0.61,
    "statistical_normalization": 0.255,
    "elementwise": 0.135,
}
IVANOV_FLOP_SHARE: Final[Mapping[str, float]] = {
    "tensor_contraction": 0.998,
    "statistical_normalization": 0.0017,
    "elementwise": 0.0003,
}
IVANOV_SCENARIO: Final = ("v100", 512, 8)  # their batch 8, sequence 512, on a V100


def mixed_precision(hw: str) -> str:
    """The half precision a device trains in: bf16 where it is native, else fp16."""
    from perfsim.hardware import resolve_hardware

    native = resolve_hardware(hw).native_precision
    return native if native in ("fp16", "bf16") else "fp16"


@dataclass(frozen=True, slots=True)
class Point:
    """One costed training step."""

    hw: str
    seq: int
    batch: int
    precision: str
    whatifs: tuple[tuple[str, str], ...] = field(
        default_factory=lambda: tuple(BASE_WHATIFS.items())
    )
    checkpointing: bool = False

    @property
    def scenario(self) -> Scenario:
        """The training step this point costs: BERT-large, LAMB, the point's knobs."""
        from perfsim.whatif import parse_whatifs

        return Scenario(
            MODEL,
            batch=self.batch,
            seq=self.seq,
            mode="training",
            precision=self.precision,
            training=TrainingOptions(optimizer="lamb", checkpointing=self.checkpointing),
            whatifs=parse_whatifs(dict(self.whatifs), "demystify-bert"),
        )

    @property
    def label(self) -> str:
        knobs = ",".join(f"{k}={v}" for k, v in self.whatifs)
        ckpt = " ckpt" if self.checkpointing else ""
        return f"{self.hw} s{self.seq} b{self.batch} {self.precision} [{knobs}]{ckpt}"


@dataclass
class Runner:
    """Costs `Point`s once each (a study asks for many twice) and reports progress."""

    store: GraphStore | None = None
    progress: Callable[[str], None] | None = None
    results: dict[Point, Result] = field(default_factory=dict)

    def __call__(self, point: Point) -> Result:
        if point not in self.results:
            from perfsim.pipeline import simulate

            if self.progress is not None:
                self.progress(point.label)
            self.results[point] = simulate(point.scenario, point.hw, store=self.store)
        return self.results[point]


def _breakdown_rows(point: Point, result: Result, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            **extra,
            "hw": point.hw,
            "seq": point.seq,
            "batch": point.batch,
            "precision": point.precision,
            "category": category,
            "latency_s": row["latency_s"],
            "share": row["share"],
            "flops": row["flops"],
            "bytes": row["bytes"],
            "step_s": result.latency_s,
        }
        for category, row in result.by_category().items()
    ]


def _top(result: Result, n: int = 2) -> list[tuple[str, float]]:
    shares = {name: row["share"] for name, row in result.by_category().items()}
    return sorted(shares.items(), key=lambda item: -item[1])[:n]


def _optimizer_share(result: Result) -> float:
    return result.by_category().get("optimizer", {}).get("share", 0.0)


def _stacked(frame: pd.DataFrame, x: str, title: str, x_title: str) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure()
    for category, group in frame.groupby("category", sort=False):
        figure.add_bar(
            name=str(category),
            x=group[x],
            y=group["share"] * 100,
            customdata=group["latency_s"] * 1e3,
            hovertemplate="%{x}<br>%{y:.1f}% (%{customdata:.3g} ms)<extra>"
            + str(category)
            + "</extra>",
        )
    figure.update_layout(
        barmode="stack", title=title, xaxis_title=x_title, yaxis_title="share of step (%)"
    )
    return figure


def breakdown_figure(run: Runner) -> Figure:
    """Runtime breakdown by category: both phases, fp32 and mixed precision, each device."""
    points = {
        f"{hw} {precision} s{seq}": Point(hw, seq, batch, precision)
        for hw in DEVICES
        for precision in ("fp32", mixed_precision(hw))
        for seq, batch in PHASES
    }
    frame = _breakdowns(run, points)
    v100 = run(Point("v100", 128, 32, "fp16"))
    (first, first_share), (second, second_share) = _top(v100)
    matrix = matrix_share(v100.by_category())
    sentence = (
        f"On the V100 in mixed precision at phase 1, {first} is the largest category "
        f"({first_share:.0%} of the step) and {second} the second ({second_share:.0%}); the two "
        f"matrix categories together take {matrix:.0%}, so {1 - matrix:.0%} of the step goes "
        "to memory-bound operators."
    )
    return Figure(
        "breakdown",
        "Runtime breakdown of a BERT-large pre-training step by operator category",
        sentence,
        frame,
        _stacked(
            frame, "case", "Share of the training step per category", "device, precision, phase"
        ),
    )


def _breakdowns(run: Runner, points: dict[str, Point]) -> pd.DataFrame:
    """Per-category rows of each labelled point, in order."""
    import pandas as pd

    rows = []
    for label, point in points.items():
        rows += _breakdown_rows(point, run(point), case=label)
    return pd.DataFrame(rows)


def batch_figure(run: Runner) -> Figure:
    """How the breakdown moves with the per-device batch (phase 1, mixed precision, V100)."""
    points = {f"batch {batch}": Point("v100", 128, batch, "fp16") for batch in BATCH_SWEEP}
    frame = _breakdowns(run, points)
    small = _optimizer_share(run(points[f"batch {BATCH_SWEEP[0]}"]))
    large = _optimizer_share(run(points[f"batch {BATCH_SWEEP[-1]}"]))
    sentence = (
        f"LAMB's share of the step grows from {large:.1%} at {BATCH_SWEEP[-1]} sequences per "
        f"device to {small:.1%} at {BATCH_SWEEP[0]}: its cost is fixed per step while the rest "
        "shrinks with the batch."
    )
    return Figure(
        "batch",
        "Breakdown against per-device batch (V100, fp16 mixed precision, sequence 128)",
        sentence,
        frame,
        _stacked(frame, "case", "Share of the step against per-device batch", "per-device batch"),
    )


def seq_figure(run: Runner) -> Figure:
    """How the breakdown moves with sequence length (batch 8, mixed precision, V100)."""
    points = {f"seq {seq}": Point("v100", seq, 8, "fp16") for seq in SEQ_SWEEP}
    frame = _breakdowns(run, points)

    def attention(seq: int) -> float:
        cats = run(points[f"seq {seq}"]).by_category()
        return sum(cats.get(name, {}).get("share", 0.0) for name in ("attn_gemm", "softmax"))

    sentence = (
        "Attention's score work (attention GEMMs and softmax) grows from "
        f"{attention(SEQ_SWEEP[0]):.1%} of the step at sequence {SEQ_SWEEP[0]} to "
        f"{attention(SEQ_SWEEP[-1]):.1%} at {SEQ_SWEEP[-1]}: it is quadratic in the sequence, "
        "the rest linear."
    )
    return Figure(
        "sequence",
        "Breakdown against sequence length (V100, fp16 mixed precision, batch 8)",
        sentence,
        frame,
        _stacked(frame, "case", "Share of the step against sequence length", "sequence length"),
    )


def intensity_figure(run: Runner) -> Figure:
    """Arithmetic intensity of every op against each device's ridge point (phase 1, mixed)."""
    import pandas as pd
    import plotly.graph_objects as go

    frames = []
    for hw in DEVICES:
        result = run(Point(hw, 128, 32, mixed_precision(hw)))
        frame = op_intensity(result)
        frame.insert(0, "hw", hw)
        frames.append(frame[frame["flops"] > 0])
    frame = pd.concat(frames, ignore_index=True)
    # ops of one shape repeat per layer and per parameter: one row per distinct shape keeps
    # the table small and the chart readable (``ops`` counts them, latency is their sum)
    key = ["hw", "category", "phase", "unit", "dtype", "flops", "dram_bytes"]
    shapes = (
        frame.groupby(key, sort=False)
        .agg(
            ops=("op", "size"),
            example_op=("op", "first"),
            latency_s=("latency_s", "sum"),
            intensity_flop_per_byte=("intensity_flop_per_byte", "first"),
            ridge_flop_per_byte=("ridge_flop_per_byte", "first"),
            below_ridge=("below_ridge", "first"),
        )
        .reset_index()
    )
    figure = go.Figure()
    v100_shapes = shapes[shapes["hw"] == "v100"]
    for category, group in v100_shapes.groupby("category", sort=True):
        figure.add_scatter(
            x=group["intensity_flop_per_byte"].tolist(),
            y=(group["latency_s"] * 1e6).tolist(),
            mode="markers",
            name=str(category),
            text=[f"{op} (x{n})" for op, n in zip(group["example_op"], group["ops"], strict=True)],
            hovertemplate="%{text}<br>%{x:.3g} FLOP/B, %{y:.3g} µs in all<extra></extra>",
        )
    for hw in DEVICES:
        ridge = float(
            shapes.loc[
                (shapes["hw"] == hw) & (shapes["unit"] == "matrix"), "ridge_flop_per_byte"
            ].max()
        )
        # a line trace, not add_vline: on a log axis a shape's x is its log10
        latencies = v100_shapes["latency_s"] * 1e6
        figure.add_scatter(
            x=[ridge, ridge],
            y=[float(latencies.min()), float(latencies.max())],
            mode="lines",
            line={"dash": "dash"},
            name=f"{hw} matrix ridge ({ridge:.0f} FLOP/B)",
        )
    figure.update_layout(
        title="Arithmetic intensity of each op shape (V100; dashed: each device's ridge point)",
        xaxis={"type": "log", "title": "FLOP per DRAM byte"},
        yaxis={"type": "log", "title": "latency of all ops of the shape (µs)"},
    )
    v100 = frame[frame["hw"] == "v100"]
    below = v100[v100["below_ridge"]]
    time_below = float(below["latency_s"].sum()) / float(v100["latency_s"].sum())
    vector_all_below = bool(v100.loc[v100["unit"] != "matrix", "below_ridge"].all())
    sentence = (
        f"On the V100, {len(below)} of {len(v100)} computing ops sit below their unit's ridge "
        f"point and take {time_below:.0%} of the step"
        + ("; every op on the vector unit is among them." if vector_all_below else ".")
    )
    return Figure(
        "intensity",
        "Arithmetic intensity against the ridge point (phase 1, mixed precision)",
        sentence,
        shapes,
        figure,
    )


def amdahl_figure(run: Runner) -> Figure:
    """End-to-end speedup of a kx faster GEMM engine, k from 1 to ∞ (phase 1, mixed)."""
    import pandas as pd
    import plotly.graph_objects as go

    rows = []
    for hw in DEVICES:
        share = matrix_share(run(Point(hw, 128, 32, mixed_precision(hw))).by_category())
        for factor, speedup in zip(
            AMDAHL_FACTORS, amdahl_curve(share, AMDAHL_FACTORS), strict=True
        ):
            rows.append({"hw": hw, "matrix_share": share, "factor": factor, "speedup": speedup})
    frame = pd.DataFrame(rows)
    figure = go.Figure()
    for hw, group in frame.groupby("hw", sort=False):
        finite = group[group["factor"] != math.inf]
        figure.add_scatter(
            x=finite["factor"], y=finite["speedup"], mode="lines+markers", name=str(hw)
        )
    figure.update_layout(
        title="Amdahl bound: speedup of the step with a kx faster GEMM engine",
        xaxis={"type": "log", "title": "GEMM engine speedup k"},
        yaxis_title="end-to-end speedup",
    )
    v100 = frame[(frame["hw"] == "v100") & (frame["factor"] == math.inf)].iloc[0]
    sentence = (
        f"GEMMs are {v100['matrix_share']:.0%} of the V100 step; an infinitely fast GEMM engine "
        f"gives at most {v100['speedup']:.2f}x."
    )
    out = frame.assign(factor=frame["factor"].map(lambda k: "inf" if math.isinf(k) else k))
    return Figure("amdahl", "Amdahl bound of a faster GEMM engine", sentence, out, figure)


def whatif_figure(run: Runner) -> Figure:
    """What fusion and a near-memory unit buy, and what activation checkpointing costs."""
    import pandas as pd
    import plotly.graph_objects as go

    variants: dict[str, tuple[tuple[tuple[str, str], ...], bool]] = {
        "baseline (fused LAMB)": (tuple(BASE_WHATIFS.items()), False),
        "+ all fusion": ((("fusion", "all"),), False),
        "+ near-memory unit": ((*BASE_WHATIFS.items(), ("pim", "true")), False),
        "+ fusion + near-memory": ((("fusion", "all"), ("pim", "true")), False),
        "activation checkpointing": (tuple(BASE_WHATIFS.items()), True),
    }
    rows = []
    for hw in ("v100", "npu"):
        precision = mixed_precision(hw)
        base = run(Point(hw, 128, 32, precision))
        for name, (knobs, ckpt) in variants.items():
            result = run(Point(hw, 128, 32, precision, knobs, ckpt))
            footprint = result.summary().get("memory_footprint_bytes", {})
            rows.append(
                {
                    "hw": hw,
                    "variant": name,
                    "step_s": result.latency_s,
                    "speedup": base.latency_s / result.latency_s,
                    "memory_footprint_bytes": footprint.get("total", float("nan")),
                    "activation_bytes": footprint.get("activations", float("nan")),
                }
            )
    frame = pd.DataFrame(rows)
    figure = go.Figure()
    for hw, group in frame.groupby("hw", sort=False):
        figure.add_bar(name=str(hw), x=group["variant"], y=group["speedup"])
    figure.update_layout(
        barmode="group", title="Speedup over the baseline step", yaxis_title="speedup (x)"
    )
    v100 = frame[frame["hw"] == "v100"].set_index("variant")
    ckpt = v100.loc["activation checkpointing"]
    base = v100.loc["baseline (fused LAMB)"]
    saved = 1 - ckpt["activation_bytes"] / base["activation_bytes"]
    sentence = (
        f"On the V100, fusing the memory-bound operators speeds the step up "
        f"{v100.loc['+ all fusion', 'speedup']:.2f}x and adding a near-memory unit for them "
        f"{v100.loc['+ fusion + near-memory', 'speedup']:.2f}x; activation checkpointing costs "
        f"{1 / ckpt['speedup'] - 1:.0%} more time for {saved:.0%} "
        "less activation memory."
    )
    return Figure(
        "whatif", "Fusion, near-memory processing and checkpointing", sentence, frame, figure
    )


def communication_figure(run: Runner) -> Figure:
    """Communication share of a data-parallel step as the device count grows."""
    import pandas as pd
    import plotly.graph_objects as go

    from perfsim.parallel.data_parallel import DataParallel, data_parallel

    rows = []
    for hw in ("v100", "mi100"):
        result = run(Point(hw, 128, 32, mixed_precision(hw)))
        for devices in DEVICE_COUNTS:
            step = data_parallel(result, DataParallel(devices))
            summary = step.summary()
            collective = summary["by_category"].get("collective", {})
            rows.append(
                {
                    "hw": hw,
                    "devices": devices,
                    "step_s": summary["latency_s"],
                    "exposed_communication_s": summary.get("exposed_communication_s", 0.0),
                    "communication_s": collective.get("latency_s", 0.0),
                    "exposed_share": summary.get("exposed_communication_s", 0.0)
                    / summary["latency_s"],
                }
            )
    frame = pd.DataFrame(rows)
    figure = go.Figure()
    for hw, group in frame.groupby("hw", sort=False):
        figure.add_scatter(
            x=group["devices"], y=group["exposed_share"] * 100, mode="lines+markers", name=str(hw)
        )
    figure.update_layout(
        title="Exposed all-reduce time as a share of the data-parallel step",
        xaxis={"type": "log", "title": "devices"},
        yaxis_title="exposed communication (% of step)",
    )
    v100 = frame[frame["hw"] == "v100"]
    sentence = (
        f"On V100s, exposed gradient all-reduce grows from {v100['exposed_share'].iloc[1]:.1%} of "
        f"the step at {DEVICE_COUNTS[1]} devices to {v100['exposed_share'].iloc[-1]:.1%} at "
        f"{DEVICE_COUNTS[-1]}; the rest of the communication hides behind the backward pass."
    )
    return Figure(
        "communication", "Communication in data-parallel training", sentence, frame, figure
    )


def ivanov_classes(run: Runner) -> pd.DataFrame:
    """Ivanov et al.'s operator-class shares over the encoder layers' forward and backward
    ops (their scenario: V100, batch 8, sequence 512, unfused PyTorch), beside theirs."""
    import pandas as pd

    hw, seq, batch = IVANOV_SCENARIO
    result = run(Point(hw, seq, batch, "fp16", ()))
    frame = result.to_frame()
    layers = frame[(frame["layer"] >= 0) & frame["phase"].isin(("forward", "backward"))]
    shares = class_breakdown(layers, scaled_softmax_ops(result.graph))
    return pd.DataFrame(
        [
            {
                "class": name,
                "runtime_share": shares[name]["runtime_share"],
                "published_runtime_share": IVANOV_RUNTIME_SHARE[name],
                "flop_share": shares[name]["flop_share"],
                "published_flop_share": IVANOV_FLOP_SHARE[name],
            }
            for name in IVANOV_RUNTIME_SHARE
        ]
    )


def ivanov_figure(run: Runner) -> Figure:
    import plotly.graph_objects as go

    frame = ivanov_classes(run)
    figure = go.Figure()
    figure.add_bar(name="perfsim", x=frame["class"], y=frame["runtime_share"] * 100)
    figure.add_bar(
        name="Ivanov et al. 2021", x=frame["class"], y=frame["published_runtime_share"] * 100
    )
    figure.update_layout(barmode="group", title="Runtime share per operator class", yaxis_title="%")
    worst = float((frame["runtime_share"] - frame["published_runtime_share"]).abs().max())
    sentence = (
        "Tensor contractions, statistical normalizations and element-wise operators take "
        + ", ".join(f"{share:.1%}" for share in frame["runtime_share"])
        + " of the encoder layers' time in perfsim against "
        + ", ".join(f"{share:.1%}" for share in frame["published_runtime_share"])
        + f" measured by Ivanov et al. (largest gap {worst * 100:.1f} points)."
    )
    return Figure(
        "ivanov", "Operator classes against Ivanov et al. (MLSys 2021)", sentence, frame, figure
    )


FIGURES: Final[tuple[Callable[[Runner], Figure], ...]] = (
    breakdown_figure,
    batch_figure,
    seq_figure,
    intensity_figure,
    amdahl_figure,
    whatif_figure,
    communication_figure,
    ivanov_figure,
)

TITLE: Final = "Demystifying BERT with perfsim: BERT-large pre-training"
INTRO: Final = (
    "BERT-large pre-training with LAMB (phase 1: sequence 128, 32 sequences per device; "
    "phase 2: sequence 512, 8 per device) on the MI100, V100 and NPU hardware files, "
    "roofline engine, optimizer fused as NVIDIA apex's FusedLAMB; after Pati et al., "
    "'Demystifying BERT: Implications for Accelerator Design' (arXiv 2104.08335)."
)


def run_study(
    *,
    store: GraphStore | None = None,
    progress: Callable[[str], None] | None = None,
    figures: Iterable[Callable[[Runner], Figure]] = FIGURES,
) -> list[Figure]:
    """Every figure of the study, in order."""
    runner = Runner(store=store, progress=progress)
    return [make(runner) for make in figures]
