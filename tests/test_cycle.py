"""The cycle-level engine: tile schedule, vector slots, and whole graphs against the roofline."""

from __future__ import annotations

import pytest

from perfsim.cli import main
from perfsim.engines import get_cost_model
from perfsim.engines.cycle.tiles import TileEngines, best_tile_schedule, tile_schedule
from perfsim.engines.cycle.vector import SLOTS_PER_ELEMENT
from perfsim.estimate import estimate_graph
from perfsim.hardware import load_hardware
from perfsim.ir import Category, OpNode, TensorSpec
from perfsim.precision import apply_precision
from tests.conftest import HWCONFIGS
from tests.test_roofline import device


def test_tile_schedule_by_hand() -> None:
    # 256 x 256 outputs in 128 x 128 tiles = 4 tiles on 2 units → 2 waves
    # a tile: 128*128*64 MACs / 1024 MACs per cycle = 1024 cycles
    # memory: 1000 cycles for the whole op → 500 per wave, hidden under compute
    schedule = tile_schedule(
        {"b": 1, "m": 256, "n": 256, "k": 64},
        (128, 128),
        TileEngines(units=2, macs_per_cycle=1024, fill_cycles=100.0),
        {"dram": 1000.0},
    )
    assert (schedule.tiles, schedule.waves) == (4, 2)
    assert schedule.compute_cycles == 2048
    assert schedule.total_cycles == 2 * 1024 + 100
    assert schedule.mapping_efficiency == 1.0
    # without double buffering each wave loads, then computes: 2 * (1024 + 500) + 100
    serial = tile_schedule(
        {"b": 1, "m": 256, "n": 256, "k": 64},
        (128, 128),
        TileEngines(units=2, macs_per_cycle=1024, fill_cycles=100.0, double_buffered=False),
        {"dram": 1000.0},
    )
    assert serial.total_cycles == 2 * (1024 + 500) + 100


def test_partial_tiles_lower_mapping_efficiency() -> None:
    # 100 x 100 outputs in one padded 128 x 128 tile: 10,000 / 16,384 useful
    schedule = tile_schedule(
        {"b": 1, "m": 100, "n": 100, "k": 64}, (128, 128), TileEngines(1, 1024), {}
    )
    assert schedule.mapping_efficiency == pytest.approx(10_000 / 16_384)


def test_small_gemm_picks_smaller_tiles_to_use_more_units() -> None:
    dims = {"b": 1, "m": 128, "n": 768, "k": 768}
    schedule, tile, _split = best_tile_schedule(
        dims, (128, 256), TileEngines(108, 1024, vector_lanes=64), lambda tile: {}
    )
    # one 128 x 256 tile per unit would use 3 of 108 units; smaller tiles use more
    assert tile[0] * tile[1] < 128 * 256
    assert schedule.tiles > 3


def test_softmax_slots_by_hand() -> None:
    # softmax: max 1 + sub 1 + exp (4 SFU + 1 mul) + sum 1 + scale 1 = 9 slots per element
    assert SLOTS_PER_ELEMENT["softmax"] == 9
    tensor = TensorSpec((1000,), "fp32")
    op = OpNode(
        name="softmax",
        category=Category.SOFTMAX,
        target="aten._softmax.default",
        scope="",
        layer=0,
        phase="forward",
        inputs=(tensor,),
        outputs=(tensor,),
        dims={},
        macs=0,
        flops=5000,
        bytes_read=4000,
        bytes_written=4000,
    )
    hw = device()  # 8 FLOPs/cycle = 4 lanes, 1 unit, 1 GHz
    cost = get_cost_model("cycle").op_cost(op, hw)
    assert cost.details["compute_cycles"] == 9000 / 4


@pytest.mark.parametrize("hw_name", ["npu", "a100", "xeon-8380"])
def test_every_op_of_bert_is_no_faster_than_the_roofline(traced, hw_name: str) -> None:
    hw = load_hardware(HWCONFIGS / f"{hw_name}.yaml")
    graph = apply_precision(traced("bert-tiny"), hw.native_precision)
    cycle = estimate_graph(graph, hw, "cycle")
    roofline = estimate_graph(graph, hw, "roofline")
    for fine, coarse in zip(cycle.costs, roofline.costs, strict=True):
        assert fine.latency_s >= coarse.latency_s * (1 - 1e-9), fine.op
    summary = cycle.summary()
    assert 0 < summary["cycles"]["matrix_utilization"] <= 1
    assert summary["cycles"]["stall_cycles"] <= summary["cycles"]["total_cycles"]


def test_cli_cycle_run_shows_cycles(capsys: pytest.CaptureFixture[str], graph_cache) -> None:
    with pytest.raises(SystemExit) as done:
        main(
            [
                "run",
                "-m",
                "bert-tiny",
                "--hw",
                "npu",
                "--engine",
                "cycle",
                "--cache-dir",
                str(graph_cache),
            ]
        )
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "matrix utilization" in out
    assert "stalled" in out
