"""Many doubles as Python's ``repr`` writes them (the text ``to_csv`` puts in a cell), fast.

``repr`` of a float is the shortest text that reads back as the same double (David Gay's
dtoa), about 0.3-0.7 us a value; a sweep's table has some 40 float columns a point.
orjson writes the same shortest digits with Ryu, about 20x faster, and lays them out as
``repr`` does (``0.1``, ``100.0``, ``-0.0``, ``1234.5``) for every magnitude in
[1e-4, 1e16); outside it ``repr`` uses an exponent (``1e-05``, ``1e+16``) where orjson
writes ``0.00001`` or ``1e16``, so those few values, and NaN and infinities (orjson's
``null``), are written by ``repr`` itself. tests/test_float_text.py checks the
equality on random bit patterns of every magnitude.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import orjson

# repr's positional range: the decimal point within 16 digits and no more than 4 zeros
# after it (CPython's float_repr_style "short": an exponent for decpt <= -4 or > 16)
_POSITIONAL = (1e-4, 1e16)


def float_cells(values: npt.NDArray[np.float64]) -> list[str]:
    """``[repr(float(v)) for v in values]`` for a 1-D float64 array."""
    if not len(values):
        return []
    magnitude = np.abs(values)
    odd = ~((magnitude >= _POSITIONAL[0]) & (magnitude < _POSITIONAL[1]))
    odd &= values != 0.0  # zeros (either sign) are positional: "0.0", "-0.0"
    cells = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().split(",")
    for index in np.flatnonzero(odd).tolist():
        cells[index] = repr(float(values[index]))
    return cells
