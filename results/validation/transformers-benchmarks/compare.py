"""Mu Li's transformers-benchmarks (github.com/mli/transformers-benchmarks @04df81d, README
"Micro-Benchmarking Summary", measured with micro_bench.ipynb in NVIDIA's PyTorch 22.07
container): the best TFLOP/s of one Hugging Face ``BertLayer`` of BERT-large in fp16
(``.half()``, eager PyTorch, the module in training mode, so its dropouts run) over batch
2-128 at sequence 128 and 512, forward and forward + backward, and a square fp16 matmul
at n = 8,192; on an A100 80GB and a V100 16GB. Checks, never inputs.

    python results/validation/transformers-benchmarks/compare.py   # ~2 min

The notebook counts a layer's forward as ``24 b s h^2 + 4 b s^2 h`` FLOPs and forward +
backward as three times that, and times ``layer(X)`` and ``layer(X)[0].sum().backward()``
with ``torch.utils.benchmark`` (median of at least 3 s). The model costs layer 0 of a
BERT-large training graph (fp16, eager runtime, no fusion: Hugging Face's 2022 eager
attention) on ``a100-80gb.yaml`` and ``v100.yaml`` (the 32 GB SXM2 part: the 16 GB card's
SMs, clocks and 900 GB/s), forward ops and forward + backward ops, over the same grid, and
reports its best, as the README does. Writes ``summary.md``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from perfsim.engines import get_cost_model
from perfsim.engines.power import sustained_costs
from perfsim.hardware import resolve_hardware
from perfsim.pipeline import simulate
from perfsim.scenario import Scenario
from perfsim.whatif.knobs import parse_whatifs
from perfsim.workload import TrainingOptions, load_workload

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
HIDDEN = 1024
GRID = [(seq, batch) for seq in (128, 512) for batch in (2, 4, 8, 16, 32, 64, 128)]
# README table: (hardware file, layer forward, layer forward + backward, fp16 matmul) TFLOP/s
PUBLISHED = {
    "A100 80GB": ("a100-80gb", 110.0, 136.0, 230.0),
    "V100 16GB": ("v100", 56.0, 67.0, 95.0),
}


def layer_tflops(hw_file: str, seq: int, batch: int) -> tuple[float, float]:
    """The model's forward and forward + backward TFLOP/s of one BERT-large layer."""
    forward_flops = 24 * batch * seq * HIDDEN**2 + 4 * batch * HIDDEN * seq**2
    workload = load_workload(
        "bert-large",
        batch=batch,
        seq=seq,
        precision="fp16",
        mode="training",
        training=TrainingOptions(head="pretraining", optimizer="sgd"),
    )
    scenario = Scenario.from_workload(workload).but(
        runtime="eager", whatifs=parse_whatifs({"fusion": "none"})
    )
    result = simulate(scenario, resolve_hardware(ROOT / "hwconfigs" / f"{hw_file}.yaml"))
    layer = [
        (op.phase, cost.latency_s)
        for op, cost in zip(result.graph.ops, result.costs, strict=True)
        if op.layer == 0
    ]
    forward_s = sum(seconds for phase, seconds in layer if phase == "forward")
    both_s = sum(seconds for phase, seconds in layer if phase in ("forward", "backward"))
    return forward_flops / forward_s / 1e12, 3 * forward_flops / both_s / 1e12


def _h200_checks() -> Any:
    """`results/validation/gpu-h200-checks/compare.py`, for its hand-counted ``linear_op``."""
    path = HERE.parent / "gpu-h200-checks" / "compare.py"
    spec = importlib.util.spec_from_file_location("gpu_h200_compare", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def matmul_tflops(hw_file: str, size: int = 8192) -> float:
    """The model's fp16 ``a @ b`` of two ``size`` x ``size`` matrices, run back to back."""
    op = _h200_checks().linear_op(size, size, size, "fp16")
    hw = resolve_hardware(ROOT / "hwconfigs" / f"{hw_file}.yaml")
    (cost,) = sustained_costs([op], [1], hw, get_cost_model("roofline"))
    return op.flops / cost.latency_s / 1e12


def main() -> None:
    lines = [
        "# Mu Li's transformers-benchmarks against perfsim (roofline)",
        "",
        "    python results/validation/transformers-benchmarks/compare.py",
        "",
        "Best TFLOP/s over batch 2-128 at sequence 128 and 512 (error: model / published - 1;",
        "positive: the model is too fast).",
        "",
        "| part | case | published | model | error |",
        "|---|---|---:|---:|---:|",
    ]
    for part, (hw_file, forward, both, matmul) in PUBLISHED.items():
        rates = [layer_tflops(hw_file, seq, batch) for seq, batch in GRID]
        model = {
            "BERT-large layer, forward": (forward, max(rate[0] for rate in rates)),
            "BERT-large layer, forward + backward": (both, max(rate[1] for rate in rates)),
            "fp16 matmul, n = 8192": (matmul, matmul_tflops(hw_file)),
        }
        for case, (published, predicted) in model.items():
            lines.append(
                f"| {part} (`{hw_file}.yaml`) | {case} | {published:.0f} | {predicted:.1f} "
                f"| {predicted / published - 1:+.0%} |"
            )
    text = "\n".join(lines) + "\n"
    (HERE / "summary.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
