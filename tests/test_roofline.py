"""Roofline latency and energy of single ops against hand-derived values.

The test device (round numbers so the arithmetic stays readable):
  1 unit at 1 GHz; a 4x4 systolic array with 16 fp32 MACs/cycle → 2*16*1e9 = 32 GFLOP/s;
  a vector engine with 8 fp32 FLOPs/cycle → 8 GFLOP/s;
  sram: 1 MiB, 100 GB/s, 1 pJ/B;  dram: 1 GiB, 10 GB/s, 10 pJ/B;
  1 pJ per fp32 MAC, 0.5 pJ per vector FLOP, 1 W static; no operand-delivery, issue or
  clock-tree energy (those are priced in tests/test_power.py).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from perfsim.energy.prices import energy_prices, with_energy
from perfsim.engines import available, get_cost_model
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import Category, OpNode, TensorSpec

DEVICE: dict[str, Any] = {
    "version": 1,
    "name": "test",
    "kind": "npu",
    "technology_node": "45 nm",
    "native_precision": "fp32",
    "compute": {
        "units": 1,
        "clock": "1 GHz",
        "matrix": {
            "type": "systolic",
            "rows": 4,
            "cols": 4,
            "dataflow": "ws",
            "macs_per_cycle": {"fp32": 16},
        },
        "vector": {"flops_per_cycle": {"fp32": 8}},
    },
    "memory": [
        {"name": "sram", "capacity": "1 MiB", "bandwidth": "100 GB/s", "energy_per_byte": "1 pJ"},
        {"name": "dram", "capacity": "1 GiB", "bandwidth": "10 GB/s", "energy_per_byte": "10 pJ"},
    ],
    "energy": {
        "mac": {"fp32": "1 pJ"},
        "vector_op": {"fp32": "0.5 pJ"},
        "static_power": "1 W",
        "operands": {"fp32": "0 J"},
        "register_file": "0 J",
        "instruction": "0 J",
        "clock_share": 0.0,
    },
}


def device(**changes: Any) -> HardwareSpec:
    data = copy.deepcopy(DEVICE)
    for path, value in changes.items():
        node = data
        *parents, leaf = path.split("__")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[leaf] = value
    return HardwareSpec.model_validate(data)


def square_gemm(size: int) -> OpNode:
    """An fp32 mm of two size x size matrices, counted by hand."""
    matrix = TensorSpec((size, size), "fp32")
    return OpNode(
        name="mm",
        category=Category.GEMM,
        target="aten.mm.default",
        scope="",
        layer=-1,
        phase="forward",
        inputs=(matrix, matrix),
        outputs=(matrix,),
        dims={"b": 1, "m": size, "n": size, "k": size},
        macs=size**3,
        flops=2 * size**3,
        bytes_read=2 * size * size * 4,
        bytes_written=size * size * 4,
    )


def vector_add(elements: int) -> OpNode:
    tensor = TensorSpec((elements,), "fp32")
    return OpNode(
        name="add",
        category=Category.ELEMENTWISE,
        target="aten.add.Tensor",
        scope="",
        layer=-1,
        phase="forward",
        inputs=(tensor, tensor),
        outputs=(tensor,),
        dims={},
        macs=0,
        flops=elements,
        bytes_read=8 * elements,
        bytes_written=4 * elements,
    )


def cost(op: OpNode, hw: HardwareSpec):
    return with_energy(get_cost_model("roofline").op_cost(op, hw), energy_prices(hw))


def test_small_gemm_is_compute_bound() -> None:
    result = cost(square_gemm(64), device())
    # compute: 2*64^3 = 524,288 FLOP / 32e9 FLOP/s = 16.384 µs
    assert result.compute_s == pytest.approx(16.384e-6)
    # the roofline's nearest level serves the compulsory bytes (the array's registers are
    # assumed to catch all reuse): 3 x 64 x 64 x 4 B = 49,152 B → 0.49152 µs at 100 GB/s
    assert result.traffic_bytes["sram"] == 49_152
    assert result.level_s["sram"] == pytest.approx(0.49152e-6)
    # the 48 KiB problem fits the 1 MiB sram: dram moves only 3 * 16 KiB = 49,152 B
    assert result.traffic_bytes["dram"] == 49_152
    assert result.level_s["dram"] == pytest.approx(4.9152e-6)
    assert result.latency_s == pytest.approx(16.384e-6)
    assert result.bound == "compute"
    # energy: 262,144 MACs x 1 pJ + 49,152 B x 1 pJ + 49,152 B x 10 pJ + 1 W x 16.384 µs
    assert result.energy_breakdown_j["compute"] == pytest.approx(262.144e-9)
    assert result.energy_breakdown_j["sram"] == pytest.approx(49.152e-9)
    assert result.energy_breakdown_j["dram"] == pytest.approx(491.52e-9)
    assert result.energy_breakdown_j["static"] == pytest.approx(16.384e-6)
    assert result.energy_j == pytest.approx(262.144e-9 + 49.152e-9 + 491.52e-9 + 16.384e-6)


def test_gemm_that_overflows_sram_refetches_from_dram() -> None:
    hw = device(memory__0__capacity="48 KiB")
    result = cost(square_gemm(256), hw)
    # A, B, C are 256 KiB each; neither operand fits half of 48 KiB, so the I/O lower
    # bound's tile: t = floor(sqrt(49,152 B / 4 B)) = floor(110.85) = 110; A and B are each
    # read ceil(256/110) = 3 times: dram = 2 * 3 * 262,144 + 262,144 = 1,835,008 B
    assert result.traffic_bytes["dram"] == 1_835_008
    # compute: 2*256^3 = 33,554,432 FLOP / 32 GFLOP/s = 1048.576 µs: still compute bound
    assert result.compute_s == pytest.approx(1048.576e-6)
    assert result.bound == "compute"
    starved = cost(
        square_gemm(256), device(memory__0__capacity="48 KiB", memory__1__bandwidth="1 GB/s")
    )
    # at 1 GB/s the same dram bytes take 1.835008 ms and bind
    assert starved.latency_s == pytest.approx(1.835008e-3)
    assert starved.bound == "memory:dram"


def test_elementwise_add_is_dram_bound() -> None:
    result = cost(vector_add(1 << 20), device())
    # compute: 1,048,576 adds / 8 GFLOP/s = 131.072 µs
    assert result.compute_s == pytest.approx(131.072e-6)
    # traffic: read 2 x 4 MiB, write 4 MiB = 12,582,912 B at every level
    assert result.traffic_bytes == {"sram": 12_582_912, "dram": 12_582_912}
    # dram: 12,582,912 B / 10 GB/s = 1258.2912 µs
    assert result.latency_s == pytest.approx(1258.2912e-6)
    assert result.bound == "memory:dram"
    assert result.unit == "vector"


def test_launch_overhead_binds_tiny_ops() -> None:
    hw = device(op_overhead="5 us")
    result = cost(vector_add(16), hw)
    assert result.latency_s == pytest.approx(5e-6)
    assert result.bound == "overhead"


def test_matrix_op_without_matrix_dtype_runs_on_vector_engine() -> None:
    hw = device(compute__matrix__macs_per_cycle={"int8": 16}, energy__mac={"int8": "0.1 pJ"})
    result = cost(square_gemm(64), hw)
    assert result.unit == "vector"
    # 524,288 FLOP / 8 GFLOP/s = 65.536 µs, priced as vector FLOPs
    assert result.compute_s == pytest.approx(65.536e-6)
    assert result.energy_breakdown_j["compute"] == pytest.approx(524_288 * 0.5e-12)


@pytest.mark.parametrize("engine", available())
def test_every_engine_is_registered_and_costs(engine: str) -> None:
    result = get_cost_model(engine).op_cost(square_gemm(32), device())
    assert result.latency_s > 0
