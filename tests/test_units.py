"""`perfsim.units`: unit strings in, SI floats out; SI floats in, unit strings out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfsim.units import format_duration, format_quantity, parse_quantity

# (text, dimension, SI value); decimal prefixes are powers of 1000, binary ones of 1024
PARSE_CASES = [
    ("40 MB", "bytes", 40e6),
    ("40 MiB", "bytes", 40 * 2**20),  # = 41_943_040
    ("16 KiB", "bytes", 16 * 1024),
    ("8 GiB", "bytes", 8 * 2**30),
    ("1 kB", "bytes", 1e3),
    ("900 GB/s", "bandwidth", 9e11),
    ("3.35 TB/s", "bandwidth", 3.35e12),
    ("1 GiB/s", "bandwidth", 2.0**30),
    ("1.41 GHz", "frequency", 1.41e9),
    ("1050 MHz", "frequency", 1.05e9),
    ("5 us", "time", 5e-6),
    ("5 µs", "time", 5e-6),  # U+00B5 MICRO SIGN
    ("2 ns", "time", 2e-9),
    ("0 s", "time", 0.0),
    ("4.6 pJ", "energy", 4.6e-12),
    ("1.2e-3 J", "energy", 1.2e-3),
    ("300 W", "power", 300.0),
    ("17.5 W", "power", 17.5),
    ("500 mW", "power", 0.5),
    ("7 nm", "length", 7e-9),
    ("  7nm  ", "length", 7e-9),  # whitespace around and between is optional
]


@pytest.mark.parametrize(("text", "dimension", "expected"), PARSE_CASES, ids=lambda v: str(v))
def test_parse_quantity(text: str, dimension: str, expected: float) -> None:
    assert parse_quantity(text, dimension) == pytest.approx(expected, rel=1e-12)


def test_decimal_and_binary_prefixes_differ() -> None:
    # 40 MiB / 40 MB = 2**20 / 10**6 = 1.048576
    ratio = parse_quantity("40 MiB", "bytes") / parse_quantity("40 MB", "bytes")
    assert ratio == pytest.approx(1.048576)


REJECT_CASES = [
    ("900", "bandwidth"),  # a bare number string: no unit
    (900, "bandwidth"),  # a bare YAML number
    (1.41e9, "frequency"),
    (True, "bytes"),
    (None, "time"),
    ("900 GB", "bandwidth"),  # bytes where bytes/s are needed
    ("900 GB/s", "bytes"),  # and the other way round
    ("1.41 GHz", "time"),
    ("5 J", "power"),
    ("40 XB", "bytes"),  # unknown prefix
    ("5 Ms", "time"),  # mega-seconds: not a prefix perfsim takes for time
    ("1 KiHz", "frequency"),  # binary prefixes are for bytes only
    ("1.41 ghz", "frequency"),  # units are case-sensitive
    ("fast", "frequency"),  # garbage
    ("", "bytes"),
    ("GHz", "frequency"),
    ("1.2.3 GHz", "frequency"),
    ("12 GB/s extra", "bandwidth"),
]


@pytest.mark.parametrize(("text", "dimension"), REJECT_CASES, ids=lambda v: repr(v))
def test_parse_quantity_rejects(text: object, dimension: str) -> None:
    with pytest.raises(ValueError, match="expected") as caught:
        parse_quantity(text, dimension)  # type: ignore[arg-type]
    assert dimension in str(caught.value)  # names what was expected
    assert "\n" not in str(caught.value)


# (dimension, unit, SI factor): one row per unit form the property below exercises
UNIT_FACTORS = [
    ("bytes", "B", 1.0),
    ("bytes", "kB", 1e3),
    ("bytes", "MB", 1e6),
    ("bytes", "KiB", 2.0**10),
    ("bytes", "MiB", 2.0**20),
    ("bytes", "GiB", 2.0**30),
    ("bytes", "TiB", 2.0**40),
    ("bandwidth", "GB/s", 1e9),
    ("bandwidth", "TB/s", 1e12),
    ("bandwidth", "MiB/s", 2.0**20),
    ("frequency", "Hz", 1.0),
    ("frequency", "MHz", 1e6),
    ("frequency", "GHz", 1e9),
    ("time", "s", 1.0),
    ("time", "ms", 1e-3),
    ("time", "us", 1e-6),
    ("time", "µs", 1e-6),
    ("time", "ns", 1e-9),
    ("energy", "J", 1.0),
    ("energy", "pJ", 1e-12),
    ("energy", "fJ", 1e-15),
    ("energy", "kJ", 1e3),
    ("power", "W", 1.0),
    ("power", "mW", 1e-3),
    ("power", "kW", 1e3),
    ("length", "m", 1.0),
    ("length", "nm", 1e-9),
]


@given(
    x=st.floats(min_value=1e-30, max_value=1e30, allow_nan=False, allow_infinity=False),
    unit=st.sampled_from(UNIT_FACTORS),
)
def test_parse_quantity_scales_by_prefix(x: float, unit: tuple[str, str, float]) -> None:
    dimension, symbol, factor = unit
    assert parse_quantity(f"{x!r} {symbol}", dimension) == pytest.approx(x * factor, rel=1e-12)


FORMAT_CASES = [
    (9e11, "B/s", False, "900 GB/s"),
    (40 * 2**20, "B", True, "40 MiB"),
    (40e6, "B", False, "40 MB"),
    (1.41e9, "Hz", False, "1.41 GHz"),
    (5e-6, "s", False, "5 µs"),
    (2e-9, "s", False, "2 ns"),
    (4.6e-12, "J", False, "4.6 pJ"),
    (300.0, "W", False, "300 W"),
    (7e-9, "m", False, "7 nm"),
    (0.0, "J", False, "0 J"),
    (-3e-3, "s", False, "-3 ms"),
]


@pytest.mark.parametrize(("value", "unit", "binary", "expected"), FORMAT_CASES)
def test_format_quantity(value: float, unit: str, binary: bool, expected: str) -> None:
    assert format_quantity(value, unit, binary=binary) == expected


# (unit, dimension, binary, largest value): below 1e18 (E) and 2**50 (Pi)
ROUND_TRIP = [
    ("B", "bytes", True, 2.0**50 - 1),
    ("B", "bytes", False, 9.99e17),
    ("B/s", "bandwidth", False, 9.99e17),
]


@given(data=st.data(), form=st.sampled_from(ROUND_TRIP))
def test_format_then_parse_round_trips(
    data: st.DataObject, form: tuple[str, str, bool, float]
) -> None:
    # format_quantity keeps 4 significant digits, so the round trip is exact to 5e-4
    unit, dimension, binary, largest = form
    value = data.draw(st.floats(min_value=1.0, max_value=largest))
    text = format_quantity(value, unit, binary=binary)
    assert parse_quantity(text, dimension) == pytest.approx(value, rel=5e-4)


@given(
    value=st.floats(min_value=1e-15, max_value=999.0),  # 1000 s formats as '1 ks', see below
    form=st.sampled_from([("s", "time"), ("J", "energy"), ("W", "power")]),
)
def test_format_then_parse_round_trips_small(value: float, form: tuple[str, str]) -> None:
    unit, dimension = form
    text = format_quantity(value, unit)
    assert parse_quantity(text, dimension) == pytest.approx(value, rel=5e-4)


@pytest.mark.parametrize(
    ("value", "unit", "dimension", "binary"),
    [
        (2e18, "B", "bytes", False),  # "2 EB"
        (3 * 2.0**50, "B", "bytes", True),  # "3 PiB"
        (2e3, "s", "time", False),  # "2 ks"
    ],
)
def test_format_then_parse_round_trips_at_the_edges(
    value: float, unit: str, dimension: str, binary: bool
) -> None:
    text = format_quantity(value, unit, binary=binary)
    assert parse_quantity(text, dimension) == pytest.approx(value, rel=5e-4)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.1729, "172.9 ms"),  # one MLPerf v1.0 step
        (59.9, "59.9 s"),
        (4571.4, "76.2 min"),  # the LAMB paper's 76.19 minutes
        (7199.0, "120.0 min"),
        (298_080.0, "82.8 h"),  # its 16-chip run
    ],
)
def test_format_duration(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected
