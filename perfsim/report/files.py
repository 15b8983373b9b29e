"""Write a run's outputs (``ops.csv``, ``summary.json``, ``report.html``) all or nothing."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from perfsim.errors import PerfsimError

OUTPUT_FILES = ("ops.csv", "summary.json", "report.html")


def render_outputs(
    result: Any, plotly_js: str = "inline", back_link: str = "", design: str = ""
) -> dict[str, str]:
    """File name → contents, rendered in memory first so a failure writes nothing.

    ``plotly_js``: ``"inline"`` embeds plotly.js in ``report.html`` (opens offline,
    anywhere); else the relative path of a shared copy (a sweep's per-design reports).
    """
    from perfsim.report.run_page import render_report

    summary = result.summary()
    return {
        "ops.csv": result.to_frame().to_csv(index=False),
        "summary.json": json.dumps(summary, indent=2) + "\n",
        "report.html": render_report(result, plotly_js, back_link, design),
    }


def write_outputs(contents: dict[str, str], out_dir: Path) -> list[Path]:
    """Write every file through a temporary name, then rename: no partial files on failure.

    A name may hold folders (``designs/point-3/report.html``): they are made first.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in contents:
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PerfsimError(f"--out: cannot create {out_dir} ({error.strerror})") from None
    staged: list[tuple[Path, Path]] = []
    try:
        for name, text in contents.items():
            final = out_dir / name
            handle, temporary_name = tempfile.mkstemp(prefix=f".{final.name}.", dir=final.parent)
            staged.append((Path(temporary_name), final))
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
