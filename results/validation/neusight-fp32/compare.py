"""fp32 ``nn.Linear`` GEMMs measured by NeuSight's authors on four of the GPUs perfsim ships
(A100 PCIe 40GB, V100 PCIe 32GB, T4, H100 80GB HBM3) against both engines: latency, and the
tile cuBLAS chose against the one perfsim's library heuristic chooses.

    python results/validation/neusight-fp32/compare.py

``linear.csv`` is an extract of sitar-lab/NeuSight @6945927d (MIT license, (c) 2025 Georgia
Institute of Technology and Microsoft Corporation), ``scripts/asplos/data/dataset/test/
linear.csv``: its rows for those four GPUs (1,040 each), with the tile parsed from the
profiled cuBLAS kernel's name (``ampere_sgemm_128x64_tn``, ``..._tilesize64x64x8_...``) and
its grid. NeuSight timed ``torch.nn.Linear(bias=True)`` on fp32 ``torch.randn`` inputs with
CUDA events, the mean of the 5 fastest of 25 calls (PyTorch 2.1.0, CUDA 12.1,
``neusight/Dataset/collect.py``); ``tokens`` x ``in_features`` activations, ``out_features``
outputs. These are checks, not inputs. The A100 rows ran on the 250 W PCIe card;
``a100.yaml`` is the 400 W SXM4 part (same SMs, clocks and 1,555 GB/s), so its rows ignore
the PCIe card's lower power limit. Writes ``compare.csv`` and ``summary.md``.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pandas as pd

from perfsim.engines import get_cost_model
from perfsim.engines.power import sustained_costs
from perfsim.hardware import resolve_hardware
from perfsim.ir import Category, OpNode, TensorSpec

HERE = Path(__file__).resolve().parent
ENGINES = ("roofline", "cycle")
# CUDA events bracket each call, so a short kernel's interval also holds the host's launch
# of it (the GPU reaches the end event only after the kernel arrives): under this the
# measurement is not the kernel's device time, and the summary keeps those rows apart
SHORT_MS = 0.2


def linear_op(tokens: int, in_features: int, out_features: int) -> OpNode:
    """fp32 ``F.linear`` with a bias, counted by hand (the bias rides in the epilogue)."""
    return OpNode(
        name="linear",
        category=Category.GEMM,
        target="aten.addmm.default",
        scope="",
        layer=-1,
        phase="forward",
        inputs=(
            TensorSpec((out_features,), "fp32"),
            TensorSpec((tokens, in_features), "fp32"),
            TensorSpec((in_features, out_features), "fp32"),
        ),
        outputs=(TensorSpec((tokens, out_features), "fp32"),),
        dims={"b": 1, "m": tokens, "n": out_features, "k": in_features},
        macs=tokens * in_features * out_features,
        flops=2 * tokens * in_features * out_features,
        bytes_read=(out_features + tokens * in_features + in_features * out_features) * 4,
        bytes_written=tokens * out_features * 4,
    )


def compare(measured: pd.DataFrame) -> pd.DataFrame:
    """One row per measurement: the engines' kernel time (at the sustained clock under the
    part's power limit, `perfsim.engines.power`), its error, and the tile each engine
    chose (``m x n`` of the output tile) against cuBLAS's."""
    parts = {name: resolve_hardware(name) for name in dict.fromkeys(measured["hw"])}
    rows = []
    for case in measured.itertuples(index=False):
        op = linear_op(case.tokens, case.in_features, case.out_features)
        row = case._asdict()
        for engine in ENGINES:
            # run back to back, as the measurements were: at the clock the power limit allows
            (cost,) = sustained_costs([op], [1], parts[case.hw], get_cost_model(engine))
            kernel_s = cost.kernel_s if cost.kernel_s is not None else cost.latency_s
            row[f"{engine}_ms"] = round(kernel_s * 1e3, 5)
            row[f"{engine}_error"] = round(kernel_s * 1e3 / case.measured_ms - 1, 3)
            tile = (cost.details.get("tile_m"), cost.details.get("tile_n"))
            row[f"{engine}_tile"] = f"{tile[0]:.0f}x{tile[1]:.0f}" if None not in tile else ""
        rows.append(row)
    return pd.DataFrame(rows)


def same_tile(cublas: str, ours: str) -> bool:
    """The same tile up to orientation (cuBLAS names it column-major)."""
    return bool(ours) and sorted(cublas.split("x")) == sorted(ours.split("x"))


def summary(frame: pd.DataFrame) -> str:
    lines = [
        "# fp32 Linear GEMMs (NeuSight's measurements) against perfsim",
        "",
        "    python results/validation/neusight-fp32/compare.py",
        "",
        "Error: predicted kernel time / measured - 1 (negative: the model is too fast); the",
        "table gives the median and worst absolute error, the median signed error, and how",
        "often the engine's tile is the one cuBLAS ran (up to orientation).",
        "",
        "Rows measured under 0.2 ms hold the host's launch of the kernel as well (CUDA events",
        "bracket each call): they are listed apart and are not device time.",
        "",
        "| part | measured | cases | roofline: median | worst | signed | same tile | cycle: median "
        "| worst | signed | same tile |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for part, short in [(p, s) for p in dict.fromkeys(frame["hw"]) for s in (False, True)]:
        mine = frame[(frame["hw"] == part) & ((frame["measured_ms"] < SHORT_MS) == short)]
        if mine.empty:
            continue
        cells = [str(len(mine))]
        for engine in ENGINES:
            errors = mine[f"{engine}_error"]
            pairs = zip(mine["cublas_tile"], mine[f"{engine}_tile"], strict=True)
            tiles = [same_tile(cublas, ours) for cublas, ours in pairs]
            cells += [
                f"{statistics.median(errors.abs()):.0%}",
                f"{errors.abs().max():.0%}",
                f"{statistics.median(errors):+.0%}",
                f"{sum(tiles) / len(tiles):.0%}",
            ]
        size = f"< {SHORT_MS} ms" if short else f">= {SHORT_MS} ms"
        lines.append(f"| {part} | {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    frame = compare(pd.read_csv(HERE / "linear.csv"))
    frame.to_csv(HERE / "compare.csv", index=False)
    (HERE / "summary.md").write_text(summary(frame))
    print(summary(frame))


if __name__ == "__main__":
    main(sys.argv[1:])
