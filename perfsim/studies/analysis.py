"""Pure analyses the studies draw their figures from: shares, Amdahl bounds, operator classes,
arithmetic intensity against a device's ridge point.

Everything here takes plain numbers or a `perfsim.estimate.Result` and returns plain numbers
or DataFrames; no I/O, no plotting.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final

from perfsim.ir import Category, OpGraph

if TYPE_CHECKING:
    import pandas as pd

    from perfsim.estimate import Result

MATRIX_CATEGORIES: Final = ("gemm", "attn_gemm")

# The operator classes of Ivanov et al., "Data Movement Is All You Need: A Case Study on
# Optimizing Transformers", MLSys 2021, Table 1: tensor contractions (matrix products),
# statistical normalizations (softmax, layernorm) and element-wise operators (bias, dropout,
# activations, residual adds). perfsim's reductions (bias-gradient sums) and materialized
# transposes/copies are element-wise data movement in their accounting.
OPERATOR_CLASSES: Final[Mapping[str, tuple[str, ...]]] = {
    "tensor_contraction": ("gemm", "attn_gemm"),
    "statistical_normalization": ("softmax", "layernorm"),
    "elementwise": ("gelu", "dropout", "elementwise", "reduction", "data_movement"),
}


def amdahl_speedup(accelerated_share: float, factor: float) -> float:
    """End-to-end speedup when a part taking ``accelerated_share`` of the time runs ``factor``x
    faster (Amdahl 1967); ``factor = inf`` gives the bound ``1 / (1 - share)``."""
    if not 0.0 <= accelerated_share <= 1.0:
        raise ValueError(f"share must be in [0, 1], got {accelerated_share}")
    if factor < 1.0:
        raise ValueError(f"speedup factor must be >= 1, got {factor}")
    rest = 1.0 - accelerated_share
    accelerated = 0.0 if math.isinf(factor) else accelerated_share / factor
    total = rest + accelerated
    return math.inf if total == 0.0 else 1.0 / total


def amdahl_curve(accelerated_share: float, factors: Iterable[float]) -> list[float]:
    """`amdahl_speedup` at each factor."""
    return [amdahl_speedup(accelerated_share, factor) for factor in factors]


def matrix_share(by_category: Mapping[str, Mapping[str, float]]) -> float:
    """Share of latency in matrix categories (``gemm`` + ``attn_gemm``)."""
    return sum(by_category.get(name, {}).get("share", 0.0) for name in MATRIX_CATEGORIES)


def scaled_softmax_ops(graph: OpGraph) -> set[str]:
    """Names of the element-wise ops that belong to a softmax as Ivanov et al. count it
    ("scaled softmax": the score scaling and masking feeding it, the gradient scaling fed by
    its backward), i.e. element-wise ops producing a softmax op's input or reading its output
    within the same module."""
    ops = graph.ops
    attached: set[str] = set()
    for op in ops:
        if op.category != Category.SOFTMAX:
            continue
        frontier = list(op.deps)
        while frontier:  # the chain of element-wise producers (scale, then mask add)
            producer = ops[frontier.pop()]
            if producer.category == Category.ELEMENTWISE and producer.scope == op.scope:
                attached.add(producer.name)
                frontier.extend(producer.deps)
    softmax_indices = {i for i, op in enumerate(ops) if op.category == Category.SOFTMAX}
    for op in ops:
        if op.category == Category.ELEMENTWISE and any(
            dep in softmax_indices and ops[dep].scope == op.scope for dep in op.deps
        ):
            attached.add(op.name)
    return attached


def class_breakdown(
    frame: pd.DataFrame, normalization_ops: Iterable[str] = ()
) -> dict[str, dict[str, float]]:
    """Runtime and FLOP shares of Ivanov et al.'s operator classes over the given op rows.

    ``frame`` is `Result.to_frame()` (or a filtered part of it, e.g. the encoder layers'
    forward and backward ops); ``normalization_ops`` names element-wise ops counted with the
    statistical normalizations (`scaled_softmax_ops`). Categories outside the three classes
    (embedding, optimizer, collectives) are left out, as Ivanov et al. study the encoder
    layer alone.
    """
    extra = frame["op"].isin(set(normalization_ops)) if "op" in frame else False
    totals = {}
    for name, members in OPERATOR_CLASSES.items():
        picked = frame["category"].isin(members)
        picked = (picked | extra) if name == "statistical_normalization" else (picked & ~extra)
        totals[name] = (
            float(frame.loc[picked, "latency_s"].sum()),
            float(frame.loc[picked, "flops"].sum()),
        )
    latency = sum(seconds for seconds, _ in totals.values()) or 1.0
    flops = sum(count for _, count in totals.values()) or 1.0
    return {
        name: {"runtime_share": seconds / latency, "flop_share": count / flops}
        for name, (seconds, count) in totals.items()
    }


def ridge_point(result: Result, dtype: str) -> float:
    """FLOPs per farthest-level byte at which the device turns compute-bound at ``dtype``."""
    hw = result.hw
    peak = hw.matrix_peak_flops(dtype) or hw.vector_peak_flops(dtype)
    return peak / hw.level_bandwidth(hw.dram)


def op_intensity(result: Result) -> pd.DataFrame:
    """Per op: FLOPs, farthest-level bytes, arithmetic intensity, the ridge point of the unit
    it runs on, and whether it sits below the ridge (memory-bound by the roofline's reading).
    """
    frame = result.to_frame()
    hw = result.hw
    dram = hw.dram.name
    bandwidth = hw.level_bandwidth(hw.dram)
    peaks = [
        (hw.matrix_peak_flops(dtype) if unit == "matrix" else hw.vector_peak_flops(dtype))
        for unit, dtype in zip(frame["unit"], frame["dtype"], strict=True)
    ]
    out = frame[["op", "category", "phase", "unit", "dtype", "flops", "latency_s"]].copy()
    out["dram_bytes"] = frame[f"{dram}_bytes"]
    out["intensity_flop_per_byte"] = out["flops"] / out["dram_bytes"].clip(lower=1.0)
    out["ridge_flop_per_byte"] = [peak / bandwidth for peak in peaks]
    out["below_ridge"] = out["intensity_flop_per_byte"] < out["ridge_flop_per_byte"]
    return out
