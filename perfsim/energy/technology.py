"""Technology-node scaling of dynamic energy (Stillmaker & Baas 2017).

Energy per operation at node N and supply V is fitted as ``E_N(V) = a V^2 + b V + c``
(Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS device
performance from 180 nm to 7 nm", Integration 58, 2017, Table 4; HP models below 65 nm).
Coefficients as tabulated in UCLA NanoCAD's ``nodeScale.py`` (W. Romaszkan, 2021), which
matches the authors' corrigendum for HP 32 nm and 65 nm. A 45 nm figure becomes
``E_45 * E_N(V) / E_HP45(V)``, at V = 0.9 V, the supply of Horowitz's 45 nm table.

Between tabulated nodes the factor is interpolated linearly in log(node); outside
7-180 nm it is clamped to the nearest end (NB: overstates energy below 7 nm).
"""

from __future__ import annotations

import math
from typing import Final

# node (nm) -> (a, b, c) of E(V) = a V^2 + b V + c
ENERGY_FIT: Final[dict[float, tuple[float, float, float]]] = {
    180.0: (0.0, 24.64, -17.98),
    130.0: (7.171, -6.709, 2.904),
    90.0: (4.762, -4.781, 2.092),
    65.0: (3.755, -4.398, 1.975),
    45.0: (1.018, -0.3107, 0.1539),  # HP45
    32.0: (0.8367, -0.4341, 0.1701),  # HP32
    20.0: (0.373, -0.1582, 0.04104),  # HP20
    16.0: (0.2958, -0.1241, 0.03024),  # HP16
    14.0: (0.2363, -0.09675, 0.02239),  # HP14
    10.0: (0.2068, -0.09311, 0.02375),  # HP10
    7.0: (0.1776, -0.09097, 0.02447),  # HP7
}
REFERENCE_NODE_NM: Final = 45.0
REFERENCE_VDD: Final = 0.9


def _fit(node_nm: float, vdd: float) -> float:
    a, b, c = ENERGY_FIT[node_nm]
    return a * vdd * vdd + b * vdd + c


def energy_scale(node_m: float, vdd: float = REFERENCE_VDD) -> float:
    """Factor from a 45 nm, 0.9 V energy to ``node_m`` (metres), e.g. 7e-9 → 0.1237."""
    node_nm = node_m * 1e9
    nodes = sorted(ENERGY_FIT)
    node_nm = min(max(node_nm, nodes[0]), nodes[-1])
    reference = _fit(REFERENCE_NODE_NM, REFERENCE_VDD)
    if node_nm in ENERGY_FIT:
        return _fit(node_nm, vdd) / reference
    upper = min(n for n in nodes if n > node_nm)
    lower = max(n for n in nodes if n < node_nm)
    weight = (math.log(node_nm) - math.log(lower)) / (math.log(upper) - math.log(lower))
    value = (1 - weight) * _fit(lower, vdd) + weight * _fit(upper, vdd)
    return value / reference
