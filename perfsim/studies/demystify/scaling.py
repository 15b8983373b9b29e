"""demystify-bert figures beyond one device's step: what-if knobs, data-parallel
communication, and the operator classes of Ivanov et al."""

from __future__ import annotations

from typing import TYPE_CHECKING

from perfsim.studies.analysis import (
    class_breakdown,
    scaled_softmax_ops,
)
from perfsim.studies.report import Figure

if TYPE_CHECKING:
    import pandas as pd


from perfsim.studies.demystify.points import (
    BASE_WHATIFS,
    DEVICE_COUNTS,
    IVANOV_FLOP_SHARE,
    IVANOV_RUNTIME_SHARE,
    IVANOV_SCENARIO,
    Point,
    Runner,
    mixed_precision,
)


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
