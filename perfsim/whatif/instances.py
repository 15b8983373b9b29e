"""Multi-instance inference: N model instances share one device.

FastFormers (Kim & Awadalla, "FastFormers: Highly Efficient Transformer Models for Natural
Language Understanding", 2020, section 4) run several model instances side by side, each
pinned to a subset of the cores, and report throughput of all of them together.

What is modelled: each instance gets ``floor(units / N)`` compute units (with their
per-unit memories) and 1/N of every shared memory level's bandwidth and capacity, of the
static power and of the power limit (``tdp``); one instance's graph is costed on that
share, and the summary reports the throughput of N concurrent instances
(``N * batch / latency``) with one instance's latency and energy. NB: shared-cache
contention beyond an even split, and the better utilization a smaller slice may get from
small batches (FastFormers' point), come only from the engine's own per-unit model.
"""

from __future__ import annotations

from typing import Any

from perfsim.hardware.spec import HardwareSpec
from perfsim.whatif.knobs import WhatIfError


def device_share(hw: HardwareSpec, instances: int) -> HardwareSpec:
    """The share of ``hw`` one of ``instances`` instances runs on (re-validated)."""
    if instances == 1:
        return hw
    units = hw.compute.units // instances
    if units < 1:
        raise WhatIfError(
            f"whatif.instances: {instances} instances need at least {instances} compute units; "
            f"{hw.name} has compute.units = {hw.compute.units}"
        )
    data: dict[str, Any] = hw.model_dump()
    data["compute"]["units"] = units
    for level in data["memory"]:
        if not level["per_unit"]:
            level["bandwidth"] /= instances
            level["capacity"] /= instances
    data["energy"]["static_power"] /= instances
    if data.get("tdp") is not None:
        data["tdp"] /= instances
    return HardwareSpec.from_si(data)
