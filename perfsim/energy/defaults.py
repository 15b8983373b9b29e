"""The default per-action energy table: Horowitz, "Computing's Energy Problem", ISSCC 2014.

All figures are at 45 nm and 0.9 V and get scaled to a device's node by
`perfsim.energy.technology.energy_scale`. A hardware file overrides any entry (``energy.mac``,
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

Operand delivery, issue and clocking (`perfsim.energy.delivery_prices`), the part of a
MAC's energy that is not the multiplier (the figures below, each at 45 nm, node-scaled):

- Register file: an SRAM of the register file's per-scheduler capacity under the SRAM
  rule below (``sram_energy_per_byte_45nm``): a GPU's is 64 KiB (NVIDIA Volta, Turing,
  Ampere and Hopper whitepapers: 65,536 32-bit registers per SM, split over 4 processing
  blocks: 1.25 pJ/B x sqrt(64 / 8) = 3.54 pJ/B); any other part's is taken as Horowitz's
  8 KB array, 10 pJ per 64-bit access = 1.25 pJ/B (an AVX-512 core's physical vector
  register file is ~10 KB: 168 x 64 B).
- Tensor-core operand bytes per MAC: one warp-level ``mma`` instruction reads A, B and C
  from registers and writes D (PTX ISA, "Matrix shape" of ``mma.sync``: m16n8k16 for
  fp16/bf16, m16n8k8 tf32, m16n8k32 int8/fp8, m16n8k64 int4, fp32 or int32 accumulators):
  (A + B + C + D) bytes / MACs, e.g. fp16 (16*16*2 + 16*8*2 + 2 * 16*8*4) / 2048 = 0.875.
- Systolic arrays: Sze, Chen, Yang, Emer, "Efficient Processing of Deep Neural Networks:
  A Tutorial and Survey", Proc. IEEE 2017 (Fig. 7 / Sec. V, from Eyeriss ISSCC 2016 at
  65 nm): every MAC makes 3 reads and 1 write at the PE's own register level even with
  perfect reuse, each costing about 1x the MAC (normalized energy: RF 1x, PE-to-PE 2x,
  buffer 6x, DRAM 200x) -> 4 x the MAC's arithmetic energy.
- SIMD (CPU GEMM) and vector ops: an FMA lane reads 3 operands and writes 1 (4 accesses
  of the element per MAC, 2 per vector FLOP) at the register-file figure.
- Issue and control: Horowitz ISSCC 2014 ("Computing's energy problem", instruction
  energy breakdown of a 45 nm in-order core): ~70 pJ per instruction of fetch, decode,
  register and control overhead around a 0.1-pJ add. Charged per issue slot per cycle
  while the engine runs at its full rate: ``70 pJ x issue_slots / ops_per_cycle`` per op,
  with ``ISSUE_SLOTS`` per unit by engine: a GPU SM issues one warp instruction per clock
  from each of its 4 schedulers (A100 / H100 / V100 / Turing whitepapers: 4 processing
  blocks per SM); a CPU core feeds 2 vector FMA ports (Intel Skylake-SP and later,
  AMD Zen 4); a systolic array takes one instruction per cycle for the whole array.
- Clock tree: 32% of a high-performance chip's power is its clock network (Gowan, Biro,
  Jackson, "Power considerations in the design of the Alpha 21264 microprocessor",
  DAC 1998). Applied to the switching energy of the core (arithmetic, operands, issue):
  clock = 0.32 / (1 - 0.32) x that energy (gated clocks switch with the logic they feed).
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


REGISTER_FILE_BYTES: Final[dict[str, int]] = {"gpu": 64 * 1024}  # per scheduler; else 8 KiB
SYSTOLIC_OPERAND_ACCESSES_PER_MAC: Final = 4.0  # Sze et al. 2017: 3 reads + 1 write, 1x MAC each
INSTRUCTION_45NM_J: Final = 70e-12
# by matrix-engine type, and by device kind for the vector engine
ISSUE_SLOTS: Final[dict[str, int]] = {
    "tensor_core": 4,
    "simd": 2,
    "systolic": 1,
    "gpu": 4,
    "cpu": 2,
}
CLOCK_TREE_SHARE: Final = 0.32

# (A, B, C+D) element bytes and MACs of one warp-level mma instruction, per input dtype
_MMA: Final[dict[str, tuple[int, int, int, int]]] = {
    # dtype: (m, n, k, input bits); accumulators fp32 / int32 (4 bytes)
    "fp16": (16, 8, 16, 16),
    "bf16": (16, 8, 16, 16),
    "tf32": (16, 8, 8, 32),
    "fp8": (16, 8, 32, 8),
    "int8": (16, 8, 32, 8),
    "int4": (16, 8, 64, 4),
}


def mma_operand_bytes_per_mac(dtype: str) -> float:
    """Register-file bytes per MAC of one ``mma.sync``: (A + B read, C read, D write) / MACs.

    fp16 m16n8k16: (16*16*2 + 16*8*2 + 2 * 16*8*4) / (16*8*16) = 1792 / 2048 = 0.875.
    A dtype without a tensor-core shape (fp32) is charged as an FMA lane (16 B per MAC).
    """
    if dtype not in _MMA:
        return 4.0 * DTYPE_BYTES.get(dtype, 4.0)
    m, n, k, bits = _MMA[dtype]
    inputs = (m * k + k * n) * bits / 8
    return (inputs + 2 * m * n * 4) / (m * n * k)


DTYPE_BYTES: Final[dict[str, float]] = {
    "fp32": 4,
    "tf32": 4,
    "fp16": 2,
    "bf16": 2,
    "fp8": 1,
    "int32": 4,
    "int8": 1,
    "int4": 0.5,
}
