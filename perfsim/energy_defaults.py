"""The default per-action energy table: Horowitz, "Computing's Energy Problem", ISSCC 2014.

All figures are at 45 nm and 0.9 V and get scaled to a device's node by
`perfsim.technology.energy_scale`. A hardware file overrides any entry (``energy.mac``,
``energy.vector_op``, a level's ``energy_per_byte``); what it leaves out comes from here.

- A MAC is a multiply plus an add in the accumulator's type: fp32 3.7 + 0.9 pJ; fp16/bf16
  1.1 pJ multiply + 0.9 pJ fp32 accumulate; int8 0.2 pJ + 0.1 pJ int32 add; int32 3.1 +
  0.1 pJ. int4: the int8 multiply scaled by (4/8)^2 (array-multiplier energy grows with
  bits squared: Horowitz's int8 0.2 vs int32 3.1 pJ is 15.5x for 16x) = 0.05 + 0.1 pJ.
- A vector FLOP is half an FMA, (multiply + add) / 2: fp32 (3.7 + 0.9) / 2, fp16 (1.1 +
  0.4) / 2, int8 (0.2 + 0.03) / 2, int32 (3.1 + 0.1) / 2.
- SRAM per byte: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ per 64-bit access; these fit
  ``1.25 pJ/B * sqrt(capacity / 8 KiB)`` within 15% (the sqrt law of wire length), used
  for any on-chip level of that per-instance capacity.
- DRAM (the farthest level): 1.3 nJ per 64-bit access = 162.5 pJ/B (Horowitz's low end
  for DDR3); not node-scaled (I/O and DRAM-array energy does not follow logic scaling).
- Static power: no default (0 W): a device's idle power needs its own source.
"""

from __future__ import annotations

import math
from typing import Final

PJ: Final = 1e-12

MAC_ENERGY_45NM_J: Final[dict[str, float]] = {
    "fp32": (3.7 + 0.9) * PJ,
    "tf32": (1.1 + 0.9) * PJ,
    "fp16": (1.1 + 0.9) * PJ,
    "bf16": (1.1 + 0.9) * PJ,
    "int32": (3.1 + 0.1) * PJ,
    "int8": (0.2 + 0.1) * PJ,
    "int4": (0.05 + 0.1) * PJ,
}

VECTOR_OP_ENERGY_45NM_J: Final[dict[str, float]] = {
    "fp32": (3.7 + 0.9) / 2 * PJ,
    "tf32": (3.7 + 0.9) / 2 * PJ,
    "fp16": (1.1 + 0.4) / 2 * PJ,
    "bf16": (1.1 + 0.4) / 2 * PJ,
    "int32": (3.1 + 0.1) / 2 * PJ,
    "int8": (0.2 + 0.03) / 2 * PJ,
}

DRAM_ENERGY_PER_BYTE_J: Final = 1.3e-9 / 8


def sram_energy_per_byte_45nm(capacity_bytes: float) -> float:
    """Joules per byte of an SRAM of that capacity at 45 nm: 1.25 pJ/B x sqrt(C / 8 KiB)."""
    return 1.25 * PJ * math.sqrt(max(capacity_bytes, 1.0) / 8192.0)
