"""Wall time of SCALE-Sim 3.0.0 against `gemm_cycles` on one BERT-base encoder layer.

    python benchmarks/bench_systolic.py [--quick] [--repeats 20]

Needs a Python with both perfsim and ``scalesim==3.0.0`` (``numpy<2.4``). The eight GEMMs of
one encoder layer at seq 128 -- Q, K, V and attention-output projections (128x768x768),
FFN up (128x3072x768) and down (128x768x3072), and the attention scores (128x128x64) and
context (128x64x128) of *one head* -- run on a 128x128 and a 32x32 output-stationary array
with SCALE-Sim's default buffers (256/256/128 KiB) in CALC mode. SCALE-Sim runs each distinct
shape once (the four projections share one run); `gemm_cycles` reports the median of
``--repeats`` calls. Printed: per-GEMM seconds and ratio, the median ratio and the ratio of
totals. The full run takes about six minutes (the FFNs on 32x32 take ~90 s each in
SCALE-Sim); ``--quick`` keeps one projection and the two attention products (~1 minute).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

from perfsim.engines.cycle.systolic import SystolicArray, gemm_cycles

HERE = Path(__file__).resolve().parent
LAYER = [  # name, (M, N, K): SCALE-Sim GEMM columns, ifmap M x K, filter K x N
    ("q_proj", (128, 768, 768)),
    ("k_proj", (128, 768, 768)),
    ("v_proj", (128, 768, 768)),
    ("attn_out", (128, 768, 768)),
    ("ffn_up", (128, 3072, 768)),
    ("ffn_down", (128, 768, 3072)),
    ("scores_1head", (128, 128, 64)),
    ("context_1head", (128, 64, 128)),
]
QUICK = {"q_proj", "scores_1head", "context_1head"}
ARRAYS = (128, 32)
KIB = (256, 256, 128)  # scale_config defaults


def _reference_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "scalesim_reference", HERE / "scalesim_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def time_model(mnk: tuple[int, int, int], size: int, repeats: int) -> tuple[float, int]:
    """Median seconds of one `gemm_cycles` call, and its total cycles."""
    hw = SystolicArray(size, size, "os", *(kb * 1024 for kb in KIB))
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = gemm_cycles(*mnk, hw)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result.total_cycles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one projection + attention only")
    parser.add_argument("--repeats", type=int, default=20, help="gemm_cycles calls per GEMM")
    args = parser.parse_args()
    reference = _reference_module()
    layer = [(name, mnk) for name, mnk in LAYER if not args.quick or name in QUICK]
    print(
        f"{'array':>7} {'gemm':<14} {'M x N x K':<15} {'scalesim s':>10} {'perfsim ms':>10} "
        f"{'ratio':>8} {'cycles (ss / ours)':>22}"
    )
    ratios, totals = [], [0.0, 0.0]
    for size in ARRAYS:
        runs: dict[tuple[int, int, int], tuple[float, float]] = {}
        for name, mnk in layer:
            if mnk not in runs:
                case = reference.Case(
                    f"bench_{size}_{name}", size, size, "os", *KIB, "CALC", 0, *mnk
                )
                row, seconds = reference.run_case(case)
                runs[mnk] = (seconds, float(row["total_cycles"]))
            scalesim_s, scalesim_cycles = runs[mnk]
            ours_s, ours_cycles = time_model(mnk, size, args.repeats)
            ratios.append(scalesim_s / ours_s)
            totals[0] += scalesim_s
            totals[1] += ours_s
            shape = "x".join(map(str, mnk))
            print(
                f"{size:>3}x{size:<3} {name:<14} {shape:<15} {scalesim_s:>10.2f} "
                f"{ours_s * 1e3:>10.3f} {ratios[-1]:>8.0f} "
                f"{scalesim_cycles:>11.0f} / {ours_cycles:<9}",
                flush=True,
            )
    print(
        f"median ratio {statistics.median(ratios):.0f}x; totals {totals[0]:.1f} s vs "
        f"{totals[1] * 1e3:.2f} ms = {totals[0] / totals[1]:.0f}x "
        f"({len(ratios)} GEMMs, attention for one head)"
    )


if __name__ == "__main__":
    sys.exit(main())
