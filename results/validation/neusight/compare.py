"""fp32 kernels measured by NeuSight's authors on GPUs perfsim ships, against both engines:
``nn.Linear`` GEMMs on the A100 PCIe 40GB, V100 PCIe 32GB, T4 and H100 80GB HBM3 (latency,
and the tile cuBLAS chose against the one perfsim's library heuristic chooses), and
LayerNorm, softmax and element-wise kernels on the first three.

    python results/validation/neusight/compare.py

``linear.csv`` and ``vector.csv`` are extracts of sitar-lab/NeuSight @6945927d (MIT
license, (c) 2025 Georgia Institute of Technology and Microsoft Corporation),
``scripts/asplos/data/dataset/test/{linear,ln,softmax,elem}.csv``: their rows for those
GPUs (the GEMMs with the tile parsed from the profiled cuBLAS kernel's name,
``ampere_sgemm_128x64_tn``, ``..._tilesize64x64x8_...``, and its grid; the vector ops
``torch.nn.LayerNorm(H)``, ``torch.nn.Softmax()`` over the last axis, ``torch.add``,
``torch.mul``, ``nn.ReLU``, ``nn.GELU`` on a ``rows`` x ``columns`` tensor). NeuSight
timed each on fp32 ``torch.randn`` inputs with CUDA events, the mean of the 5 fastest of
25 calls (PyTorch 2.1.0, CUDA 12.1, ``neusight/Dataset/collect.py``). The GEMMs and the
element-wise kernels are checks; two things are taken from them as inputs: the T4's
``gddr6.achievable`` (its torch.add rate, a STREAM-class figure as the other files' are)
and each part's ``compute.vector.stream_efficiency`` (the median LayerNorm and softmax
rates, so their rows agree by construction). The A100 rows ran on the 250 W PCIe card;
``a100.yaml`` is the 400 W SXM4 part (same SMs, clocks and 1,555 GB/s), so its rows ignore
the PCIe card's lower power limit.

``bmm.csv`` (session 12) is the same extract's attention-shaped ``torch.bmm`` rows
(``scripts/asplos/data/dataset/test/bmm.csv``: batched fp32 products with one side 64
wide, a head dimension: Q Kᵀ as ``m x 64 x n``, P V as ``m x n x 64``) on the same four
parts, those measured at 0.2 ms or more (device time, not the host's launch): 963 rows,
a check of batched GEMMs as eager PyTorch runs an unfused attention. Writes
``compare-linear.csv``, ``compare-bmm.csv``, ``compare-vector.csv`` and ``summary.md``.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from perfsim.counting import count_bytes, count_flops
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


# NeuSight's op names -> (category, aten op, binary?)
VECTOR_OPS = {
    "ln": (Category.LAYERNORM, "native_layer_norm", False),
    "softmax": (Category.SOFTMAX, "_softmax", False),
    "add": (Category.ELEMENTWISE, "add", True),
    "mul": (Category.ELEMENTWISE, "mul", True),
    "relu": (Category.ELEMENTWISE, "relu", False),
    "gelu": (Category.GELU, "gelu", False),
}


def vector_op(name: str, rows: int, columns: int) -> OpNode:
    """One fp32 vector kernel over a ``rows`` x ``columns`` tensor, counted by perfsim's
    own rules (`perfsim.counting`); LayerNorm reads its weight and bias and writes each
    row's mean and reciprocal deviation as well."""
    category, base, binary = VECTOR_OPS[name]
    tensor = TensorSpec((rows, columns), "fp32")
    inputs: tuple[TensorSpec, ...] = (tensor, tensor) if binary else (tensor,)
    outputs: tuple[TensorSpec, ...] = (tensor,)
    if category == Category.LAYERNORM:
        inputs += (TensorSpec((columns,), "fp32"), TensorSpec((columns,), "fp32"))
        outputs += (TensorSpec((rows, 1), "fp32"), TensorSpec((rows, 1), "fp32"))
    macs, flops = count_flops(category, base, inputs, outputs, {})
    bytes_read, bytes_written = count_bytes(category, base, inputs, outputs)
    return OpNode(
        name=name,
        category=category,
        target=f"aten.{base}.default",
        scope="",
        layer=-1,
        phase="forward",
        inputs=inputs,
        outputs=outputs,
        dims={},
        macs=macs,
        flops=flops,
        bytes_read=bytes_read,
        bytes_written=bytes_written,
    )


def compare_vector(measured: pd.DataFrame) -> pd.DataFrame:
    """One row per vector measurement: the engines' kernel time and error, and the DRAM
    bandwidth the measurement implies as a fraction of the part's peak."""
    parts = {name: resolve_hardware(name) for name in dict.fromkeys(measured["hw"])}
    rows = []
    for case in measured.itertuples(index=False):
        op = vector_op(case.op, case.rows, case.columns)
        hw = parts[case.hw]
        row = case._asdict()
        dram = hw.memory[-1].bandwidth
        row["measured_dram_fraction"] = round(
            (op.bytes_read + op.bytes_written) / (case.measured_ms * 1e-3) / dram, 3
        )
        for engine in ENGINES:
            cost = get_cost_model(engine).op_cost(op, hw)
            kernel_s = cost.kernel_s if cost.kernel_s is not None else cost.latency_s
            row[f"{engine}_ms"] = round(kernel_s * 1e3, 5)
            row[f"{engine}_error"] = round(kernel_s * 1e3 / case.measured_ms - 1, 3)
        rows.append(row)
    return pd.DataFrame(rows)


def bmm_op(batch: int, m: int, n: int, k: int) -> OpNode:
    """fp32 ``torch.bmm`` of ``batch`` (m, k) x (k, n) activation products, counted by hand."""
    return OpNode(
        name="bmm",
        category=Category.ATTN_GEMM,
        target="aten.bmm.default",
        scope="",
        layer=-1,
        phase="forward",
        inputs=(TensorSpec((batch, m, k), "fp32"), TensorSpec((batch, k, n), "fp32")),
        outputs=(TensorSpec((batch, m, n), "fp32"),),
        dims={"b": batch, "m": m, "n": n, "k": k},
        macs=batch * m * n * k,
        flops=2 * batch * m * n * k,
        bytes_read=batch * (m * k + k * n) * 4,
        bytes_written=batch * m * n * 4,
    )


def measured_op(case: Any) -> OpNode:
    """The op a row of ``linear.csv`` or ``bmm.csv`` measured."""
    if hasattr(case, "tokens"):
        return linear_op(case.tokens, case.in_features, case.out_features)
    return bmm_op(case.batch, case.m, case.n, case.k)


def compare(measured: pd.DataFrame) -> pd.DataFrame:
    """One row per measurement: the engines' kernel time (at the sustained clock under the
    part's power limit, `perfsim.engines.power`), its error, and the tile each engine
    chose (``m x n`` of the output tile) against cuBLAS's."""
    parts = {name: resolve_hardware(name) for name in dict.fromkeys(measured["hw"])}
    rows = []
    for case in measured.itertuples(index=False):
        op = measured_op(case)
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


HEADING = (
    "# fp32 kernels measured by NeuSight's authors against perfsim\n\n"
    "    python results/validation/neusight/compare.py\n"
)


def summary(frame: pd.DataFrame, title: str) -> str:
    lines = [
        f"## {title}",
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


def vector_summary(frame: pd.DataFrame) -> str:
    lines = [
        "",
        "## LayerNorm, softmax and element-wise kernels (fp32, measured at 0.2 ms or more)",
        "",
        "The DRAM bandwidth each measurement implies (perfsim's bytes / measured time) as a",
        "fraction of the part's peak, median over the rows; and both engines' median signed",
        "error. The ln and softmax medians are the files' `stream_efficiency` (x their",
        "achievable fraction): those rows agree by construction; the element-wise ones are",
        "checks.",
        "",
        "| part | op | cases | measured: fraction of DRAM peak | roofline: median error "
        "| cycle: median error |",
        "|---|---|---:|---:|---:|---:|",
    ]
    long = frame[frame["measured_ms"] >= SHORT_MS]
    for (part, op), mine in long.groupby(["hw", "op"], sort=False):
        lines.append(
            f"| {part} | {op} | {len(mine)} | {mine['measured_dram_fraction'].median():.2f} "
            f"| {mine['roofline_error'].median():+.0%} | {mine['cycle_error'].median():+.0%} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    linear = compare(pd.read_csv(HERE / "linear.csv"))
    linear.to_csv(HERE / "compare-linear.csv", index=False)
    bmm = compare(pd.read_csv(HERE / "bmm.csv"))
    bmm.to_csv(HERE / "compare-bmm.csv", index=False)
    vector = compare_vector(pd.read_csv(HERE / "vector.csv"))
    vector.to_csv(HERE / "compare-vector.csv", index=False)
    text = "\n".join(
        [
            HEADING,
            summary(linear, "nn.Linear GEMMs"),
            summary(bmm, "Attention-shaped batched GEMMs (torch.bmm, one side 64 wide)"),
            vector_summary(vector),
        ]
    )
    (HERE / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
