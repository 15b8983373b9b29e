"""Published per-component area figures, each with its source. Nothing here is fitted to
a die area that tests/test_area.py checks against, except where a comment says so.

Anchors (real silicon, placed and routed, so wiring, clock tree and pipeline registers are
in): Google TPU v1, Jouppi et al., "In-Datacenter Performance Analysis of a Tensor
Processing Unit", ISCA 2017: 28 nm, die <= 331 mm^2, floor plan (Fig. 2) Matrix Multiply
Unit 24 %, Unified Buffer 29 %, control 2 %, and in its caption buffers 37 %, compute
30 %, I/O 10 %, control 2 % (79 % named; the rest is unlabelled). NB: the TPU v1 check in
the tests is therefore a consistency check of this model, not an independent validation.

Ratios between precisions come from gate-level areas at 45 nm: Horowitz, "Computing's
Energy Problem (and what we can do about it)", ISSCC 2014, the energy/area table (8b add
36 um^2, 32b add 137, 16b FP add 1360, 32b FP add 4184, 8b mult 282, 32b mult 3495, 16b FP
mult 1640, 32b FP mult 7700), the same table perfsim.energy.defaults prices energy from;
per pipeline-register bit, Aladdin's 40 nm register (5.98 um^2, Shao et al. ISCA 2014,
as shipped in Accelergy-Project/accelergy-aladdin-plug-in data/reg.csv).
"""

from __future__ import annotations

import math
from typing import Final

MM2: Final = 1e-6  # m^2 per mm^2
UM2: Final = 1e-12  # m^2 per um^2
MIB: Final = 2**20

# ---- matrix and vector units ------------------------------------------------------------
# gate-level area at 45 nm, um^2, of one multiply-accumulate: multiplier + accumulator adder
# (Horowitz ISSCC 2014) + pipeline registers (Aladdin reg 5.98 um^2/bit x (activation in,
# weight, its double-buffer shadow, partial sum): 3 x operand bits + 32 accumulator bits)
_REGISTER_BIT_UM2: Final = (
    5.98  # source: Aladdin 40 nm register (accelergy-aladdin-plug-in data/reg.csv)
)


def _pe(mult_um2: float, add_um2: float, operand_bits: int) -> float:
    return mult_um2 + add_um2 + _REGISTER_BIT_UM2 * (3 * operand_bits + 32)


MAC_GATE_AREA_45NM_UM2: Final[dict[str, float]] = {
    # source: Horowitz 2014: 8b mult 282 + 32b add 137 (int32 accumulate)
    "int8": _pe(282.0, 137.0, 8),
    # source: assumed: a 4b multiplier at (4/8)^2 of the 8b one (array multiplier area ~ n^2),
    # int32 accumulate
    "int4": _pe(282.0 / 4, 137.0, 4),
    # source: Horowitz 2014: 32b mult 3495 + 32b add 137
    "int32": _pe(3495.0, 137.0, 32),
    # source: Horowitz 2014: 16b FP mult 1640 + 32b FP add 4184 (fp32 accumulate)
    "fp16": _pe(1640.0, 4184.0, 16),
    # source: Google Cloud blog "BFloat16: the secret to high performance on Cloud TPUs" (2019):
    # a bf16 multiplier is "about half the size in silicon of a typical FP16 multiplier";
    # fp32 accumulate as the TPU MXU does (Norrie et al., IEEE Micro 2021)
    "bf16": _pe(1640.0 / 2, 4184.0, 16),
    # source: assumed: tf32 multiplies a 10-bit significand as fp16 does: fp16 mult + fp32 add,
    # 32-bit operands
    "tf32": _pe(1640.0, 4184.0, 32),
    # source: assumed: an fp8 multiplier (3-4 bit significand) no larger than the 8b integer one;
    # fp16 accumulate (16b FP add 1360)
    "fp8": _pe(282.0, 1360.0, 8),
    # source: Horowitz 2014: 32b FP mult 7700 + 32b FP add 4184
    "fp32": _pe(7700.0, 4184.0, 32),
}

# One int8 systolic processing element as built, 28 nm: TPU v1's Matrix Multiply Unit is
# 24 % of its <= 331 mm^2 die (Jouppi et al. ISCA 2017, Fig. 2) for 256 x 256 = 65,536 MACs.
TPU_V1_NODE_M: Final = 28e-9
INT8_PE_28NM_M2: Final = 0.24 * 331.0 * MM2 / 65536  # 1.212e-9 m^2 = 1212 um^2

# ---- on-chip SRAM -------------------------------------------------------------------------
# SRAM as built, 28 nm, for a large (>= 512 KiB macros) buffer: TPU v1's 24 MiB Unified
# Buffer is 29 % of its <= 331 mm^2 die (Jouppi et al. ISCA 2017, Fig. 2): 4.0 mm^2/MiB.
SRAM_28NM_M2_PER_BYTE: Final = 0.29 * 331.0 * MM2 / (24 * MIB)

# Array efficiency (bitcell area / macro area) by macro capacity: CACTI results as tabulated
# in LLMCompass (Zhang et al., ISCA 2024; PrincetonUniversity/LLMCompass
# cost_model/cost_model.py, cache_area_efficiency_arr, 4 KiB .. 1 MiB); larger capacities are
# built of 512 KiB macros (LLMCompass max_cache_unit_bytes = 2**19), smaller than 4 KiB
# take the 4 KiB efficiency. Small buffers pay for decoders and sense amplifiers: banking.
SRAM_ARRAY_EFFICIENCY: Final[tuple[tuple[int, float], ...]] = (
    (4 * 1024, 0.076),
    (8 * 1024, 0.142),
    (16 * 1024, 0.247),
    (32 * 1024, 0.393),
    (64 * 1024, 0.559),
    (128 * 1024, 0.704),
    (256 * 1024, 0.526),
    (512 * 1024, 0.602),
)
SRAM_MACRO_MAX_BYTES: Final = 512 * 1024

# ---- register files ------------------------------------------------------------------------
# A small array (a PE's scratchpad of a few hundred bytes) is built of flip-flops, not of an
# SRAM macro whose decoders and sense amplifiers would dwarf its few bitcells: one bit costs
# one Aladdin 40 nm register, 5.98 um^2 (accelergy-aladdin-plug-in data/reg.csv, "a 1 stage
# register"; its reg_estimate_area is that area x width), scaled to the node as logic. The
# model takes the smaller of this and the SRAM macro estimate (area.model.storage_area_m2),
# as a designer would: flip-flops win below 8 KiB (16 KiB at 4 nm, where SRAM barely shrank).
REGISTER_FILE_BIT_M2: Final = _REGISTER_BIT_UM2 * UM2
REGISTER_FILE_NODE_M: Final = 40e-9  # source: Aladdin's data are 40 nm (plug-in README)

# ---- off-chip memory interfaces -----------------------------------------------------------
# kind -> (bytes/s of one interface, PHY m^2 (analog: does not shrink with the node),
#          controller transistors). PHY and controller figures: LLMCompass cost_model.py
# (hbm2e_phy_mm2_per_link_unit 10.45 per 1024-bit stack, ddr5_phy_mm2_per_link_unit 1.45 per
# 32-bit link, pcie4_phy_mm2_per_lane 0.48; controllers 552.7 M / 90.4 M / 3.96 M transistors).
# The count of interfaces is ceil(bandwidth / bytes/s of one interface) (area.py).
MEMORY_INTERFACES: Final[dict[str, tuple[float, float, float]]] = {
    # source: JEDEC HBM2 (JESD235B) top bin 2.4 Gb/s/pin x 1024 bits = 307.2 GB/s per stack
    "hbm2": (307.2e9, 10.45 * MM2, 552.7e6),
    # source: JEDEC HBM3 (JESD238) 6.4 Gb/s/pin x 1024 bits = 819.2 GB/s per stack; PHY and
    # controller as HBM2e (assumed)
    "hbm3": (819.2e9, 10.45 * MM2, 552.7e6),
    # source: JEDEC GDDR6 (JESD250) 16 Gb/s/pin x 32 bits = 64 GB/s per x32 device; PHY and
    # controller as one 32-bit DDR5 link (assumed)
    "gddr6": (64e9, 1.45 * MM2, 90.4e6),
    # source: DDR4-3200 64-bit channel = 25.6 GB/s (JEDEC JESD79-4); two 32-bit links of
    # LLMCompass's DDR5 PHY/controller
    "ddr4": (25.6e9, 2 * 1.45 * MM2, 2 * 90.4e6),
    # source: DDR3-2133 64-bit channel = 17.07 GB/s (JEDEC JESD79-3); PHY/controller as ddr4
    # (assumed)
    "ddr3": (17.064e9, 2 * 1.45 * MM2, 2 * 90.4e6),
    # source: PCIe Gen4 lane 16 GT/s x 128/130 / 8 = 1.97 GB/s per direction; LLMCompass pcie4 PHY
    # 0.48 mm^2/lane, controller 3.96 M transistors/lane
    "pcie": (1.969e9, 0.48 * MM2, 3.96e6),
    # no PHY or controller inside the area the file describes (a core whose pads and bus
    # drivers sit in the pad ring outside it, as Eyeriss's 3.5 x 3.5 mm core)
    "none": (math.inf, 0.0, 0.0),
}

# ---- device-to-device links -----------------------------------------------------------------
# One NVLink3 link: 25 GB/s per direction (A100 whitepaper), PHY 1.888 mm^2 and controller
# 74.6 M transistors (LLMCompass cost_model.py nvlink3_*_per_link_unit). A link of another
# bandwidth is costed in proportion (SerDes lanes scale with bandwidth).
LINK_BYTES_PER_S: Final = 25e9
LINK_PHY_M2: Final = 1.888 * MM2
LINK_CONTROLLER_TRANSISTORS: Final = 74.6e6

# Logic density that turns controller transistor counts into area: TSMC N7 high-density
# 91.2 MTr/mm^2 (WikiChip, "TSMC 7 nm HD and HP cells", 2018), scaled to other nodes as logic.
TRANSISTORS_PER_M2_7NM: Final = 91.2e6 / MM2
REFERENCE_DENSITY_NODE_M: Final = 7e-9

# ---- control and uncore ---------------------------------------------------------------------
# Share of the die outside the datapath, buffers and I/O: TPU v1's control (2 %) and its
# unlabelled remainder (100 - 37 - 30 - 10 - 2 = 21 %): 23 % (Jouppi et al. ISCA 2017, Fig. 2
# caption). The modelled blocks are then (1 - 0.23) of the die.
UNCORE_FRACTION: Final = 0.23
