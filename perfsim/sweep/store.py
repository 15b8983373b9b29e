"""Resumable results: an append-only JSON-lines journal, compacted into Parquet and CSV.

Each finished point is one line ``{"point_id": ..., <outputs>}`` appended (and flushed to
disk) as soon as its batch returns, so a sweep killed at any moment keeps every point that
finished; a line cut short by the kill is ignored on reading. Re-running the sweep reads
the journal and skips the ids already there. The final table is written only at the end,
each file through a temporary name and a rename, so a reader never sees half a table.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfsim.errors import PerfsimError

if TYPE_CHECKING:
    import pandas as pd

JOURNAL = "points.jsonl"
TABLE_PARQUET = "results.parquet"
TABLE_CSV = "results.csv"
SPEC_COPY = "spec.yaml"


def read_journal(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Finished points by id (the last line wins); a torn or garbled line is skipped."""
    path = out_dir / JOURNAL
    rows: dict[str, dict[str, Any]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return rows
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("point_id"), str):
            rows[row["point_id"]] = row
    return rows


def append_journal(out_dir: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append finished points and push them to disk before returning."""
    lines = "".join(json.dumps(dict(row)) + "\n" for row in rows)
    if not lines:
        return
    path = out_dir / JOURNAL
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with path.open("a+", encoding="utf-8") as stream:
            # a line torn by an earlier kill must not swallow the first new one
            if stream.tell() > 0:
                stream.seek(stream.tell() - 1)
                if stream.read(1) != "\n":
                    stream.write("\n")
            stream.write(lines)
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as error:
        raise PerfsimError(f"--out: cannot write to {out_dir} ({error.strerror})") from None


def _replace_atomically(out_dir: Path, name: str, write: Any) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
    os.close(handle)
    try:
        write(temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, out_dir / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_PLAIN = (str, float, int, bool, type(None))
# a cell holding any of these is quoted (csv.QUOTE_MINIMAL with pandas' "\n" lines); "\r"
# is left to the csv module itself
_QUOTED = (",", '"', "\n")


def _cells(series: pd.Series) -> list[str] | None:
    """A column's cells as pandas' ``to_csv`` writes them (missing: empty; floats as their
    shortest round-trip ``repr``, as `csv.writer` does; a string quoted where it must be),
    or None for a column this writer does not know (then pandas writes the whole table)."""
    kind = series.dtype.kind
    if kind not in "iubfO":
        return None
    values = series.tolist()
    if kind in "iub":
        return list(map(str, values))
    if kind == "f":
        if not series.isna().any():  # the common case: one C-level map, no test per cell
            return list(map(repr, values))
        return ["" if value != value else repr(value) for value in values]
    cells = []
    for value in values:
        kind_of = type(value)
        if kind_of is str:
            if "\r" in value:
                return None
            if any(mark in value for mark in _QUOTED):
                value = '"' + value.replace('"', '""') + '"'
            cells.append(value)
        elif kind_of is float:
            cells.append("" if value != value else repr(value))
        elif value is None:
            cells.append("")
        elif kind_of in _PLAIN:
            cells.append(str(value))
        else:
            return None
    return cells


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """``frame.to_csv(path, index=False)``, byte for byte, at several times its speed.

    pandas formats each float through numpy and writes with the `csv` module; Python's
    ``repr`` of a float is the same shortest round-trip text, so each column becomes its
    cells' text at once (`_cells`) and the rows are joined without the per-cell work of
    `csv.writer` (pandas' dialect: minimal quoting, ``"`` doubled, ``\n`` lines).
    """
    columns = [_cells(frame[name]) for name in frame.columns]
    if (
        frame.columns.has_duplicates
        or len(frame.columns) < 2  # csv quotes a lone empty cell: not worth a special case
        or any(column is None for column in columns)
    ):
        frame.to_csv(path, index=False)
        return
    with open(path, "w", encoding="utf-8", newline="") as stream:
        csv.writer(stream, lineterminator="\n").writerow(frame.columns)
        if len(frame):
            stream.write("\n".join(map(",".join, zip(*columns, strict=True))))  # type: ignore[arg-type]
            stream.write("\n")


def write_table(out_dir: Path, frame: pd.DataFrame, spec_text: str) -> list[Path]:
    """``results.parquet``, ``results.csv`` and ``spec.yaml``, each replaced atomically."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _replace_atomically(out_dir, TABLE_PARQUET, lambda p: frame.to_parquet(p, index=False))
        _replace_atomically(out_dir, TABLE_CSV, lambda p: write_csv(frame, p))
        _replace_atomically(
            out_dir, SPEC_COPY, lambda p: Path(p).write_text(spec_text, encoding="utf-8")
        )
    except OSError as error:
        raise PerfsimError(f"--out: cannot write to {out_dir} ({error.strerror})") from None
    return [out_dir / TABLE_PARQUET, out_dir / TABLE_CSV, out_dir / SPEC_COPY]


def read_table(path: str | Path) -> pd.DataFrame:
    """A results table: a ``.parquet`` or ``.csv`` file, or a sweep folder holding one."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / TABLE_PARQUET if (path / TABLE_PARQUET).exists() else path / TABLE_CSV
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            return pd.read_csv(path)
    except FileNotFoundError:
        raise PerfsimError(f"{path}: file not found") from None
    except (OSError, ValueError) as error:
        raise PerfsimError(f"{path}: cannot read the results table ({error})") from None
    raise PerfsimError(f"{path}: expected a results .parquet or .csv file, or a sweep folder")
