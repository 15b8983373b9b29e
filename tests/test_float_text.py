"""`perfsim.sweep.float_text.float_cells` writes every double as ``repr`` does: random bit
patterns (every magnitude, NaN and infinities among them), the edges of ``repr``'s
positional range, and hypothesis' floats."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from perfsim.sweep.float_text import float_cells

_EDGES = [1e-4, 9.999999999999999e-05, 1e16, 9999999999999998.0, 0.0, -0.0, 5e-324]
_EDGES += [1.7976931348623157e308, float("nan"), float("inf"), -float("inf"), 0.1, 100.0]
_EDGES += [1e-5, -1e-5, 9.999999999999999e-06, 1.5e-05, -2.5e-07, 1e-07, 1e22, -1.5e300]


def _reprs(values: np.ndarray) -> list[str]:
    return list(map(repr, values.tolist()))


def test_random_bit_patterns_and_magnitudes() -> None:
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**64, size=200_000, dtype=np.uint64).view(np.float64)
    spread = np.exp(rng.uniform(-30.0, 60.0, size=200_000)) * rng.choice([-1.0, 1.0], 200_000)
    for values in (bits, spread, np.array(_EDGES)):
        assert float_cells(values) == _reprs(values)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=20))
def test_any_floats(floats: list[float]) -> None:
    values = np.array(floats, dtype=np.float64)
    assert float_cells(values) == _reprs(values)
