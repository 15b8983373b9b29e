"""One systolic array of a device as the per-array model sees it (SCALE-Sim): its own
buffers, its own share of the DRAM ports, and how a GEMM is split over the arrays.

Shared by the cycle engine (`perfsim.engines.cycle.engine`) and the batched sweep path
(`perfsim.sweep.cycle_gemm`), which must cost a GEMM bit for bit alike.
"""

from __future__ import annotations

import math

from perfsim.engines.cycle.systolic import SystolicArray
from perfsim.hardware.spec import HardwareSpec

# split of the nearest level among the ifmap, filter and ofmap buffers when a hardware
# file does not give them: equal thirds (NB: SCALE-Sim's example configs use 3:3:1)
_BUFFER_SHARES = (1 / 3, 1 / 3, 1 / 3)
DRAM_PORTS = 3


def systolic_array(hw: HardwareSpec, word_bytes: float) -> SystolicArray:
    """One array of the device, its buffers and its share of the DRAM port."""
    matrix = hw.compute.matrix
    assert matrix is not None and matrix.rows is not None and matrix.cols is not None
    units = hw.compute.units
    if matrix.buffers is not None:
        ifmap, filter_, ofmap = (
            matrix.buffers.ifmap,
            matrix.buffers.filter,
            matrix.buffers.ofmap,
        )
    else:
        nearest = hw.memory[0]
        per_array = nearest.capacity if nearest.per_unit else nearest.capacity / units
        ifmap, filter_, ofmap = (share * per_array for share in _BUFFER_SHARES)
    # each array has three DRAM ports (ifmap, filter, ofmap), as in SCALE-Sim; NB: the
    # device's DRAM bandwidth is split equally among all of them
    dram_bytes_per_cycle = hw.level_bandwidth(hw.dram) / hw.compute.clock / (units * DRAM_PORTS)
    return SystolicArray(
        rows=matrix.rows,
        cols=matrix.cols,
        dataflow=matrix.dataflow or "ws",
        ifmap_sram_bytes=ifmap,
        filter_sram_bytes=filter_,
        ofmap_sram_bytes=ofmap,
        word_bytes=word_bytes,
        dram_words_per_cycle=dram_bytes_per_cycle / word_bytes,
    )


def split_over_arrays(b: int, n: int, units: int) -> tuple[int, int, int]:
    """(GEMMs run one after another per array, columns per GEMM, arrays used)."""
    if b >= units:
        return math.ceil(b / units), n, units
    arrays_per_gemm = max(1, units // b)
    columns = math.ceil(n / arrays_per_gemm)
    used = b * math.ceil(n / columns)
    return 1, columns, used


__all__ = ["DRAM_PORTS", "split_over_arrays", "systolic_array"]
