"""The demystify-bert study's scenario: its constants, its costed points, and the
helpers its figures share."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from perfsim.cache import GraphStore
from perfsim.scenario import Scenario, TrainingOptions

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


def breakdown_rows(point: Point, result: Result, **extra: Any) -> list[dict[str, Any]]:
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


def top_categories(result: Result, n: int = 2) -> list[tuple[str, float]]:
    shares = {name: row["share"] for name, row in result.by_category().items()}
    return sorted(shares.items(), key=lambda item: -item[1])[:n]


def optimizer_share(result: Result) -> float:
    return result.by_category().get("optimizer", {}).get("share", 0.0)


def stacked_bar(frame: pd.DataFrame, x: str, title: str, x_title: str) -> Any:
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
