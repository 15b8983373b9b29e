"""Regenerate tests/data/scalesim_reference.csv by running the real SCALE-Sim 3.0.0.

    python benchmarks/scalesim_reference.py --out tests/data/scalesim_reference.csv [--jobs 2]

Needs a Python with ``scalesim==3.0.0`` and ``numpy<2.4`` (SCALE-Sim crashes on 2.4); it does
not import perfsim. Each case is written as a SCALE-Sim ``.cfg`` plus a one-row topology CSV
and run through SCALE-Sim's Python API (``save_disk_space=True``); the numbers are read back
from COMPUTE_REPORT.csv and DETAILED_ACCESS_REPORT.csv. The whole table takes about five
minutes with ``--jobs 2`` (most of it the two FFN GEMMs); ``--only`` reruns a few cases and
keeps the other rows.

Conventions this honours (and `perfsim.engines.cycle.systolic` assumes): a word is one byte
and ``<x>sramszkB`` is KiB (SCALE-Sim: ``1024 * kB`` bytes, ``word_size = 1``); in USER mode
``Bandwidth`` is the ofmap port in words per cycle while the ifmap and filter ports come from
``[layout] IfmapSRAMBankBandwidth`` / ``FilterSRAMBankBandwidth``, so all three are set equal
(one bank each, as the bandwidth must divide by the bank count).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "data" / "scalesim_reference.csv"


@dataclass(frozen=True)
class Case:
    """One SCALE-Sim run: an array, its buffers and DRAM mode, and one GEMM or conv layer."""

    case_id: str
    rows: int
    cols: int
    dataflow: str
    ifmap_kb: int
    filter_kb: int
    ofmap_kb: int
    bandwidth_mode: str  # CALC or USER
    bandwidth_words: int  # USER: words per cycle per port; 0 for CALC
    m: int
    n: int
    k: int
    conv: tuple[int, ...] = ()  # ifmap_h, ifmap_w, filter_h, filter_w, channels, filters, stride


# BERT-base encoder layer at seq 128 (M = tokens, N = output features, K = input features):
# Q/K/V/attention-output 128x768x768, FFN 128x3072x768 and 128x768x3072, and per head the
# scores Q K^T 128x128x64 and the context P V 128x64x128.
BERT = {
    "qkv": (128, 768, 768),
    "ffn1": (128, 3072, 768),
    "ffn2": (128, 768, 3072),
    "score": (128, 128, 64),
    "ctx": (128, 64, 128),
}


def conv_case(
    case_id: str, array: tuple[int, int, str], kb: tuple[int, int, int], layer: tuple[int, ...]
) -> Case:
    """A conv row, with M, N, K as SCALE-Sim's im2col gives them."""
    h, w, fh, fw, c, f, s = layer
    oh, ow = -(-(h - fh + s) // s), -(-(w - fw + s) // s)
    return Case(case_id, *array, *kb, "CALC", 0, oh * ow, f, fh * fw * c, layer)


def cases() -> list[Case]:
    """The reference table: shapes 8x8 to 256x256, all dataflows, small and large buffers."""
    out = [
        Case(f"hand_{df}", 8, 8, df, 64, 64, 64, "CALC", 0, 16, 16, 16) for df in ["os", "ws", "is"]
    ]
    out += [
        Case(f"small_sram_{df}", 8, 8, df, 1, 1, 1, "CALC", 0, 64, 64, 64)
        for df in ("os", "ws", "is")
    ]
    out += [Case("straddle_os", 8, 8, "os", 8, 8, 8, "CALC", 0, 64, 64, 64)]
    out += [
        Case(f"ragged_{df}", 16, 8, df, 2, 2, 2, "CALC", 0, 100, 70, 50)
        for df in ("os", "ws", "is")
    ]
    for name, mnk in BERT.items():
        out += [
            Case(f"bert128_{name}_{df}", 128, 128, df, 256, 256, 128, "CALC", 0, *mnk)
            for df in ("os", "ws", "is")
        ]
    out += [
        Case(f"bert32_{name}_os", 32, 32, "os", 64, 64, 16, "CALC", 0, *BERT[name])
        for name in ("qkv", "ffn1", "score", "ctx")
    ]
    out += [
        Case(f"bert256_{name}_ws", 256, 256, "ws", 512, 512, 256, "CALC", 0, *BERT[name])
        for name in ("qkv", "ffn2")
    ]
    out += [Case("bert256_score_os", 256, 256, "os", 512, 512, 256, "CALC", 0, *BERT["score"])]
    out += [Case("bert8_score_is", 8, 8, "is", 16, 16, 16, "CALC", 0, *BERT["score"])]
    out += [Case("bert8_ctx_ws", 8, 8, "ws", 16, 16, 16, "CALC", 0, *BERT["ctx"])]
    conv3 = (28, 28, 3, 3, 8, 16, 1)
    out += [conv_case(f"conv3x3_{df}", (16, 16, df), (8, 8, 8), conv3) for df in ("os", "ws", "is")]
    out += [conv_case("conv5x5s2_os", (8, 8, "os"), (4, 4, 4), (32, 32, 5, 5, 4, 16, 2))]
    out += [conv_case("conv1x1_ws", (32, 32, "ws"), (16, 16, 16), (14, 14, 1, 1, 64, 64, 1))]
    out += [conv_case("conv3x3_big_is", (32, 32, "is"), (64, 64, 32), (30, 30, 3, 3, 16, 32, 1))]
    user = [
        ("user_ofmap_os", 32, 32, "os", 64, 64, 2, 4, (128, 64, 128)),
        ("user_ofmap_is", 32, 32, "is", 64, 64, 2, 8, (128, 64, 128)),
        ("user_ofmap_ws", 8, 8, "ws", 8, 8, 1, 4, (64, 64, 64)),
        ("user_nostall_ws", 8, 8, "ws", 8, 8, 1, 8, (64, 64, 64)),
        ("user_bert_score_ws", 32, 32, "ws", 64, 64, 4, 8, BERT["score"]),
        ("user_bert_ctx_os", 32, 32, "os", 64, 64, 4, 4, BERT["ctx"]),
        ("user_bert_qkv_ws", 128, 128, "ws", 256, 2048, 64, 16, BERT["qkv"]),
        # documented deviations (see tests/test_systolic_scalesim.py)
        ("user_padding_os", 16, 8, "os", 64, 64, 1, 4, (100, 70, 50)),
        ("user_wrap_ws", 8, 8, "ws", 1, 1, 8, 8, (64, 64, 64)),
        ("user_wrap_os", 16, 16, "os", 4, 16, 16, 4, (256, 32, 64)),
    ]
    out += [Case(i, r, c, df, a, b, o, "USER", bw, *mnk) for i, r, c, df, a, b, o, bw, mnk in user]
    return out


CONFIG = """[general]
run_name = reference

[architecture_presets]
ArrayHeight : {rows}
ArrayWidth : {cols}
IfmapSramSzkB : {ifmap_kb}
FilterSramSzkB : {filter_kb}
OfmapSramSzkB : {ofmap_kb}
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Bandwidth : {bandwidth}
Dataflow : {dataflow}
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : {bandwidth}
IfmapSRAMBankNum : 1
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : {bandwidth}
FilterSRAMBankNum : 1
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : {bandwidth_mode}
UseRamulatorTrace : False
"""

COMPUTE = [
    "total_cycles_incl_prefetch",
    "total_cycles",
    "stall_cycles",
    "overall_util_pct",
    "mapping_eff_pct",
    "compute_util_pct",
]
DETAIL = {  # column index in DETAILED_ACCESS_REPORT.csv (after LayerID)
    "ifmap_sram_reads": 3,
    "filter_sram_reads": 6,
    "ofmap_sram_writes": 9,
    "ifmap_dram_reads": 12,
    "filter_dram_reads": 15,
    "ofmap_dram_writes": 18,
}
INPUTS = [*Case.__dataclass_fields__]


def run_case(case: Case) -> tuple[dict[str, object], float]:
    """Run SCALE-Sim on one case; returns the CSV row and the seconds it took."""
    from scalesim.scale_sim import scalesim

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bandwidth = case.bandwidth_words if case.bandwidth_mode == "USER" else 10
        settings = {**asdict(case), "bandwidth": bandwidth}
        (folder / "run.cfg").write_text(CONFIG.format(**settings))
        if case.conv:
            header = "Layer, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, Stride,"
            row = ", ".join(str(v) for v in case.conv)
        else:
            header, row = "Layer, M, N, K,", f"{case.m}, {case.n}, {case.k}"
        (folder / "topology.csv").write_text(f"{header}\nlayer0, {row},\n")
        (folder / "layout.csv").write_text("Layer,\n")  # SCALE-Sim always opens one
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(
                save_disk_space=True,
                verbose=False,
                config=str(folder / "run.cfg"),
                topology=str(folder / "topology.csv"),
                layout=str(folder / "layout.csv"),
                input_type_gemm=not case.conv,
            )
            sim.run_scale(top_path=str(folder / "out"))
        seconds = time.perf_counter() - started
        report = folder / "out" / "reference"
        compute = _last_row(report / "COMPUTE_REPORT.csv")
        detail = _last_row(report / "DETAILED_ACCESS_REPORT.csv")
    row_out: dict[str, object] = {name: getattr(case, name) for name in INPUTS}
    row_out["conv"] = " ".join(str(v) for v in case.conv)
    row_out.update(zip(COMPUTE, (float(v) for v in compute[1:7]), strict=True))
    row_out.update({name: int(float(detail[i])) for name, i in DETAIL.items()})
    return row_out, seconds


def _last_row(path: Path) -> list[str]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [cell.strip() for cell in lines[-1].split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--jobs", type=int, default=1, help="SCALE-Sim processes in parallel")
    parser.add_argument("--only", nargs="*", help="case ids to run (default: all)")
    args = parser.parse_args()
    todo = [case for case in cases() if not args.only or case.case_id in args.only]
    rows: dict[str, dict[str, object]] = {}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {case.case_id: pool.submit(run_case, case) for case in todo}
        for index, (case_id, future) in enumerate(futures.items(), start=1):
            rows[case_id], seconds = future.result()
            print(f"[{index}/{len(todo)}] {case_id}: {seconds:.1f} s", file=sys.stderr, flush=True)
    if args.only and args.out.exists():  # keep the other rows of an existing table
        with args.out.open(newline="") as handle:
            old = {row["case_id"]: row for row in csv.DictReader(handle)}
        rows = {
            case.case_id: rows.get(case.case_id) or old[case.case_id]
            for case in cases()
            if case.case_id in rows or case.case_id in old
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=[*INPUTS, *COMPUTE, *DETAIL], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows.values())
    print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
