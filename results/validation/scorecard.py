"""One page of how close perfsim is to real hardware, made from the committed check files.

    python results/validation/scorecard.py      # writes results/validation/scorecard.md

Every figure is read from a CSV that another command beside it regenerates (named in each
row's "made by" column); nothing here is typed in by hand, so the page cannot drift from
the checks (`tests/test_scorecard.py` regenerates it and compares). Error is predicted /
measured - 1 for times (negative: the model is too fast) and predicted / published - 1 for
rates (positive: the model is too fast); aims are those of issues 12 and 13.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "scorecard.md"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the page: what was compared, the aim, and each engine's error(s)."""

    check: str
    aim: str
    roofline: str
    cycle: str
    verdict: str
    made_by: str


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def pct(error: float) -> str:
    """A signed percentage, one decimal: ``-0.1594`` -> ``-15.9%``."""
    return f"{error * 100:+.1f}%"


def spread(errors: Sequence[float]) -> str:
    """``median |e| / worst e`` of a set of errors."""
    worst = max(errors, key=abs)
    return f"{statistics.median(abs(e) for e in errors) * 100:.0f}% / {pct(worst)}"


def verdict(errors: Iterable[float], within: float) -> str:
    """``met`` when every error is within ``within`` (a fraction), else ``missed``."""
    return "met" if all(abs(e) <= within for e in errors) else "missed"


def spread_verdict(errors: Sequence[float], median_aim: float, worst_aim: float) -> str:
    median = statistics.median(abs(e) for e in errors)
    worst = max(abs(e) for e in errors)
    return "met" if median <= median_aim and worst <= worst_aim else "missed"


def tensorrt_study() -> list[Check]:
    """The study's eight TensorRT A100 rows, each against its aim."""
    made_by = "`perfsim study published-inference`"
    rows = read(ROOT / "results/studies/published-inference/published_inference.csv")
    checks = []
    for row in rows:
        batched = int(row["batch"]) > 1
        within = 0.15 if batched else 0.25
        errors = (float(row["error_pct"]) / 100, float(row["error_cycle_pct"]) / 100)
        checks.append(
            Check(
                f"TensorRT 8.4 A100 {row['model']} s{row['seq']} b{row['batch']} "
                f"{row['precision']}",
                f"within {within:.0%}",
                pct(errors[0]),
                pct(errors[1]),
                f"{verdict(errors[:1], within)} / {verdict(errors[1:], within)}",
                made_by,
            )
        )
    return checks


def _regime(batch: int) -> str:
    return "batch 1" if batch == 1 else ("batch 2-4" if batch < 8 else "batch >= 8")


def tensorrt_tables() -> list[Check]:
    """Every TensorRT 8.4 row (A100 and T4), by part and batch regime: median / worst."""
    rows = read(HERE / "tensorrt-8.4/compare.csv")
    aims = {"batch 1": (0.25, 1.0), "batch >= 8": (0.15, 0.30)}
    checks = []
    for part in dict.fromkeys(row["hw"] for row in rows):
        for regime in ("batch 1", "batch 2-4", "batch >= 8"):
            chosen = [r for r in rows if r["hw"] == part and _regime(int(r["batch"])) == regime]
            roofline = [float(r["roofline_error"]) for r in chosen]
            cycle = [float(r["cycle_error"]) for r in chosen]
            if regime in aims:
                median_aim, worst_aim = aims[regime]
                aim = f"median {median_aim:.0%}" + (
                    f", worst {worst_aim:.0%}" if worst_aim < 1 else ""
                )
                found = (
                    f"{spread_verdict(roofline, median_aim, worst_aim)} / "
                    f"{spread_verdict(cycle, median_aim, worst_aim)}"
                )
            else:
                aim, found = "-", "-"
            checks.append(
                Check(
                    f"TensorRT 8.4 {part}, all {len(chosen)} rows at {regime}",
                    aim,
                    spread(roofline),
                    spread(cycle),
                    found,
                    "`python results/validation/tensorrt-8.4/compare.py`",
                )
            )
    return checks


def eager_gpus() -> list[Check]:
    """Eager PyTorch fp32 BERT on the H100 and H200, re-costed with the datasheet files."""
    checks = []
    for part in ("h100", "h200"):
        rows = read(HERE / f"gpu-{part}/recost-summary-h100yaml.csv")
        for batched in (True, False):
            chosen = [r for r in rows if (int(r["batch"]) > 1) == batched]
            errors = [float(r["error"]) for r in chosen]
            within = 0.20 if batched else 0.30
            checks.append(
                Check(
                    f"eager fp32 BERT on the {part.upper()}, {'batched' if batched else 'batch 1'}"
                    f" ({len(chosen)} cases)",
                    f"each within {within:.0%}",
                    spread(errors),
                    "-",
                    verdict(errors, within),
                    "`python results/validation/recost.py`",
                )
            )
    return checks


METRIC_NAMES = {"throughput_samples_per_s": "sequences/s", "total_time_s": "time to train"}


def training() -> list[Check]:
    """Every published training figure, both engines."""
    by_engine = {
        engine: {
            (r["schedule"], r["phase"], r["metric"]): float(r["error"])
            for r in read(HERE / f"training/{engine}/validation.csv")
        }
        for engine in ("roofline", "cycle")
    }
    checks = []
    for key, roofline in by_engine["roofline"].items():
        if key[2] not in METRIC_NAMES:
            continue  # the FLOP/s rows restate the throughput rows
        cycle = by_engine["cycle"][key]
        schedule, phase, metric = key
        checks.append(
            Check(
                f"training: {schedule} {phase} ({METRIC_NAMES[metric]})",
                "within 20%",
                pct(roofline),
                pct(cycle),
                f"{verdict([roofline], 0.2)} / {verdict([cycle], 0.2)}",
                "`perfsim train` (command in training/README.md)",
            )
        )
    return checks


def host_cpu() -> list[Check]:
    """The latest host-CPU runs: one calibration, each validate run against its median pass."""
    folder = max(HERE.glob("host-2threads-s*"), key=lambda p: int(p.name.rsplit("-s", 1)[1]))
    checks = []
    runs = [p for p in folder.iterdir() if (p / "validation.csv").exists()]
    # the 17-case runs first, in order; other case sets after them
    for run in sorted(runs, key=lambda p: (not p.name.startswith("roofline"), p.name)):
        errors = [float(r["error"]) for r in read(run / "validation.csv")]
        checks.append(
            Check(
                f"this host (2 vCPUs), {folder.name}/{run.name} ({len(errors)} cases)",
                "median 10%, worst 25%",
                spread(errors),
                "-",
                spread_verdict(errors, 0.10, 0.25),
                f"`perfsim calibrate`, `perfsim validate` ({folder.name})",
            )
        )
    return checks


def _long_rows_by(
    rows: Sequence[dict[str, str]], key: str, title: Callable[[str, int], str], made_by: str
) -> list[Check]:
    """One check per value of ``key``: its rows measured at 0.2 ms or more (under that a
    kernel's timing holds its host launch), median |error| / worst error per engine."""
    checks = []
    for group in dict.fromkeys(r[key] for r in rows):
        chosen = [r for r in rows if r[key] == group and float(r["measured_ms"]) >= 0.2]
        checks.append(
            Check(
                title(group, len(chosen)),
                "-",
                spread([float(r["roofline_error"]) for r in chosen]),
                spread([float(r["cycle_error"]) for r in chosen]),
                "-",
                f"`{made_by}`",
            )
        )
    return checks


def informational() -> list[Check]:
    """Published kernel-level checks without an issue aim: medians per part."""
    checks = _long_rows_by(
        read(HERE / "neusight/compare-linear.csv"),
        "hw",
        lambda part, n: f"NeuSight fp32 nn.Linear on {part} ({n} GEMMs >= 0.2 ms)",
        "python results/validation/neusight/compare.py",
    )
    checks += _long_rows_by(
        read(HERE / "llmcompass/compare.csv"),
        "kind",
        lambda kind, n: f"LLMCompass A100 80GB SXM {kind} ({n} rows >= 0.2 ms)",
        "python results/validation/llmcompass/compare.py",
    )
    for name, title, column in (
        ("compare-gemm", "H200 graph-replayed GEMMs", "error"),
        ("compare-attention", "H200 attention kernels", "error"),
        ("compare-inference", "H200 eager / graphed inference, kernels only", "kernel_error"),
        ("compare-training", "H200 eager training steps, kernels only", "kernel_error"),
    ):
        rows = read(HERE / f"gpu-h200-checks/{name}.csv")
        checks.append(
            Check(
                f"{title} ({len(rows)} rows)",
                "-",
                spread([float(r[f"roofline_{column}"]) for r in rows]),
                spread([float(r[f"cycle_{column}"]) for r in rows]),
                "-",
                "`python results/validation/gpu-h200-checks/compare.py`",
            )
        )
    return checks


# Where a verdict alone would mislead: an engine that meets an aim while the other errs the
# other way is not corroborated (the guide's rule: agreement by cancellation is a miss).
NOTES: dict[str, str] = {
    "The eight TensorRT A100 rows (issue 12)": (
        "Predicted as the benchmark's engines ran: every fusion, Q, K and V as one GEMM "
        "(the `qkv` pass, as TensorRT's builder concatenates them) and the fixed-length "
        "attention plugin's grid (`attention_kernel=per_head`: one CTA per sequence and "
        "head, 16 of the A100's 108 SMs at BERT-large batch 1); the int8 rows with their "
        "activations stored in int8 between kernels (`quant=int8-io`, the benchmark's "
        "`builder.py -iln -imh`), replayed from a CUDA graph (`--runtime cuda_graph`: the "
        "benchmark times `build/perf --enable_graph`; session 16), the graph's launch "
        "call inside the timed window (its start event is recorded before the call; "
        "CUDA 11.x: 2 us + 0.2 us per node, session 20). The batch-1 rows are the launch "
        "and the kernels' device time and too fast by 34-45%: until session 16 an engine "
        "runtime's 5 us host floor per kernel stood in for device time the model lacks, and "
        "the bert-base int8 row 'met' its aim (-21%) only by that cancellation; the "
        "published int8 and fp16 times differ at batch 1, so the device, not the host, "
        "bounds them (README.md, session 16). The batched int8 rows sat at +2% only because "
        "their activations moved at two bytes (session 15): int8 and fp16 rows now err the "
        "same way, too fast."
    ),
    "Training runs as published (issue 12)": (
        "Both engines are too fast on the MLPerf v0.7 TPUv3 steps since session 15 (the "
        "MXUs load each fold's weights while the fold before streams, as the scaling book "
        "describes them; before, the cycle engine's -14.5% bracketed the roofline's +25%), "
        "and on the LAMB paper's wall-clock times. Since session 18 the LAMB rows run as "
        "google-research/bert runs on a TPU (an fp32 model, its matmuls one bf16 pass on "
        "the MXUs, the word embeddings a one-hot product): the pod -48.6% -> -31.4% (cycle); "
        "two more rows of the paper's Table 1, 16 chips (-28.9%) and 32k on the pod "
        "(-45.5%), show the 2019 code's steps slower than the model on 16 chips as on 1024, "
        "and a 32k pod step 1.3x a 16-chip one at the same 32 sequences a chip, which "
        "perfsim's collectives (2.7 ms exposed) do not reproduce (training/README.md, "
        "sessions 13 and 18). Since session 16 the GPU runs fuse "
        "what their codes fuse: MLPerf v1.0 its attention as apex's fmhalib (all 512 keys, "
        "probabilities stored) and nothing into GEMM epilogues or LayerNorms (its log's "
        "fused_dropout_add=False), +29% -> +20% against the log's 2,193 sequences/s, "
        "+27% against the 2,069 it trained a second (the 2,193 counts max_steps, not the "
        "6,697 steps the run took), +22% (cycle) since session 19 with its 20 evaluations "
        "of 10,000 sequences in the run's clock, as MLPerf times it, and its A100's "
        "measured DRAM latency; DeepSpeed bias + dropout + residual in one "
        "kernel, -6.5 / +4.5% -> -13.2 / -3.8% (the over-fusion had hidden part of the "
        "model's slowness). The MLPerf v0.7 DGX-1 run processed fewer tokens a second per "
        "V100 than "
        "DeepSpeed's published V100 run, which the model matches; its host synchronizations "
        "inside every attention layer add only 4% in a timeline experiment (README.md, "
        "session 16). The same v0.7 code on a DGX A100 (session 16) is +56% where v1.0's "
        "code on A100s is +22%: the miss follows the v0.7 unpadded attention path, not the "
        "V100; its per-sequence kernel launches are priced (sequence_kernels=per_sequence), "
        "its 16 streams, host synchronizations and Python loops over the sequences are not. "
        "Session 17 checks a plain PyTorch code base as it runs (DeepLearningExamples 20.06 "
        "on one A100 and one V100: eager attention, apex amp O2, the FFN's GELU as eager erf "
        "operators; tf32 as a precision; the gradient-accumulation adds): -8.9% to +9.5% "
        "on all ten rows, "
        "where a single-kernel GELU reads +16 to +36%; with GEMMs some 60% of those steps, "
        "at most some 10 points of MLPerf v1.0's miss can be the A100's GEMM rates "
        "(training/README.md, session 17)."
    ),
    "Every TensorRT 8.4 row, A100 and T4 (issue 12's wider published set, our proxy)": (
        "The T4 is described from its datasheet and published figures alone; its modelled "
        "power-capped fp16 GEMM rate is above NVIDIA's published ~24 TFLOP/s (power.md), "
        "the same direction as its batched rows' miss."
    ),
}

SECTIONS: tuple[tuple[str, Callable[[], list[Check]]], ...] = (
    ("The eight TensorRT A100 rows (issue 12)", tensorrt_study),
    (
        "Every TensorRT 8.4 row, A100 and T4 (issue 12's wider published set, our proxy)",
        tensorrt_tables,
    ),
    ("Eager PyTorch on H100 / H200, datasheet files (issue 12)", eager_gpus),
    ("Training runs as published (issue 12)", training),
    ("This host's CPU after one `perfsim calibrate` (issue 13)", host_cpu),
    ("Kernel-level checks without an aim", informational),
)


def render() -> str:
    lines = [
        "# How close perfsim is to real hardware",
        "",
        "    python results/validation/scorecard.py",
        "",
        "Made from the committed check files, each regenerated by the command in its last",
        "column. Errors: predicted / measured - 1 for times (negative: the model is too fast),",
        "predicted / published - 1 for rates (positive: too fast); `a / b` in a cell is median",
        "|error| / worst error. Verdicts: roofline / cycle. Energy and power checks:",
        "`power.md`. What each miss is and is not explained by: `README.md` (one section per",
        "session) and `training/README.md`. Issue 12's aims still missed need measurements of",
        "parts this project is not lent (an A100, a T4, a TPU pod): what would settle each,",
        "`README.md`, session 23.",
    ]
    for title, make in SECTIONS:
        lines += ["", f"## {title}", "", "| check | aim | roofline | cycle | verdict | made by |"]
        lines.append("|---|---|---:|---:|---|---|")
        for c in make():
            lines.append(
                f"| {c.check} | {c.aim} | {c.roofline} | {c.cycle} | {c.verdict} | {c.made_by} |"
            )
        if title in NOTES:
            lines += ["", NOTES[title]]
    return "\n".join(lines) + "\n"


def main() -> None:
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
