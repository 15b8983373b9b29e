"""Every row of NVIDIA's published TensorRT 8.4.3 BERT tables for the A100 40GB and the T4
against perfsim (roofline and cycle engine, every fusion on, the kernels replayed from a
CUDA graph as the benchmark's ``build/perf --enable_graph`` times them), as
`perfsim study published-inference` runs its eight cases per part.

    python results/validation/tensorrt-8.4/compare.py

Source of every measured figure: NVIDIA/TensorRT ``demo/BERT/README.md`` (TensorRT 8.4.3,
CUDA 11.6), sections "Inference performance: NVIDIA A100 (40GB)" and "... NVIDIA T4
(16GB)", the "Average" latency columns (ms), BERT Base and BERT Large, sequence lengths 128
and 384, batch sizes 1-128, INT8 (TensorRT's --int8 --fp16: perfsim's int8 policy) and
FP16. These are checks: no hardware figure was taken from them. Writes ``compare.csv``
(one row per published case) and ``summary.md`` (median and worst |error| per part and
batch regime, the aims of issue 12: batched median 15% / worst 30%, batch 1 median 25%).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pandas as pd

from perfsim.cache import GraphStore
from perfsim.studies.published import PUBLISHED, PUBLISHED_T4, PublishedLatency, predict

HERE = Path(__file__).resolve().parent
BATCHES = (1, 2, 4, 8, 12, 16, 24, 32, 64, 128)
# (part, model, seq): (int8 averages, fp16 averages) in ms, one per batch in BATCHES
TABLES: dict[tuple[str, str, int], tuple[tuple[float, ...], tuple[float, ...]]] = {
    ("a100", "bert-base", 128): (
        (0.58, 0.62, 0.77, 0.95, 1.22, 1.37, 1.84, 2.27, 4.20, 8.18),
        (0.67, 0.83, 1.02, 1.38, 1.87, 2.18, 3.34, 4.10, 8.05, 16.14),
    ),
    ("a100", "bert-base", 384): (
        (1.15, 1.33, 1.69, 2.22, 3.36, 4.10, 5.80, 7.74, 15.16, 29.34),
        (1.31, 1.64, 2.31, 3.62, 5.03, 6.72, 9.79, 13.51, 26.11, 51.26),
    ),
    ("a100", "bert-large", 128): (
        (1.25, 1.47, 1.82, 2.71, 3.10, 4.02, 5.32, 7.09, 13.09, 25.45),
        (1.64, 2.05, 2.97, 4.51, 5.26, 7.75, 10.10, 13.85, 26.20, 51.61),
    ),
    ("a100", "bert-large", 384): (
        (2.81, 3.06, 4.03, 7.16, 9.25, 12.51, 17.88, 23.17, 45.40, 89.01),
        (3.12, 4.15, 5.96, 11.53, 16.22, 21.92, 32.43, 43.01, 83.63, 163.70),
    ),
    ("t4", "bert-base", 128): (
        (1.69, 1.82, 2.63, 4.66, 6.55, 9.37, 13.62, 18.93, 36.54, 73.15),
        (1.95, 2.71, 4.53, 9.09, 12.53, 17.90, 26.86, 36.63, 72.04, 144.20),
    ),
    ("t4", "bert-base", 384): (
        (2.52, 3.98, 7.43, 14.56, 21.81, 28.79, 44.40, 58.41, 120.95, 242.14),
        (4.04, 6.61, 13.02, 27.81, 41.82, 55.31, 84.11, 114.90, 227.73, 458.76),
    ),
    ("t4", "bert-large", 128): (
        (3.65, 4.98, 8.57, 14.56, 22.64, 30.11, 47.33, 60.01, 119.67, 241.11),
        (5.53, 8.22, 15.47, 28.14, 44.94, 57.73, 90.51, 121.09, 241.35, 482.84),
    ),
    ("t4", "bert-large", 384): (
        (7.29, 12.17, 24.23, 49.24, 69.52, 92.83, 140.97, 186.60, 376.93, 755.50),
        (12.45, 22.80, 46.21, 92.92, 139.28, 185.85, 280.74, 370.87, 741.74, 1518.35),
    ),
}
REGIMES = (
    ("batch 1", lambda b: b == 1),
    ("batch 2-4", lambda b: 1 < b < 8),
    ("batch >= 8", lambda b: b >= 8),
)


def cases() -> list[PublishedLatency]:
    """Every published row, as the study's cases."""
    rows = []
    for (part, model, seq), (int8, fp16) in TABLES.items():
        for batch, a, b in zip(BATCHES, int8, fp16, strict=True):
            rows.append(PublishedLatency(model, seq, batch, "int8", a * 1e-3, part))
            rows.append(PublishedLatency(model, seq, batch, "fp16", b * 1e-3, part))
    return rows


def compare(store: GraphStore) -> pd.DataFrame:
    rows = []
    for case in cases():
        row: dict[str, object] = {
            "hw": case.hw,
            "model": case.model,
            "seq": case.seq,
            "batch": case.batch,
            "precision": case.precision,
            "published_ms": round(case.latency_s * 1e3, 3),
        }
        for engine in ("roofline", "cycle"):
            latency = predict(case, store=store, engine=engine).latency_s
            row[f"{engine}_ms"] = round(latency * 1e3, 3)
            row[f"{engine}_error"] = round(latency / case.latency_s - 1, 3)
        rows.append(row)
    return pd.DataFrame(rows)


def summary(frame: pd.DataFrame) -> str:
    lines = [
        "# TensorRT 8.4.3 BERT tables (A100 40GB, T4) against perfsim",
        "",
        "    python results/validation/tensorrt-8.4/compare.py",
        "",
        "Error: predicted / published - 1 (negative: the model is too fast); the table gives",
        "the median and worst absolute error. Every row of both parts' tables",
        "(`compare.csv`); checks, not inputs.",
        "",
        "| part | regime | cases | roofline: median | worst | cycle: median | worst |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for part in dict.fromkeys(frame["hw"]):
        for name, chosen in REGIMES:
            mine = frame[(frame["hw"] == part) & frame["batch"].map(chosen)]
            cells = [str(len(mine))]
            for engine in ("roofline", "cycle"):
                errors = [abs(e) for e in mine[f"{engine}_error"]]
                cells += [f"{statistics.median(errors):.0%}", f"{max(errors):.0%}"]
            lines.append(f"| {part} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def check_study_cases() -> None:
    """`perfsim study published-inference` holds 16 of these rows as its own copy: they
    must be the same figures."""
    table = {(c.hw, c.model, c.seq, c.batch, c.precision): c.latency_s for c in cases()}
    for case in (*PUBLISHED, *PUBLISHED_T4):
        key = (case.hw, case.model, case.seq, case.batch, case.precision)
        if abs(table[key] / case.latency_s - 1) > 1e-9:
            raise SystemExit(f"perfsim/studies/published.py: {case.label} differs from {key}")


def main(argv: list[str]) -> None:
    check_study_cases()
    frame = compare(GraphStore())
    frame.to_csv(HERE / "compare.csv", index=False)
    (HERE / "summary.md").write_text(summary(frame))
    print(summary(frame))


if __name__ == "__main__":
    main(sys.argv[1:])
