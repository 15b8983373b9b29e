"""Resumable results: an append-only binary journal, compacted into Parquet and CSV.

Each finished batch is one record of the journal, appended (and flushed to disk) as soon
as the batch returns, so a sweep killed at any moment keeps every batch that finished. A
record is a 4-byte mark, the body's length (8 bytes) and CRC-32 (4 bytes), then the body:
a `perfsim.sweep.block.Block` (its floats as raw doubles: no float is formatted twice). A
record cut short by a kill, or garbled, ends the journal: what follows is dropped
(`trim_journal`) before new records are appended. Re-running the sweep reads the journal
and skips the ids already there (the last record wins). The final table is written only at
the end, each file through a temporary name and a rename, so a reader never sees half a
table.
"""

from __future__ import annotations

import csv
import os
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from perfsim.errors import PerfsimError
from perfsim.sweep.block import Block, by_id, decode, encode
from perfsim.sweep.float_text import float_cells

if TYPE_CHECKING:
    import pandas as pd

JOURNAL = "points.journal"
OLD_JOURNAL = "points.jsonl"  # perfsim before the binary journal: refused, not read
TABLE_PARQUET = "results.parquet"
TABLE_CSV = "results.csv"
SPEC_COPY = "spec.yaml"
_MARK = b"PSJ\x01"
_HEAD = 16  # mark, body length (u64), body CRC-32 (u32), little-endian


@dataclass(frozen=True, slots=True)
class Journal:
    """The finished batches of a journal, and the bytes its whole records take."""

    blocks: tuple[Block, ...] = ()
    size: int = 0

    def finished(self) -> dict[str, tuple[Block, int]]:
        """Each finished point id → its block and row there (the last record wins)."""
        return by_id(self.blocks)


def read_journal(out_dir: Path) -> Journal:
    """The journal's whole records, up to the first torn or garbled one.

    Raises:
        PerfsimError: ``out_dir`` holds a journal of an earlier perfsim (JSON lines).
    """
    old = out_dir / OLD_JOURNAL
    if old.exists():
        raise PerfsimError(
            f"{old}: a journal of an earlier perfsim (JSON lines), not read by this one; "
            "remove it to recompute its points, or choose another --out"
        )
    try:
        data = (out_dir / JOURNAL).read_bytes()
    except FileNotFoundError:
        return Journal()
    blocks: list[Block] = []
    offset = 0
    while offset + _HEAD <= len(data) and data[offset : offset + 4] == _MARK:
        length = int.from_bytes(data[offset + 4 : offset + 12], "little")
        body = data[offset + _HEAD : offset + _HEAD + length]
        if len(body) != length or zlib.crc32(body) != int.from_bytes(
            data[offset + 12 : offset + 16], "little"
        ):
            break
        try:
            blocks.append(decode(body))
        except (ValueError, KeyError, TypeError):
            break
        offset += _HEAD + length
    return Journal(tuple(blocks), offset)


def trim_journal(out_dir: Path, size: int) -> None:
    """Drop whatever follows the first ``size`` bytes (a record torn by a kill), so the
    next record appended is read back."""
    path = out_dir / JOURNAL
    try:
        if path.stat().st_size > size:
            os.truncate(path, size)
    except FileNotFoundError:
        return
    except OSError as error:
        raise PerfsimError(f"--out: cannot write to {out_dir} ({error.strerror})") from None


def append_journal(out_dir: Path, blocks: Iterable[Block]) -> None:
    """Append finished points (one record per block) and push them to disk."""
    records = []
    for block in blocks:
        body = encode(block)
        head = _MARK + len(body).to_bytes(8, "little") + zlib.crc32(body).to_bytes(4, "little")
        records.append(head + body)
    if not records:
        return
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with (out_dir / JOURNAL).open("ab") as stream:
            stream.write(b"".join(records))
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
    if kind == "f" and not series.isna().any():  # the common case: no test per cell
        return float_cells(np.ascontiguousarray(series.to_numpy(dtype=np.float64)))
    values = series.tolist()
    if kind in "iub":
        return list(map(str, values))
    if kind == "f":
        return ["" if value != value else repr(value) for value in values]
    if set(map(type, values)) == {str}:  # names, ids, designs: the marks looked for once
        joined = "".join(values)
        if "\r" in joined:
            return None
        return list(map(_quoted, values)) if any(m in joined for m in _QUOTED) else values
    cells = []
    for value in values:
        kind_of = type(value)
        if kind_of is str:
            if "\r" in value:
                return None
            cells.append(_quoted(value))
        elif kind_of is float:
            cells.append("" if value != value else repr(value))
        elif value is None:
            cells.append("")
        elif kind_of in _PLAIN:
            cells.append(str(value))
        else:
            return None
    return cells


def _quoted(text: str) -> str:
    """A string cell as csv's minimal quoting writes it (no ``\\r`` in it)."""
    if "," in text or '"' in text or "\n" in text:  # _QUOTED
        return '"' + text.replace('"', '""') + '"'
    return text


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
