"""The block products of torch's CPU flash attention (`perfsim.hardware.flash_blocks`)."""

from __future__ import annotations

import pytest

from perfsim.hardware import load_hardware
from perfsim.hardware.flash_blocks import FLASH_AV, FLASH_QK, flash_block_dims
from perfsim.ir import Category, OpGraph
from perfsim.whatif.fusion import fuse
from tests.conftest import HWCONFIGS


@pytest.fixture(scope="module")
def tiny(traced) -> OpGraph:  # type: ignore[no-untyped-def]
    return traced("bert-tiny", batch=2, seq=16)


@pytest.mark.parametrize(
    ("seq", "rows"),
    [(32, 32), (128, 32), (191, 32), (192, 64), (512, 64), (767, 64), (768, 256), (4096, 256)],
)
def test_query_blocks_follow_torchs_dispatch(seq: int, rows: int) -> None:
    """FlashAttentionKernel.cpp: 256-row query blocks from 768 tokens, 64 from 192, else
    32, cut to the sequence; keys in blocks of 512, cut to the sequence."""
    qk = flash_block_dims({"b": 24, "m": seq, "n": seq, "k": 64, "flash": FLASH_QK})
    av = flash_block_dims({"b": 24, "m": seq, "n": 64, "k": seq, "flash": FLASH_AV})
    keys = min(seq, 512)
    assert (qk["m"], qk["n"], qk["k"]) == (min(rows, seq), keys, 64)
    assert (av["m"], av["n"], av["k"]) == (min(rows, seq), 64, keys)
    assert qk["b"] == av["b"] == 24  # per instance: the batch is not a block dimension
    unmarked = {"m": seq, "n": seq, "k": 64}
    assert flash_block_dims(unmarked) == unmarked


def test_fused_attention_marks_its_two_products(tiny: OpGraph) -> None:
    fused, _ = fuse(tiny, ["attention"])
    roles = [op.dims.get("flash") for op in fused.ops if op.category is Category.ATTN_GEMM]
    assert roles == [FLASH_QK, FLASH_AV] * (len(roles) // 2) and roles
    unfused = [op.dims.get("flash") for op in tiny.ops if op.category is Category.ATTN_GEMM]
    assert set(unfused) == {None}


def test_a_cpu_looks_its_efficiency_up_at_the_block() -> None:
    """host.yaml's efficiency ladder over m: a 512-token QKᵀ runs as 64-row blocks, at the
    ladder's 64-row fraction, below the 512-row one; a GPU file (no table) is unaffected."""
    host = load_hardware(HWCONFIGS / "host.yaml")
    dims = {"b": 12, "m": 512, "n": 512, "k": 64}
    whole = host.gemm_efficiency(dims)
    block = host.gemm_efficiency({**dims, "flash": FLASH_QK})
    assert block == host.matrix_efficiency(64, 512, 64) < whole
    a100 = load_hardware(HWCONFIGS / "a100.yaml")
    assert a100.gemm_efficiency({**dims, "flash": FLASH_QK}) == 1.0
