"""demystify-bert figures of the step itself: breakdowns over phases, batch and sequence,
operator intensity, and Amdahl's law over the GEMM share."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from perfsim.studies.analysis import (
    amdahl_curve,
    matrix_share,
    op_intensity,
)
from perfsim.studies.report import Figure

if TYPE_CHECKING:
    import pandas as pd


from perfsim.studies.demystify.points import (
    AMDAHL_FACTORS,
    BATCH_SWEEP,
    DEVICES,
    PHASES,
    SEQ_SWEEP,
    Point,
    Runner,
    breakdown_rows,
    mixed_precision,
    optimizer_share,
    stacked_bar,
    top_categories,
)


def breakdown_figure(run: Runner) -> Figure:
    """Runtime breakdown by category: both phases, fp32 and mixed precision, each device."""
    points = {
        f"{hw} {precision} s{seq}": Point(hw, seq, batch, precision)
        for hw in DEVICES
        for precision in ("fp32", mixed_precision(hw))
        for seq, batch in PHASES
    }
    frame = breakdowns(run, points)
    v100 = run(Point("v100", 128, 32, "fp16"))
    (first, first_share), (second, second_share) = top_categories(v100)
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
        stacked_bar(
            frame, "case", "Share of the training step per category", "device, precision, phase"
        ),
    )


def breakdowns(run: Runner, points: dict[str, Point]) -> pd.DataFrame:
    """Per-category rows of each labelled point, in order."""
    import pandas as pd

    rows = []
    for label, point in points.items():
        rows += breakdown_rows(point, run(point), case=label)
    return pd.DataFrame(rows)


def batch_figure(run: Runner) -> Figure:
    """How the breakdown moves with the per-device batch (phase 1, mixed precision, V100)."""
    points = {f"batch {batch}": Point("v100", 128, batch, "fp16") for batch in BATCH_SWEEP}
    frame = breakdowns(run, points)
    small = optimizer_share(run(points[f"batch {BATCH_SWEEP[0]}"]))
    large = optimizer_share(run(points[f"batch {BATCH_SWEEP[-1]}"]))
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
        stacked_bar(
            frame, "case", "Share of the step against per-device batch", "per-device batch"
        ),
    )


def seq_figure(run: Runner) -> Figure:
    """How the breakdown moves with sequence length (batch 8, mixed precision, V100)."""
    points = {f"seq {seq}": Point("v100", seq, 8, "fp16") for seq in SEQ_SWEEP}
    frame = breakdowns(run, points)

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
        stacked_bar(frame, "case", "Share of the step against sequence length", "sequence length"),
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
