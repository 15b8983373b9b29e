"""A design point's id: a digest of the JSON text of what sets its numbers.

The text is that of one ``json.dumps(identity, sort_keys=True, default=str)`` of the
point's scenario, engine and device, where the device is itself the JSON text of its base
file's digest and the SI values its axes set (`device_text`). A sweep builds the text
around the device once per scenario (`identity_text`) and the device's text once per
point, with `device_text`: the bytes ``json.JSONEncoder(default=str).encode`` writes,
without its encoder machinery for the plain values a sweep sets (floats, ints, strings).
Ids must never change for the same design (a re-run recognizes the points it has).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring_ascii
from typing import Any

from perfsim.scenario import Scenario
from perfsim.workload import ModelSpec

RESULTS_VERSION = 2  # bump when the row a point produces changes meaning: re-runs recompute
_HW_MARK = "\x00hw\x00"  # stands for the device identity in a point's identity text


def identity_text(point_scenario: Scenario, model: ModelSpec, engine: str) -> tuple[str, str]:
    """A point's identity as JSON around its device (``before + json(device) + after``):
    the same text as one `json.dumps` of the whole identity, built once per scenario."""
    identity = {
        "version": RESULTS_VERSION,
        "model": [model.name, model.config_hash],
        "batch": point_scenario.batch,
        "seq": point_scenario.seq,
        "mode": point_scenario.mode,
        "precision": point_scenario.precision,
        "engine": engine,
        "hw": _HW_MARK,
        "whatif": dict(sorted(point_scenario.whatifs.applied().items())),
    }
    text = json.dumps(identity, sort_keys=True, default=str)
    before, _, after = text.partition(json.dumps(_HW_MARK))
    return before, after


def point_id(identity: tuple[str, str], device: str) -> str:
    """A digest of what sets a point's numbers (its scenario, engine and device)."""
    text = identity[0] + encode_basestring_ascii(device) + identity[1]  # json.dumps(device)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def device_text(digest: str, values: Mapping[str, Any], encode: Callable[[Any], str]) -> str:
    """``encode([digest, values])`` (``encode``: a ``json.JSONEncoder(default=str)``'s),
    written directly where every value is a finite float, an int or a string (the text
    the encoder writes for them: ``repr`` of numbers, ASCII-escaped strings, ", " and
    ": " between items); ``encode`` itself otherwise."""
    items = []
    for name, value in values.items():
        kind = type(value)
        if kind is float and math.isfinite(value):
            text = float.__repr__(value)
        elif kind is int:
            text = int.__repr__(value)
        elif kind is str:
            text = encode_basestring_ascii(value)
        else:
            return encode([digest, values])
        items.append(f"{encode_basestring_ascii(name)}: {text}")
    return f"[{encode_basestring_ascii(digest)}, {{{', '.join(items)}}}]"
