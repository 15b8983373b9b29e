"""Reading a batch of real sequence lengths: a file (text, CSV or a JSON list) or a seeded
distribution spec (``uniform:MIN-MAX``, ``normal:MEAN,STD,MAX``, ``@SEED``).

`perfsim.whatif.lengths` builds the graphs that run them; the CLI's ``--seq-lengths`` and a
schedule's ``seq_lengths`` read them here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from perfsim.errors import SpecError


class LengthsError(SpecError):
    """A malformed ``--seq-lengths`` file or spec; the message names it."""


def _draw(kind: str, args: str, count: int, seed: int, spec: str) -> list[int]:
    import numpy as np

    rng = np.random.default_rng(seed)
    try:
        if kind == "uniform":
            low, _, high = args.partition("-")
            lo, hi = int(low), int(high)
            if not 1 <= lo <= hi:
                raise ValueError
            return [int(v) for v in rng.integers(lo, hi + 1, size=count)]
        if kind == "normal":
            mean, std, most = (float(part) for part in args.split(","))
            if std < 0 or most < 1:
                raise ValueError
            draws = np.clip(np.rint(rng.normal(mean, std, size=count)), 1, int(most))
            return [int(v) for v in draws]
    except ValueError:
        pass
    raise LengthsError(
        f"--seq-lengths: cannot read {spec!r}; expected a file, uniform:MIN-MAX or "
        "normal:MEAN,STD,MAX (optionally @SEED)"
    )


def _read_file(path: Path) -> list[int]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as error:
            raise LengthsError(f"{path}: malformed JSON at line {error.lineno}") from None
        if isinstance(data, dict):
            data = data.get("lengths")
        if not isinstance(data, list):
            raise LengthsError(f"{path}: expected a JSON list of lengths (or {{'lengths': [...]}})")
        items = data
    else:  # text or CSV: numbers separated by commas, spaces or newlines; a header is skipped
        items = text.replace(",", " ").split()
        if items and not items[0].lstrip("-").isdigit():
            items = items[1:]
    lengths = []
    for position, item in enumerate(items, start=1):
        try:
            value = int(item)
            if isinstance(item, float | bool) or (isinstance(item, str) and not item.isdigit()):
                raise ValueError
        except (TypeError, ValueError):
            raise LengthsError(
                f"{path}: length #{position}: expected a positive integer, got {item!r}"
            ) from None
        lengths.append(value)
    return lengths


def parse_lengths(spec: str, count: int = 1) -> tuple[int, ...]:
    """Lengths from a file (text, CSV or JSON list) or a seeded spec.

    ``uniform:32-128`` and ``normal:40,20,128`` (mean, std, max; clipped to [1, max]) draw
    ``count`` lengths with seed 0, or the seed after ``@`` (``uniform:32-128@7``). A file
    gives its own lengths (``count`` is ignored).
    """
    kind, _, rest = spec.partition(":")
    if _is_distribution(spec):
        args, _, seed_text = rest.partition("@")
        if seed_text and not seed_text.isdigit():
            raise LengthsError(f"--seq-lengths: seed {seed_text!r} is not a whole number")
        if count < 1:
            raise LengthsError(f"--batch: expected a positive integer, got {count}")
        lengths = _draw(kind, args, count, int(seed_text or 0), spec)
    else:
        path = Path(spec)
        if not path.is_file():
            raise LengthsError(
                f"--seq-lengths: {spec}: no such file; expected a file, uniform:MIN-MAX or "
                "normal:MEAN,STD,MAX"
            )
        lengths = _read_file(path)
        if not lengths:
            raise LengthsError(f"{path}: no lengths")
        bad = next((v for v in lengths if v < 1), None)
        if bad is not None:
            raise LengthsError(f"{path}: lengths must be positive integers, got {bad}")
    return tuple(lengths)


def fill_batch(spec: str, batch: int, longest: int) -> tuple[int, ...]:
    """``batch`` lengths from ``spec`` (`parse_lengths`, drawing ``batch`` from a
    distribution): a file shorter than the batch is the batch's mix of lengths, repeated
    to fill it (its count must divide ``batch``); no length above ``longest``.

    Raises:
        LengthsError: a count that does not divide the batch, a length above ``longest``.
    """
    lengths = parse_lengths(spec, batch)
    if batch % len(lengths):
        raise LengthsError(
            f"{len(lengths)} lengths do not fill the global batch {batch} (give a count "
            "that divides it)"
        )
    if max(lengths) > longest:
        raise LengthsError(f"a sequence of {max(lengths)} tokens exceeds the phase's seq {longest}")
    return lengths * (batch // len(lengths))


def cycled_lengths(spec: str, batch: int) -> tuple[int, ...]:
    """``batch`` lengths from ``spec`` for a batch the caller chooses (`perfsim fit`).

    A distribution draws ``batch``. A file is a mix, not a batch: its lengths are taken in
    one fixed shuffled order (seed 0) and repeated until the batch is full, so a small
    batch is a sample of the whole mix (a file sorted by length would otherwise hand the
    small batches its shortest sequences) and a multiple of the file's count is exactly
    the mix. Either way the first ``b`` lengths are the same for every larger batch: a
    bigger batch only adds sequences.
    """
    import numpy as np

    lengths = parse_lengths(spec, batch)
    if _is_distribution(spec):
        return lengths
    order = np.random.default_rng(0).permutation(len(lengths))
    return tuple(lengths[int(order[index % len(lengths)])] for index in range(batch))


def _is_distribution(spec: str) -> bool:
    kind, sep, _ = spec.partition(":")
    return bool(sep) and kind in ("uniform", "normal")


__all__ = ["LengthsError", "cycled_lengths", "fill_batch", "parse_lengths"]
