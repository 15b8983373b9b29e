"""Many doubles as Python's ``repr`` writes them (the text ``to_csv`` puts in a cell), fast.

``repr`` of a float is the shortest text that reads back as the same double (David Gay's
dtoa), about 0.3-0.7 us a value; a sweep's table has some 40 float columns a point.
orjson writes the same shortest digits with Ryu, about 20x faster, and lays them out as
``repr`` does (``0.1``, ``100.0``, ``-0.0``, ``1234.5``) for every magnitude in
[1e-4, 1e16). Outside it the digits are the same and only the layout differs: ``repr``
writes an exponent of at least two digits with its sign (``1.5e-07``, ``1e+16``) where
orjson writes ``1.5e-7`` or ``1e16`` (fixed by byte replacements over the column's
text), and ``1.5e-05`` where orjson writes ``0.000015`` in [1e-5, 1e-4) (those cells
rebuilt from orjson's digits). A sweep's latencies per op category are mostly below
1e-4, so these are many of a table's cells (about 9 a point), not a few. NaN and
infinities (orjson's ``null``) are written by ``repr`` itself. tests/test_float_text.py
checks the equality on random bit patterns of every magnitude.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import orjson

# repr's positional range: the decimal point within 16 digits and no more than 4 zeros
# after it (CPython's float_repr_style "short": an exponent for decpt <= -4 or > 16)
_POSITIONAL = (1e-4, 1e16)
_FIVE_ZEROS = 1e-5  # orjson writes [1e-5, 1e-4) as "0.0000" and the digits
_EXPONENT = 1e16  # orjson writes an exponent from 1e16 up and below 1e-5
# orjson's one-digit negative exponents (below 1e-5: 6 to 9) at a cell's end, "e-7,"; repr
# writes "e-07"
_NEGATIVE = [(b"e-%d," % digit, b"e-0%d," % digit) for digit in range(6, 10)]
_POSITIVE = [(b"e%d" % digit, b"e+%d" % digit) for digit in range(1, 10)]  # "e16": "e+16"


def float_cells(values: npt.NDArray[np.float64]) -> list[str]:
    """``[repr(float(v)) for v in values]`` for a 1-D float64 array."""
    if not len(values):
        return []
    text = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1] + b","
    magnitude = np.abs(values)
    if ((magnitude < _FIVE_ZEROS) & (values != 0.0)).any():
        for orjson_text, repr_text in _NEGATIVE:
            text = text.replace(orjson_text, repr_text)
    if (magnitude >= _EXPONENT).any():
        for orjson_text, repr_text in _POSITIVE:
            text = text.replace(orjson_text, repr_text)
    cells = text[:-1].decode().split(",")
    five = np.flatnonzero((magnitude >= _FIVE_ZEROS) & (magnitude < _POSITIONAL[0])).tolist()
    if five:
        for index, cell in zip(five, _five_zeros_cells(values[five]), strict=True):
            cells[index] = cell
    for index in np.flatnonzero(~np.isfinite(values)).tolist():
        cells[index] = repr(float(values[index]))
    return cells


def _five_zeros_cells(values: npt.NDArray[np.float64]) -> list[str]:
    """``repr`` of values in [1e-5, 1e-4) (either sign): orjson's "0.0000dddd" as "d.ddde-05"."""
    text = orjson.dumps(np.abs(values), option=orjson.OPT_SERIALIZE_NUMPY)
    cells = [
        f"{cell[6]}.{cell[7:]}e-05" if len(cell) > 7 else f"{cell[6]}e-05"
        for cell in text[1:-1].decode().split(",")
    ]
    for index in np.flatnonzero(values < 0).tolist():
        cells[index] = "-" + cells[index]
    return cells
