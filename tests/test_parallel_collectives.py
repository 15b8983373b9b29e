"""All-reduce times against hand-derived alpha-beta figures, and their invariants."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.errors import SpecError
from perfsim.hardware import load_hardware
from perfsim.hardware.spec import Interconnect
from perfsim.parallel.collectives import (
    allreduce,
    ring_allreduce,
    torus2d_allreduce,
    torus_slice,
    tree_allreduce,
)

HWCONFIGS = Path(__file__).resolve().parent.parent / "hwconfigs"


def _net(**fields: object) -> Interconnect:
    data: dict[str, object] = {
        "topology": "switch",
        "bandwidth": 25e9,
        "latency": 2e-6,
        "links": 12,
    }
    data.update(fields)
    return Interconnect.model_validate(data, context={"si": True})


def test_ring_by_hand() -> None:
    # p = 4, n = 100 MB, B = 10 GB/s, alpha = 1 us:
    # 2 (p-1) alpha = 6 us; 2 (p-1)/p n / B = 1.5 * 1e8 / 1e10 = 15 ms
    time = ring_allreduce(100e6, 4, 10e9, 1e-6)
    assert time.latency_s == pytest.approx(6e-6)
    assert time.transfer_s == pytest.approx(15e-3)
    assert time.sent_bytes == pytest.approx(150e6)
    assert time.seconds == pytest.approx(15.006e-3)


def test_tree_by_hand() -> None:
    # p = 8: depth log2 8 = 3, 2 * 3 start-ups; bandwidth term 2 n / B = 2e8 / 1e10 = 20 ms
    time = tree_allreduce(100e6, 8, 10e9, 1e-6)
    assert time.latency_s == pytest.approx(6e-6)
    assert time.transfer_s == pytest.approx(20e-3)
    # p = 9 rounds the depth up: ceil(log2 9) = 4
    assert tree_allreduce(1.0, 9, 10e9, 1e-6).latency_s == pytest.approx(8e-6)


def test_torus_by_hand() -> None:
    # 4 x 4, n = 64 MB, one link 50 GB/s each way, alpha = 1 us:
    # steps 2 (3 + 3) = 12; factor 2*3/4 + 2*3/16 = 1.875; 1.875 * 64e6 / (2 * 50e9) = 1.2 ms
    time = torus2d_allreduce(64e6, (4, 4), 50e9, 1e-6)
    assert time.latency_s == pytest.approx(12e-6)
    assert time.transfer_s == pytest.approx(1.2e-3)
    # the bandwidth factor is the ring's 2 (p-1)/p = 30/16
    assert time.sent_bytes == pytest.approx(64e6 * 30 / 16)


def test_torus_slices() -> None:
    assert torus_slice(1024, (32, 32)) == (32, 32)
    assert torus_slice(64, (32, 32)) == (8, 8)
    assert torus_slice(128, (32, 32)) == (8, 16)
    assert torus_slice(7, None) == (1, 7)
    with pytest.raises(ValueError, match="slice"):
        torus_slice(67, (32, 32))  # prime: 1 x 67 does not fit a 32 x 32 pod


def test_dgx_a100_hierarchical_by_hand() -> None:
    # 16 A100s = 2 DGX nodes. Inside: ring over 8 GPUs at 12 x 25 = 300 GB/s:
    # 14 alpha (2 us) + 2*7/8 * n / 300e9. Between: the 1/8 shard n/8 over 2 nodes, each GPU
    # with 8 x 25 GB/s / 8 = 25 GB/s: ring 2 * 5 us + 2*1/2 * (n/8) / 25e9,
    # tree 2 * 1 * 5 us + 2 * (n/8) / 25e9 -> the ring wins.
    net = load_hardware(HWCONFIGS / "a100.yaml").interconnect
    assert net is not None
    n = 1.34e9  # BERT-large's 335M fp32 gradients
    time = allreduce(n, 16, net)
    inside = 14 * 2e-6 + 1.75 * n / 300e9
    between = 2 * 5e-6 + 1.0 * (n / 8) / 25e9
    assert time.algorithm == "hierarchical(ring)"
    assert time.seconds == pytest.approx(inside + between)
    # within one node it is a flat ring over NVSwitch
    assert allreduce(n, 8, net).seconds == pytest.approx(14 * 2e-6 + 1.75 * n / 300e9)


def test_auto_picks_tree_for_small_messages_on_a_switch() -> None:
    # 64 devices, 1 KB: ring pays 126 start-ups, tree 2 * 6 = 12
    net = _net()
    assert allreduce(1e3, 64, net).algorithm == "tree"
    # 8 devices, 1 GB at 300 GB/s: ring 14 * 2 us + 1.75 * 1e9 / 3e11 = 5.86 ms,
    # tree 6 * 2 us + 2 * 1e9 / 3e11 = 6.68 ms
    assert allreduce(1e9, 8, net).algorithm == "ring"
    assert allreduce(1e3, 64, _net(topology="ring", links=2)).algorithm == "ring"


def test_one_device_costs_nothing() -> None:
    assert allreduce(1e9, 1, _net()).seconds == 0.0


def test_devices_that_do_not_fit() -> None:
    a100 = load_hardware(HWCONFIGS / "a100.yaml").interconnect
    tpu = load_hardware(HWCONFIGS / "tpu-v3.yaml").interconnect
    assert a100 is not None and tpu is not None
    with pytest.raises(ValueError, match="whole number of 8-device nodes"):
        allreduce(1e6, 12, a100)
    with pytest.raises(ValueError, match="exceed a 32x32 torus pod"):
        allreduce(1e6, 2048, tpu)
    with pytest.raises(ValueError, match="none"):
        allreduce(1e6, 2, _net(topology="none"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dims": [4, 4]}, "dims is only meaningful for topology torus2d"),
        ({"topology": "torus2d", "links": 2}, "needs 4 links"),
        ({"scale_out": {"devices_per_node": 8, "nics": 0, "bandwidth": 1e9, "latency": 0}}, "nics"),
    ],
)
def test_bad_interconnect(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _net(**fields)


def test_bad_interconnect_in_a_file_is_one_line(tmp_path: Path) -> None:
    text = (HWCONFIGS / "a100.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("    nics: 8 ", "    nics: -1 "), encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_hardware(bad)
    message = str(error.value)
    assert "\n" not in message
    assert "bad.yaml" in message and "interconnect.scale_out.nics" in message


# ---- invariants -------------------------------------------------------------------------

sizes = st.floats(min_value=1.0, max_value=1e10)
devices = st.integers(min_value=2, max_value=4096)
bandwidths = st.floats(min_value=1e8, max_value=1e12)
alphas = st.floats(min_value=0.0, max_value=1e-4)


@settings(max_examples=200, deadline=None)
@given(n=sizes, p=devices, b=bandwidths, alpha=alphas, more=st.floats(1.0, 100.0))
def test_more_bandwidth_is_never_slower(
    n: float, p: int, b: float, alpha: float, more: float
) -> None:
    for algorithm in (ring_allreduce, tree_allreduce):
        assert algorithm(n, p, b * more, alpha).seconds <= algorithm(n, p, b, alpha).seconds
    slow, fast = _net(bandwidth=b, latency=alpha), _net(bandwidth=b * more, latency=alpha)
    assert allreduce(n, p, fast).seconds <= allreduce(n, p, slow).seconds


@settings(max_examples=200, deadline=None)
@given(n=sizes, p=devices, b=bandwidths, alpha=alphas, grow=st.floats(1.0, 100.0))
def test_time_grows_with_bytes(n: float, p: int, b: float, alpha: float, grow: float) -> None:
    net = _net(bandwidth=b, latency=alpha)
    assert allreduce(n * grow, p, net).seconds >= allreduce(n, p, net).seconds
    x = math.isqrt(p)
    dims = (x, x)
    assert (
        torus2d_allreduce(n * grow, dims, b, alpha).seconds
        >= torus2d_allreduce(n, dims, b, alpha).seconds
    )


@settings(max_examples=200, deadline=None)
@given(n=sizes, p=devices, b=bandwidths)
def test_ring_sends_the_bandwidth_optimal_bytes(n: float, p: int, b: float) -> None:
    # every device must send 2 (p-1)/p of the payload (Patarasuk & Yuan's lower bound),
    # and the double binary tree sends 2n, never less
    ring = ring_allreduce(n, p, b, 0.0)
    assert ring.sent_bytes == pytest.approx(2 * (p - 1) / p * n)
    assert ring.seconds == pytest.approx(ring.sent_bytes / b)
    assert tree_allreduce(n, p, b, 0.0).sent_bytes >= ring.sent_bytes


@settings(max_examples=100, deadline=None)
@given(n=sizes, p=devices, b=bandwidths, alpha=alphas)
def test_auto_is_the_best_flat_algorithm(n: float, p: int, b: float, alpha: float) -> None:
    net = _net(bandwidth=b, latency=alpha, links=1)
    best = min(ring_allreduce(n, p, b, alpha).seconds, tree_allreduce(n, p, b, alpha).seconds)
    assert allreduce(n, p, net).seconds == pytest.approx(best)
