"""``compute.vector.stream_efficiency``: the framework's own LayerNorm and softmax kernels
stream below the achievable DRAM rate; a fusion pass's library kernel does not
(`perfsim.engines.vector_work`, `perfsim.whatif.placement.library_kernels`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from perfsim.engines import get_cost_model
from perfsim.errors import SpecError
from perfsim.hardware import load_hardware
from perfsim.hardware.ideal import ideal_hardware
from perfsim.ir import Category, GraphMeta, OpGraph, OpNode, TensorSpec
from perfsim.whatif import WhatIfs, estimate_whatif
from perfsim.whatif.placement import library_kernels
from tests.conftest import HWCONFIGS
from tests.test_roofline import device

ENGINES = ("roofline", "cycle")


def layer_norm(rows: int, columns: int, dtype: str = "fp32") -> OpNode:
    """``native_layer_norm`` over ``rows`` x ``columns`` with affine weights, counted by
    hand: the input, weight and bias read, the output and each row's mean and rstd
    written."""
    size = 4 if dtype == "fp32" else 2
    return OpNode(
        name="ln",
        category=Category.LAYERNORM,
        target="aten.native_layer_norm.default",
        scope="",
        layer=-1,
        phase="forward",
        inputs=(
            TensorSpec((rows, columns), dtype),
            TensorSpec((columns,), dtype),
            TensorSpec((columns,), dtype),
        ),
        outputs=(
            TensorSpec((rows, columns), dtype),
            TensorSpec((rows, 1), "fp32"),
            TensorSpec((rows, 1), "fp32"),
        ),
        dims={},
        macs=0,
        flops=8 * rows * columns,
        bytes_read=(rows * columns + 2 * columns) * size,
        bytes_written=rows * columns * size + 2 * rows * 4,
    )


def test_memory_time_by_hand() -> None:
    """A DRAM-bound LayerNorm at efficiency 0.5 takes twice its time at the achievable
    rate, in both engines; an element-wise op (no entry) does not move."""
    plain = device()
    halved = device(compute__vector__stream_efficiency={"layer_norm": 0.5})
    op = layer_norm(1024, 1024)
    dram_s = (op.bytes_read + op.bytes_written) / 10e9  # the test device's 10 GB/s DRAM
    for engine in ENGINES:
        model = get_cost_model(engine)
        before, after = model.op_cost(op, plain), model.op_cost(op, halved)
        assert before.level_s["dram"] == pytest.approx(dram_s)
        assert after.level_s["dram"] == pytest.approx(2 * dram_s)
        assert after.memory_s == pytest.approx(2 * before.memory_s)
        assert after.traffic_bytes == before.traffic_bytes  # the bytes are the same


def test_a_library_kernel_streams_at_the_achievable_rate() -> None:
    """fusion=layernorm brings in a library kernel for LayerNorm (not for softmax);
    fusion=softmax or attention for softmax; no other pass touches either."""
    hw = device(compute__vector__stream_efficiency={"layer_norm": 0.5, "softmax": 0.7})
    assert library_kernels(hw, ()) is hw
    assert library_kernels(hw, ("epilogue", "optimizer")) is hw
    ln = library_kernels(hw, ("layernorm",)).compute.vector.stream_efficiency
    assert ln == {"softmax": 0.7}
    both = library_kernels(hw, ("layernorm", "attention")).compute.vector.stream_efficiency
    assert both is None
    op = layer_norm(512, 768)
    graph = OpGraph((op,), GraphMeta(model="ln", batch=1, seq=512, mode="inference"))
    for engine in ENGINES:
        eager = estimate_whatif(graph, hw, precision="fp32", engine=engine, whatifs=WhatIfs())
        fused = estimate_whatif(
            graph, hw, precision="fp32", engine=engine, whatifs=WhatIfs(fusion=("layernorm",))
        )
        assert eager.costs[0].memory_s == pytest.approx(2 * fused.costs[0].memory_s)


def test_unknown_kind_is_a_one_line_error(tmp_path: Path) -> None:
    text = (HWCONFIGS / "a100.yaml").read_text()
    assert "      layer_norm: 0.72" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("      layer_norm: 0.72", "      norm: 0.72"))
    with pytest.raises(SpecError, match="stream_efficiency names no kind of vector op"):
        load_hardware(bad)
    done = subprocess.run(
        [sys.executable, "-m", "perfsim", "run", "-m", "bert-tiny", "--hw", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "bad.yaml" in done.stderr


def test_the_ideal_bound_streams_at_peak() -> None:
    hw = load_hardware(HWCONFIGS / "a100.yaml")
    assert hw.compute.vector.stream_efficiency
    assert ideal_hardware(hw).compute.vector.stream_efficiency is None


# NVIDIA/apex PR #1037 (merged, e2083df5), "Performance for B=32, S=512 on GA100": apex's
# affine LayerNorm forward 0.0751 ms (895.8 GB/s), the new FastLayerNorm forward 0.0535 ms
# (1,258 GB/s), fp16, hidden 1,024 (its test_fast_layer_norm.py). Neither was used to set
# a100.yaml's figures (those are eager PyTorch's fp32 kernels, results/validation/neusight).
APEX_LN_S = 0.0751e-3
FAST_LN_S = 0.0535e-3


def test_a100_layer_norm_against_apex_on_ga100() -> None:
    """The framework-class kernel against apex's earlier affine LayerNorm (a per-row
    kernel of the same kind), the library kernel against FastLayerNorm: both within 15%."""
    hw = load_hardware(HWCONFIGS / "a100.yaml")
    op = layer_norm(32 * 512, 1024, "fp16")
    graph = OpGraph((op,), GraphMeta(model="ln", batch=32, seq=512, mode="inference"))
    for engine in ENGINES:
        eager = estimate_whatif(graph, hw, precision="fp16", engine=engine, whatifs=WhatIfs())
        fused = estimate_whatif(
            graph, hw, precision="fp16", engine=engine, whatifs=WhatIfs(fusion=("layernorm",))
        )
        eager_s, fused_s = eager.costs[0].kernel_s, fused.costs[0].kernel_s
        assert eager_s is not None and fused_s is not None
        assert abs(eager_s / APEX_LN_S - 1) <= 0.15, (engine, eager_s)
        assert abs(fused_s / FAST_LN_S - 1) <= 0.15, (engine, fused_s)
        assert fused_s < eager_s


def test_a_kind_at_one_dtype_before_the_kind() -> None:
    """``layer_norm.fp16`` holds for an fp16 LayerNorm, ``layer_norm`` for the others (the
    H200's measured fp16 kernel moves half the bytes a load and streams slower); a library
    kernel replaces both."""
    hw = device(
        compute__vector__stream_efficiency={"layer_norm": 0.5, "layer_norm.fp16": 0.25},
        compute__vector__flops_per_cycle={"fp32": 8, "fp16": 8, "bf16": 8},
    )
    dram_s = {}
    for dtype in ("fp32", "fp16", "bf16"):
        op = layer_norm(1024, 1024, dtype)
        at_rate = (op.bytes_read + op.bytes_written) / 10e9
        dram_s[dtype] = get_cost_model("roofline").op_cost(op, hw).level_s["dram"] / at_rate
    assert dram_s == pytest.approx({"fp32": 2.0, "fp16": 4.0, "bf16": 2.0})
    assert library_kernels(hw, ("layernorm",)).compute.vector.stream_efficiency is None


def test_a_kind_at_an_unknown_dtype_is_an_error(tmp_path: Path) -> None:
    text = (HWCONFIGS / "a100.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("      layer_norm: 0.72", "      layer_norm.fp64: 0.72"))
    with pytest.raises(SpecError, match=r"layer_norm\.fp64"):
        load_hardware(bad)


@pytest.mark.parametrize("name", ["h100", "h200"])
def test_hopper_layer_norm_from_the_h200s_profiled_kernels(name: str) -> None:
    """The fp32 and fp16 figures reproduce the profiled kernels of
    gpu-h200-checks/kernels.csv: read + write bytes / (time - kernel_startup) over the
    achievable HBM rate (bert-large b32 s128 AMP fp32 LayerNorm: 14.42 us; fp16 at b32 s384
    inference and b32 s128 master-weight training: 32.60 and 11.49 us)."""
    hw = load_hardware(HWCONFIGS / f"{name}.yaml")
    measured = load_hardware(HWCONFIGS / "h200.yaml")
    achievable = measured.level_bandwidth(measured.dram)
    startup = measured.kernel_startup_s
    rows = 32 * 128

    def efficiency(elements: int, size: int, seconds: float) -> float:
        moved = 2 * elements * size + 2 * (elements // 1024) * 4
        return moved / (seconds - startup) / achievable

    fp32 = efficiency(rows * 1024, 4, 14.42e-6)
    fp16 = (efficiency(3 * rows * 1024, 2, 32.60e-6) + efficiency(rows * 1024, 2, 11.49e-6)) / 2
    figures = hw.compute.vector.stream_efficiency
    assert figures["layer_norm"] == pytest.approx(fp32, abs=0.01)
    assert figures["layer_norm.fp16"] == pytest.approx(fp16, abs=0.01)
    assert figures["layer_norm.bf16"] == figures["layer_norm.fp16"]
