"""The host-CPU terms `perfsim calibrate` measures: per-op framework time (serial with each
kernel on a CPU) and GEMM efficiency over the rows m. Schema, engine arithmetic by hand,
invariants with the terms switched on, and the pure calibration steps. No timing assertions.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from perfsim.cache import GraphStore
from perfsim.calibration.eager import efficiency_points, packing_bandwidth
from perfsim.calibration.framework import FRAMEWORK_TOKENS, framework_model, framework_op_count
from perfsim.engines import available, get_cost_model
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import Category, OpNode, TensorSpec
from perfsim.whatif.fusion import SDPA_FUSION, fuse
from perfsim.workload import load_workload

# A CPU-like test device, round numbers: 1 unit at 1 GHz, SIMD GEMM with 16 fp32 MACs a
# cycle → 2*16*1e9 = 32 GFLOP/s; vector 8 FLOP/cycle → 8 GFLOP/s; l1 1 MiB at 100 GB/s,
# dram 1 GiB at 10 GB/s; 10 us of framework time per op, serial; efficiency 1/4 at m = 8,
# 1/2 at m = 32, 1 from m = 128; weights packed at 4.096 GB/s.
HOST: dict[str, Any] = {
    "version": 1,
    "name": "host-test",
    "kind": "cpu",
    "technology_node": "14 nm",
    "native_precision": "fp32",
    "op_overhead": "10 us",
    "op_overhead_serial": True,
    "compute": {
        "units": 1,
        "clock": "1 GHz",
        "matrix": {
            "type": "simd",
            "tile": [4, 4],
            "macs_per_cycle": {"fp32": 16},
            "efficiency": [[8, 0.25], [32, 0.5], [128, 1.0]],
            "weight_packing_bandwidth": "4.096 GB/s",
        },
        "vector": {"flops_per_cycle": {"fp32": 8}},
    },
    "memory": [
        {"name": "l1", "capacity": "1 MiB", "bandwidth": "100 GB/s"},
        {"name": "dram", "capacity": "1 GiB", "bandwidth": "10 GB/s"},
    ],
}


def host(**top: Any) -> HardwareSpec:
    data = copy.deepcopy(HOST)
    data.update(top)
    return HardwareSpec.model_validate(data)


def with_matrix(**matrix: Any) -> dict[str, Any]:
    data = copy.deepcopy(HOST)
    data["compute"]["matrix"].update(matrix)
    return data


def gemm(m: int, n: int = 64, k: int = 64) -> OpNode:
    """An fp32 (m, k) @ (k, n) mm: m*n*k MACs, 4 bytes a value."""
    return OpNode(
        name="mm",
        category=Category.GEMM,
        target="aten.mm.default",
        scope="",
        layer=0,
        phase="forward",
        inputs=(TensorSpec((m, k), "fp32"), TensorSpec((k, n), "fp32")),
        outputs=(TensorSpec((m, n), "fp32"),),
        dims={"b": 1, "m": m, "n": n, "k": k},
        macs=m * n * k,
        flops=2 * m * n * k,
        bytes_read=4 * (m * k + k * n),
        bytes_written=4 * m * n,
    )


# ---- schema ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("m", "fraction"),
    [
        (1, 0.25),  # below the first point: held
        (8, 0.25),
        (16, 0.375),  # log2: 16 is half way from 8 to 32 → (0.25 + 0.5) / 2
        (64, 0.75),  # half way from 32 to 128 → (0.5 + 1) / 2
        (128, 1.0),
        (4096, 1.0),  # past the last point: held
    ],
)
def test_efficiency_interpolates_in_log_m(m: int, fraction: float) -> None:
    assert host().matrix_efficiency(m) == pytest.approx(fraction)


def test_defaults_keep_the_old_semantics() -> None:
    data = copy.deepcopy(HOST)
    del data["op_overhead_serial"], data["compute"]["matrix"]["efficiency"]
    del data["compute"]["matrix"]["weight_packing_bandwidth"]
    spec = HardwareSpec.model_validate(data)
    assert spec.op_overhead_serial is False
    assert spec.matrix_efficiency(8) == 1.0
    assert spec.op_latency(3e-6) == spec.op_overhead  # overlapped: max(overhead, kernel)
    assert spec.op_latency(30e-6) == 30e-6
    assert spec.weight_packing_s(1e6) == 0.0


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ({"efficiency": [[32, 0.5], [8, 0.25]]}, "m ascending"),
        ({"efficiency": [[8, 0.5], [8, 0.6]]}, "m ascending"),
        ({"efficiency": [[8, 1.5]]}, "less than or equal to 1"),
        ({"efficiency": [[8, 0.0]]}, "greater than 0"),
        ({"efficiency": [[0, 0.5]]}, "greater than 0"),
        (
            {"type": "systolic", "rows": 4, "cols": 4, "dataflow": "ws", "tile": None},
            "systolic",
        ),
        (
            {
                "type": "systolic",
                "rows": 4,
                "cols": 4,
                "dataflow": "ws",
                "tile": None,
                "efficiency": None,
            },
            "weight_packing_bandwidth",
        ),
        ({"weight_packing_bandwidth": "0 GB/s"}, "greater than 0"),
    ],
)
def test_bad_efficiency_tables_are_rejected(matrix: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HardwareSpec.model_validate(with_matrix(**matrix))


# ---- engines, by hand -----------------------------------------------------------------------


def test_roofline_adds_serial_overhead_and_applies_efficiency() -> None:
    op = gemm(32)
    # 2*32*64*64 = 262144 FLOPs at 32 GFLOP/s x 0.5 (m = 32) = 16.384 us
    # dram: 4*(32*64 + 64*64 + 32*64) = 32768 B at 10 GB/s = 3.2768 us
    # packing the 64x64 fp32 weight: 16384 B at 4.096 GB/s = 4 us, before the multiply
    # latency = 10 us (serial) + max(16.384 + 4, 3.2768) us
    cost = get_cost_model("roofline").op_cost(op, host())
    assert cost.compute_s == pytest.approx(20.384e-6)
    assert cost.details["packing_s"] == pytest.approx(4e-6)
    assert cost.latency_s == pytest.approx(30.384e-6)
    assert cost.bound == "compute"
    # overlapped, without the table or packing: max(10 us, 262144 / 32e9 = 8.192 us) = 10 us
    plain = host(op_overhead_serial=False)
    data = plain.model_dump()
    data["compute"]["matrix"]["efficiency"] = None
    data["compute"]["matrix"]["weight_packing_bandwidth"] = None
    cost = get_cost_model("roofline").op_cost(op, HardwareSpec.from_si(data))
    assert cost.latency_s == pytest.approx(10e-6)
    assert cost.bound == "overhead"


def test_vector_ops_carry_the_serial_overhead_too() -> None:
    tensor = TensorSpec((1000,), "fp32")
    op = OpNode(
        name="add",
        category=Category.ELEMENTWISE,
        target="aten.add.Tensor",
        scope="",
        layer=0,
        phase="forward",
        inputs=(tensor, tensor),
        outputs=(tensor,),
        dims={},
        macs=0,
        flops=1000,
        bytes_read=8000,
        bytes_written=4000,
    )
    # 12000 B at 10 GB/s = 1.2 us (> 1000 FLOPs at 8 GFLOP/s = 0.125 us); + 10 us
    cost = get_cost_model("roofline").op_cost(op, host())
    assert cost.latency_s == pytest.approx(11.2e-6)


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 4096),
    n=st.integers(1, 2048),
    k=st.integers(1, 2048),
    serial=st.booleans(),
)
def test_cycle_never_beats_roofline_with_the_host_terms(
    m: int, n: int, k: int, serial: bool
) -> None:
    spec = host(op_overhead_serial=serial)
    costs = {name: get_cost_model(name).op_cost(gemm(m, n, k), spec) for name in available()}
    assert costs["cycle"].latency_s >= costs["roofline"].latency_s * (1 - 1e-9)
    # the serial overhead is paid exactly once per op
    assert costs["roofline"].latency_s >= spec.op_overhead


def test_cycle_engine_takes_the_measured_gemm_rate_without_retiling() -> None:
    # m = 32: efficiency 1/2 -> 16 GFLOP/s; 2*32*64*64 = 262144 FLOPs -> 16.384 us of
    # compute, plus 4*64*64 = 16 KiB of weights packed at 4.096 GB/s = 4 us (the file's
    # measured rate already holds the BLAS's own tiling: no 4x4 tile schedule on top);
    # DRAM latency 0; memory 49152 B at 10 GB/s = 4.9 us under the compute
    spec = host()
    cost = get_cost_model("cycle").op_cost(gemm(32), spec)
    assert cost.compute_s == pytest.approx(16.384e-6 + 4e-6)
    assert cost.latency_s == pytest.approx(10e-6 + 16.384e-6 + 4e-6)
    assert cost.details["stall_cycles"] == 0.0
    assert cost.latency_s == pytest.approx(
        get_cost_model("roofline").op_cost(gemm(32), spec).latency_s
    )


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 4096), factor=st.floats(1.0, 64.0))
def test_more_bandwidth_is_never_slower_with_the_host_terms(m: int, factor: float) -> None:
    slow, data = host(), copy.deepcopy(HOST)
    data["memory"][1]["bandwidth"] = f"{10 * factor} GB/s"
    fast = HardwareSpec.model_validate(data)
    for name in available():
        engine = get_cost_model(name)
        assert engine.op_cost(gemm(m), fast).latency_s <= engine.op_cost(gemm(m), slow).latency_s


# ---- calibration steps ----------------------------------------------------------------------


def test_efficiency_points_by_hand() -> None:
    # m = 32, n = k = 768: 2*32*768*768 = 37748736 FLOPs in (200 - 5) us → 193.58 GFLOP/s;
    # / 250 GFLOP/s = 0.7743; m = 512 runs past the peak and is capped at 1
    ladder = ((32, 768, 200e-6), (512, 768, 2e-3))
    points, how = efficiency_points(ladder, 250e9, 5e-6)
    assert points[0] == (32, pytest.approx(37748736 / 195e-6 / 250e9, rel=1e-3))
    assert points[1] == (512, 1.0)
    assert "n = k = 768" in how and "capped at 1" in how


def test_dispatch_never_takes_more_than_half_a_call() -> None:
    # a 10 us call with a 30 us "dispatch" (noise) counts as 5 us of work
    points, _ = efficiency_points(((8, 64, 10e-6),), 1e12, 30e-6)
    assert points[0][1] == pytest.approx(2 * 8 * 64 * 64 / 5e-6 / 1e12, rel=1e-3)


def test_the_framework_model_traces_like_a_validated_bert(store: GraphStore) -> None:
    # the same ops per layer at any depth, and at 2 layers the ops of bert-tiny (2 layers)
    # that `perfsim validate` launches (attention fused as SDPA runs it): the per-op
    # figure is in the same unit
    two, three, four = (framework_op_count(framework_model(n)) for n in (2, 3, 4))
    assert four - two == 2 * (three - two) > 0
    tiny = load_workload("bert-tiny", batch=1, seq=FRAMEWORK_TOKENS, precision="fp32")
    graph = store.graph(tiny)
    _, inside = fuse(graph, (SDPA_FUSION,))
    assert 0 < len(inside) < len(graph.ops)
    assert two == len(graph.ops) - len(inside)


def test_attention_gemms_pack_nothing() -> None:
    # a bmm multiplies activations: no weight to bring in, so no packing term
    op = OpNode(**{**_fields(gemm(32)), "category": Category.ATTN_GEMM})
    cost = get_cost_model("roofline").op_cost(op, host())
    assert "packing_s" not in cost.details
    assert cost.compute_s == pytest.approx(16.384e-6)


def _fields(op: OpNode) -> dict[str, Any]:
    return {name: getattr(op, name) for name in op.__dataclass_fields__}


def test_packing_bandwidth_by_hand() -> None:
    # n = k = 768: 4*768*768 = 2359296 weight bytes; m=8: 300 - 100 = 200 us → 11.80 GB/s;
    # m=32: 400 - 180 = 220 us → 10.72 GB/s; median of the two = 11.26 GB/s
    ladder = ((8, 768, 100e-6, 300e-6), (32, 768, 180e-6, 400e-6))
    rate, how = packing_bandwidth(ladder, 600 * 2**20)
    assert rate == pytest.approx((2359296 / 200e-6 + 2359296 / 220e-6) / 2)
    assert "600 MiB pool" in how
    # noise hid the cost on every rung: nothing is claimed
    assert packing_bandwidth(((8, 768, 300e-6, 290e-6),), 2**20)[0] is None
