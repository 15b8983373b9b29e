"""The only unit parser: ``"900 GB/s"`` → ``9e11`` (SI floats inside, strings at the edges).

Decimal prefixes (k, M, G, T) are powers of 1000, binary ones (Ki, Mi, Gi, Ti) powers of
1024, so ``"40 MB"`` is 40e6 bytes and ``"40 MiB"`` is 41_943_040 bytes. A bare number is
rejected for dimensioned quantities: a hardware figure without a unit is ambiguous.
"""

from __future__ import annotations

import re
from typing import Final

_DECIMAL: Final = {
    "": 1.0,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}
_BINARY: Final = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}
# micro: "u", the micro sign (U+00B5) and the Greek mu (U+03BC) people also type
_SMALL: Final = {
    "": 1.0,
    "m": 1e-3,
    "u": 1e-6,
    "\u00b5": 1e-6,
    "\u03bc": 1e-6,
    "n": 1e-9,
    "p": 1e-12,
    "f": 1e-15,
}

# dimension -> (unit symbol, allowed prefixes)
_UNITS: Final[dict[str, tuple[str, dict[str, float]]]] = {
    "bytes": ("B", {**_DECIMAL, **_BINARY}),
    "bandwidth": ("B/s", {**_DECIMAL, **_BINARY}),
    "frequency": ("Hz", _DECIMAL),
    "time": ("s", {**_SMALL, "k": 1e3}),
    "energy": ("J", {**_SMALL, **_DECIMAL}),
    "power": ("W", {**_SMALL, **_DECIMAL}),
    "length": ("m", _SMALL),
}

_QUANTITY = re.compile(
    r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z\u00b5\u03bc/]*)\s*$"
)

EXAMPLES: Final = {
    "bytes": "'40 MiB'",
    "bandwidth": "'900 GB/s'",
    "frequency": "'1.41 GHz'",
    "time": "'5 us'",
    "energy": "'1.2 pJ'",
    "power": "'300 W'",
    "length": "'7 nm'",
}


def parse_quantity(text: str | int | float, dimension: str) -> float:
    """Parse a unit string of the given dimension into SI base units.

    Args:
        text: e.g. ``"900 GB/s"``, ``"40 MiB"``, ``"1.41 GHz"``, ``"4.6 pJ"``.
        dimension: one of ``bytes, bandwidth, frequency, time, energy, power, length``.

    Returns:
        The value in bytes, bytes/s, Hz, seconds, joules, watts or metres.

    Raises:
        ValueError: the text is not a number followed by a unit of that dimension.
    """
    symbol, prefixes = _UNITS[dimension]
    expected = f"expected a {dimension} like {EXAMPLES[dimension]}"
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValueError(f"{text!r} has no unit; {expected}")
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"cannot parse {text!r}; {expected}")
    number, unit = float(match.group(1)), match.group(2)
    if not unit.endswith(symbol):
        raise ValueError(f"{text!r} has unit {unit or 'none'!r}; {expected}")
    prefix = unit[: len(unit) - len(symbol)]
    if prefix not in prefixes:
        raise ValueError(f"{text!r} has unknown prefix {prefix!r}; {expected}")
    return number * prefixes[prefix]


def format_duration(seconds: float) -> str:
    """A wall-clock span for humans: seconds under a minute (``format_quantity``), minutes
    under two hours, hours beyond: ``format_duration(4572) == "76.2 min"``."""
    if seconds < 60:
        return format_quantity(seconds, "s")
    if seconds < 7200:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds / 3600:,.1f} h"


def format_quantity(value: float, unit: str, *, binary: bool = False) -> str:
    """Format an SI value for humans: ``format_quantity(9e11, "B/s") == "900 GB/s"``."""
    if value == 0:
        return f"0 {unit}"
    base = 1024.0 if binary else 1000.0
    big = ["", "Ki", "Mi", "Gi", "Ti", "Pi"] if binary else ["", "k", "M", "G", "T", "P", "E"]
    if unit == "s":
        big = [""]  # 2000 s, not "2 ks"
    small = ["", "m", "µ", "n", "p", "f"]
    magnitude = abs(value)
    if magnitude >= 1:
        index = 0
        while magnitude >= base and index < len(big) - 1:
            magnitude /= base
            index += 1
        return f"{value / base**index:.4g} {big[index]}{unit}"
    index = 0
    while magnitude < 1 and index < len(small) - 1:
        magnitude *= 1000.0
        index += 1
    return f"{value * 1000.0**index:.4g} {small[index]}{unit}"
