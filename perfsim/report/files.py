"""Write a run's outputs (``ops.csv``, ``summary.json``, ``report.html``) all or nothing."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from perfsim.errors import PerfsimError

OUTPUT_FILES = ("ops.csv", "summary.json", "report.html")


def render_outputs(result: Any) -> dict[str, str]:
    """File name → contents, rendered in memory first so a failure writes nothing."""
    from perfsim.report.plots import category_breakdown, roofline_chart

    summary = result.summary()
    frame = result.to_frame()
    matrix_dtype = next(
        (
            dtype
            for dtype, category in zip(frame["dtype"], frame["category"], strict=True)
            if category in ("gemm", "attn_gemm")
        ),
        str(summary["precision"]),
    )
    charts = [category_breakdown(summary), roofline_chart(frame, result.hw, matrix_dtype)]
    body = "\n".join(
        chart.to_html(full_html=False, include_plotlyjs=(index == 0))
        for index, chart in enumerate(charts)
    )
    title = f"perfsim: {summary['model']} on {summary['hw']}"
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>{summary['engine']}, {summary['precision']}, "
        f"{summary['mode']}, batch {summary['batch']}, seq {summary['seq']}: "
        f"latency {summary['latency_s'] * 1e3:.4g} ms, energy {summary['energy_j'] * 1e3:.4g} mJ"
        f"</p>{body}</body></html>"
    )
    return {
        "ops.csv": frame.to_csv(index=False),
        "summary.json": json.dumps(summary, indent=2) + "\n",
        "report.html": html,
    }


def write_outputs(contents: dict[str, str], out_dir: Path) -> list[Path]:
    """Write every file through a temporary name, then rename: no partial files on failure."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PerfsimError(f"--out: cannot create {out_dir} ({error.strerror})") from None
    staged: list[tuple[Path, Path]] = []
    try:
        for name, text in contents.items():
            handle, temporary_name = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
            staged.append((Path(temporary_name), out_dir / name))
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
    except OSError as error:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise PerfsimError(f"--out: cannot write to {out_dir} ({error.strerror})") from None
    umask = os.umask(0)
    os.umask(umask)
    for temporary, final in staged:
        temporary.chmod(0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        temporary.replace(final)
    return [final for _, final in staged]
