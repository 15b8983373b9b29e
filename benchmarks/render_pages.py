"""Render every HTML page perfsim writes to PNG with headless Chromium, to look at them.

    python benchmarks/render_pages.py OUT_DIR [--width 1400] [--chromium chromium]

Runs a small run (``bert-tiny`` on ``npu``, ``--out``), the shipped example sweep
(``workloads/sweeps/npu-array-sram-dram.yaml``) and the quick ``published-inference``
study into ``OUT_DIR/pages/``, then writes one PNG per HTML page into ``OUT_DIR/png/``
(the sweep's per-design reports: the first two only). Each page is rendered in a tall
window and the blank space below its content is trimmed (Pillow), so every PNG shows the
whole page at the given width.

No timing here: it checks legibility, by eye.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP_SPEC = ROOT / "workloads" / "sweeps" / "npu-array-sram-dram.yaml"
TALL = 6000  # px: taller than any page; the blank rest is trimmed


def perfsim(*args: str) -> None:
    """``python -m perfsim ARGS`` in the repository root (this checkout's code)."""
    subprocess.run([sys.executable, "-m", "perfsim", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def make_pages(pages: Path) -> list[Path]:
    """Write the run, sweep and study outputs under ``pages``; their HTML pages."""
    perfsim("run", "-m", "bert-tiny", "--hw", "npu", "--out", str(pages / "run"))
    perfsim(
        "run", "-m", "bert-base", "--hw", "a100", "--batch", "8", "--out", str(pages / "run-a100")
    )
    perfsim("sweep", str(SWEEP_SPEC), "--out", str(pages / "sweep"))
    perfsim("study", "published-inference", "--out", str(pages / "study"))
    found = sorted(pages.rglob("*.html"))
    designs = sorted(p for p in found if "designs" in p.parts)
    return [p for p in found if "designs" not in p.parts] + designs[:2]


def trim(png: Path) -> None:
    """Cut the blank rows below the page's content (keep a 20 px margin)."""
    from PIL import Image, ImageChops

    with Image.open(png) as image:
        rgb = image.convert("RGB")
    background = Image.new("RGB", rgb.size, (255, 255, 255))
    box = ImageChops.difference(rgb, background).getbbox()
    if box is not None:
        rgb = rgb.crop((0, 0, rgb.width, min(rgb.height, box[3] + 20)))
    rgb.save(png, optimize=True)


def screenshot(chromium: str, page: Path, png: Path, width: int) -> None:
    """One page to PNG (plotly given 4 s of virtual time to draw)."""
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=4000",
            f"--screenshot={png}",
            f"--window-size={width},{TALL}",
            page.resolve().as_uri(),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    trim(png)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (pages/ and png/ go here)")
    parser.add_argument("--width", type=int, default=1400, help="window width, px")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    pages, pngs = args.out / "pages", args.out / "png"
    shutil.rmtree(pages, ignore_errors=True)
    pngs.mkdir(parents=True, exist_ok=True)
    for page in make_pages(pages):
        name = "_".join(page.relative_to(pages).with_suffix("").parts) + ".png"
        screenshot(args.chromium, page, pngs / name, args.width)
        print(pngs / name)


if __name__ == "__main__":
    main()
