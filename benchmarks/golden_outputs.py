"""Record or check the outputs of the README tour, both studies, the example sweep and training.

A refactor must not move a number. This script runs a fixed list of ``perfsim`` commands
(the README's tour, what-ifs, sequence lengths, training, fit, data parallel, both studies,
the example sweep, every shipped training schedule), normalises what they print or write
(temporary paths, float noise below 1e-9 relative) and either stores it or compares it with
what is stored::

    python benchmarks/golden_outputs.py record  [--dir results/golden]
    python benchmarks/golden_outputs.py check   [--dir results/golden]

``check`` exits 1 and names every command whose output moved (with the first differing
line). The stored outputs live in ``results/golden/`` (text, JSON and CSV only).
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "results" / "golden"

# name → perfsim arguments; "{out}" is a fresh temporary folder whose files are kept too
COMMANDS: dict[str, list[str]] = {
    "list-models": ["list", "models"],
    "list-hw": ["list", "hw"],
    "run-bert-base-npu": ["run", "-m", "bert-base", "--hw", "npu", "--format", "json"],
    "run-bert-base-npu-table": ["run", "-m", "bert-base", "--hw", "hwconfigs/npu.yaml"],
    "run-bert-large-a100": ["run", "-m", "bert-large", "--hw", "a100", "--format", "json"],
    "run-bert-base-a100-int8": [
        "run",
        "-m",
        "bert-base",
        "--hw",
        "a100",
        "--batch",
        "32",
        "--seq",
        "384",
        "--precision",
        "int8",
        "--format",
        "json",
    ],
    "run-bert-base-xeon-out": [
        "run",
        "-m",
        "bert-base",
        "--hw",
        "xeon-8380",
        "--precision",
        "fp32",
        "--out",
        "{out}",
        "--format",
        "json",
    ],
    "trace-distilbert": [
        "trace",
        "-m",
        "distilbert-base",
        "--batch",
        "8",
        "--seq",
        "256",
        "--format",
        "csv",
    ],
    "run-bert-base-npu-cycle": [
        "run",
        "-m",
        "bert-base",
        "--hw",
        "npu",
        "--engine",
        "cycle",
        "--format",
        "json",
    ],
    "run-scalesim-topology": [
        "run",
        "-m",
        "tests/data/bert_gemms.csv",
        "--hw",
        "tests/data/scalesim_32x32_os.cfg",
        "--engine",
        "cycle",
        "--format",
        "csv",
    ],
    "whatif-fusion-quant": [
        "run",
        "-m",
        "bert-base",
        "--hw",
        "a100",
        "--batch",
        "8",
        "--whatif",
        "fusion=all",
        "--whatif",
        "quant=w4a8",
        "--format",
        "json",
    ],
    "whatif-pim": [
        "run",
        "-m",
        "bert-base",
        "--hw",
        "npu",
        "--whatif",
        "pim=true",
        "--whatif",
        "pim_bandwidth=2.4 TB/s",
        "--format",
        "json",
    ],
    "lengths-padded": [
        "run",
        "-m",
        "bert-base",
        "--hw",
        "t4",
        "--batch",
        "64",
        "--seq",
        "128",
        "--seq-lengths",
        "normal:40,20,128",
        "--padding",
        "padded",
        "--format",
        "json",
    ],
    "lengths-packed": [
        "run",
        "-m",
        "bert-base",
        "--hw",
        "t4",
        "--batch",
        "64",
        "--seq-lengths",
        "normal:40,20,128",
        "--padding",
        "packed",
        "--format",
        "json",
    ],
    "train-mi100": [
        "run",
        "-m",
        "bert-large",
        "--hw",
        "mi100",
        "--mode",
        "training",
        "--batch",
        "32",
        "--seq",
        "128",
        "--format",
        "json",
    ],
    "train-a100-fp16-squad": [
        "run",
        "-m",
        "bert-base",
        "--hw",
        "a100",
        "--mode",
        "training",
        "--precision",
        "fp16",
        "--optimizer",
        "adamw",
        "--head",
        "squad",
        "--format",
        "json",
    ],
    "train-cycle-fused": [
        "run",
        "-m",
        "bert-base",
        "--hw",
        "v100",
        "--mode",
        "training",
        "--precision",
        "fp16",
        "--batch",
        "8",
        "--engine",
        "cycle",
        "--whatif",
        "fusion=all",
        "--format",
        "json",
    ],
    "fit-bert-large-v100": [
        "fit",
        "-m",
        "bert-large",
        "--hw",
        "v100",
        "--seq",
        "128",
        "--precision",
        "fp16",
        "--checkpointing",
        "--format",
        "json",
    ],
    "data-parallel-a100": [
        "run",
        "-m",
        "bert-large",
        "--hw",
        "a100",
        "--mode",
        "training",
        "--batch",
        "512",
        "--devices",
        "16",
        "--grad-accum",
        "2",
        "--format",
        "json",
    ],
    "compare": [
        "compare",
        "-m",
        "bert-base",
        "-m",
        "bert-large",
        "--hw",
        "a100",
        "--hw",
        "npu",
        "--format",
        "csv",
    ],
    "study-demystify": ["study", "demystify-bert", "--out", "{out}"],
    "study-published": ["study", "published-inference", "--out", "{out}"],
    "sweep-example": [
        "sweep",
        "workloads/sweeps/npu-array-sram-dram.yaml",
        "--out",
        "{out}",
        "--jobs",
        "1",
    ],
    "train-schedules": [
        "train",
        "workloads/schedules/deepspeed-bert-large-v100.yaml",
        "workloads/schedules/lamb-bert-large-tpuv3-pod.yaml",
        "workloads/schedules/mlperf-v1.0-bert-dgxa100.yaml",
        "--format",
        "json",
    ],
}
KEPT_SUFFIXES = (".json", ".csv", ".md")
# a float standing alone (not inside an id such as a hex digest "94412b04f2e5fc")
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\w.])")


def _round(match: re.Match[str]) -> str:
    """Floats to 9 significant digits: summation order may move the last bits, nothing else."""
    value = float(match.group(0))
    if value == 0 or not math.isfinite(value):
        return match.group(0)
    return f"{value:.9g}"


def normalise(text: str, out: Path | None) -> str:
    """Temporary folders and float noise out of a command's output."""
    if out is not None:
        text = text.replace(str(out), "{out}")
    text = text.replace(str(ROOT) + "/", "")
    return _NUMBER.sub(_round, text)


def run_command(name: str, arguments: Sequence[str]) -> dict[str, str]:
    """File name → normalised text of one command's stdout and the files it wrote."""
    with tempfile.TemporaryDirectory(prefix=f"golden-{name}-") as scratch:
        out = Path(scratch) / "out"
        argv = [a.replace("{out}", str(out)) for a in arguments]
        done = subprocess.run(
            [sys.executable, "-m", "perfsim", *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        outputs = {
            "stdout.txt": normalise(done.stdout, out),
            "exit.txt": f"{done.returncode}\n",
        }
        if done.returncode != 0:
            outputs["stderr.txt"] = normalise(done.stderr, out)
        if out.is_dir():
            for file in sorted(out.rglob("*")):
                if file.is_file() and file.suffix in KEPT_SUFFIXES:
                    relative = file.relative_to(out).as_posix().replace("/", "__")
                    outputs[f"out__{relative}"] = normalise(file.read_text("utf-8"), out)
        return outputs


def record(folder: Path, names: Sequence[str]) -> None:
    for name in names:
        print(f"recording {name}", file=sys.stderr, flush=True)
        target = folder / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for file, text in run_command(name, COMMANDS[name]).items():
            (target / file).write_text(text, encoding="utf-8")
    (folder / "commands.json").write_text(json.dumps(COMMANDS, indent=1) + "\n", "utf-8")


def check(folder: Path, names: Sequence[str]) -> int:
    moved = 0
    for name in names:
        print(f"checking {name}", file=sys.stderr, flush=True)
        stored = {f.name: f.read_text("utf-8") for f in sorted((folder / name).glob("*"))}
        now = run_command(name, COMMANDS[name])
        for file in sorted(set(stored) | set(now)):
            if stored.get(file) == now.get(file):
                continue
            moved += 1
            before = (stored.get(file) or "<missing>\n").splitlines()
            after = (now.get(file) or "<missing>\n").splitlines()
            diff = list(difflib.unified_diff(before, after, lineterm="", n=0))
            print(f"MOVED {name}/{file}: " + " | ".join(diff[2:6]))
    print(f"{len(names)} commands, {moved} outputs moved")
    return 1 if moved else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("record", "check"))
    parser.add_argument("--dir", type=Path, default=GOLDEN)
    parser.add_argument("--only", nargs="*", default=None, help="a subset of command names")
    args = parser.parse_args()
    names = args.only or list(COMMANDS)
    if args.action == "record":
        record(args.dir, names)
        return 0
    return check(args.dir, names)


if __name__ == "__main__":
    sys.exit(main())
