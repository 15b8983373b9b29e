"""Technology-node scaling of die area: logic and SRAM scale differently.

- Logic: Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS device
  performance from 180 nm to 7 nm", Integration 58 (2017), area scaling factors, as
  tabulated in UCLA NanoCAD's ``nodeScale.py`` (W. Romaszkan, 2021; ``areaDict['45']``:
  area at node N relative to 45 nm). Between tabulated nodes the factor is interpolated
  linearly in log(area) over log(node); below 7 nm it follows the 10 -> 7 nm slope
  (NB: TSMC quotes 1.8x logic density N7 -> N5, the slope gives 1.64x, a small
  overstatement of area below 7 nm); above 180 nm it is clamped.
- SRAM: the published 6T high-density bitcell area of each node (foundry / IEDM figures as
  collected by WikiChip), since SRAM has shrunk much less than logic below 16 nm (e.g.
  TSMC N7 -> N5 only 0.027 -> 0.021 um^2 while logic gained 1.8x).
"""

from __future__ import annotations

import bisect
import functools
import math
from typing import Final

# node (nm) -> area relative to 45 nm (Stillmaker & Baas 2017 via nodeScale.py areaDict['45'])
LOGIC_AREA_VS_45NM: Final[dict[float, float]] = {
    180.0: 19.0,
    130.0: 6.4,
    90.0: 2.8,
    65.0: 1.5,
    45.0: 1.0,
    32.0: 0.46,
    20.0: 0.21,
    16.0: 0.19,
    14.0: 0.17,
    10.0: 0.1,
    7.0: 0.059,
}

# node (nm) -> 6T high-density SRAM bitcell area, um^2
SRAM_BITCELL_UM2: Final[dict[float, float]] = {
    # source: TSMC 65 nm 0.52 um^2 high-density 6T cell (WikiChip, 65 nm lithography process)
    65.0: 0.52,
    45.0: 0.346,  # source: Intel 45 nm 0.346 um^2 (Mistry et al., IEDM 2007)
    40.0: 0.242,  # source: TSMC 40 nm 0.242 um^2 (WikiChip, 40 nm lithography process)
    32.0: 0.171,  # source: Intel 32 nm 0.171 um^2 (Natarajan et al., IEDM 2008)
    # source: TSMC 28 nm 0.127 um^2 high-density cell (WikiChip, 28 nm lithography process)
    28.0: 0.127,
    22.0: 0.092,  # source: Intel 22 nm 0.092 um^2 (WikiChip, 22 nm lithography process)
    20.0: 0.081,  # source: TSMC 20SoC 0.081 um^2 (WikiChip, 20 nm lithography process)
    # source: TSMC 16FF+ 0.074 um^2 (WikiChip, "TSMC details 5 nm", 2019 comparison table)
    16.0: 0.074,
    # source: TSMC 12FFN/12FFC are 16FF derivatives with the same 0.074 um^2 cell (WikiChip)
    12.0: 0.074,
    10.0: 0.042,  # source: TSMC N10 0.042 um^2 (WikiChip, "TSMC details 5 nm", 2019)
    7.0: 0.027,  # source: TSMC N7 0.027 um^2 (WikiChip, "TSMC details 5 nm", 2019)
    5.0: 0.021,  # source: TSMC N5 0.021 um^2 (WikiChip, "TSMC details 5 nm", 2019)
    # source: TSMC N4 is an N5-family node with the same 0.021 um^2 cell (TSMC N4 announcement,
    # 2020)
    4.0: 0.021,
    3.0: 0.0199,  # source: TSMC N3 0.0199 um^2 (WikiChip / TSMC IEDM 2022)
}


def _loglog(table: dict[float, float], node_nm: float, extrapolate_below: bool) -> float:
    node_nm = round(node_nm, 6)  # 28e-9 m * 1e9 is 28.000000000000004 nm
    found = table.get(node_nm)
    if found is not None:
        return found
    nodes = sorted(table)
    if node_nm > nodes[-1]:
        return table[nodes[-1]]
    if node_nm < nodes[0]:
        if not extrapolate_below:
            return table[nodes[0]]
        lower, upper = nodes[0], nodes[1]
    else:
        index = bisect.bisect(nodes, node_nm)
        lower, upper = nodes[index - 1], nodes[index]
    slope = math.log(table[upper] / table[lower]) / math.log(upper / lower)
    return table[lower] * (node_nm / lower) ** slope


# pure functions of one float: a sweep prices thousands of designs at the same one or two
# nodes, and the table walk (sort, bisect, log) cost more than the rest of an area estimate
@functools.lru_cache(maxsize=256)
def logic_area_scale(node_m: float) -> float:
    """Logic area at ``node_m`` (metres) relative to the same logic at 45 nm (7e-9 -> 0.059)."""
    return _loglog(LOGIC_AREA_VS_45NM, node_m * 1e9, extrapolate_below=True)


@functools.lru_cache(maxsize=256)
def sram_bitcell_m2(node_m: float) -> float:
    """6T SRAM bitcell area at ``node_m`` (metres), m^2 (7e-9 -> 0.027e-12)."""
    return _loglog(SRAM_BITCELL_UM2, node_m * 1e9, extrapolate_below=False) * 1e-12
