"""Studies as code: a study is a module with ``TITLE``, ``INTRO`` and ``run_study(...) ->
list[Figure]``; `write_study` renders its figures and writes them all or nothing.

Copy one of the modules (``demystify.py``, ``published.py``) to write your own: each figure
is a function from costed runs to a `perfsim.studies.report.Figure`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Final

from perfsim.cache import GraphStore
from perfsim.errors import PerfsimError

STUDIES: Final = {
    "demystify-bert": "perfsim.studies.demystify",
    "published-inference": "perfsim.studies.published",
}


def write_study(
    name: str,
    out_dir: Path,
    *,
    store: GraphStore | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Run study ``name`` and write ``report.html``, ``summary.md`` and one CSV per figure."""
    from perfsim.report.files import write_outputs
    from perfsim.studies.report import render_study

    if name not in STUDIES:
        raise PerfsimError(f"study: unknown study {name!r}; expected one of {', '.join(STUDIES)}")
    module = importlib.import_module(STUDIES[name])
    figures = module.run_study(store=store, progress=progress)
    command = f"perfsim study {name} --out {out_dir}"
    contents = render_study(module.TITLE, command, module.INTRO, figures)
    return write_outputs(contents, out_dir)
