"""`perfsim.sweep.identity.device_text` writes the bytes ``json.JSONEncoder(default=str)``
writes for ``[digest, values]``, whatever the values (the plain ones directly, the rest
through the encoder), so point ids stay the same."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from perfsim.sweep.identity import device_text, point_id

_ENCODE = json.JSONEncoder(default=str).encode
_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.text(),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
)


@given(digest=st.text(), values=st.dictionaries(st.text(), _VALUES, max_size=5))
def test_device_text_equals_the_encoder(digest: str, values: dict[str, Any]) -> None:
    assert device_text(digest, values, _ENCODE) == _ENCODE([digest, values])


@given(device=st.text(), before=st.text(), after=st.text())
def test_point_id_digests_the_json_of_the_device(device: str, before: str, after: str) -> None:
    text = before + json.dumps(device) + after
    assert point_id((before, after), device) == hashlib.sha256(text.encode()).hexdigest()[:20]
