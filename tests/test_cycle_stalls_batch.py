"""The batched fold model equals the scalar one, array by array, on random designs.

`perfsim.engines.cycle.memory_batch.stall_cycles_many` simulates the USER-mode DRAM stalls
of many systolic arrays at once and `perfsim.engines.cycle.systolic.gemm_cycles_many` builds
every array's report on it: each must be, for every array of a batch, exactly what
`stall_cycles` / `gemm_cycles` give for that array alone (same integers, same floats). The
batches mix array sizes, dataflows, buffer sizes and port widths, as a sweep batch does;
small buffers and narrow ports reach the prefetch chunks and the ofmap drain loop.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.engines.cycle.folds import (
    SystolicArray,
    dataflow_mapping,
    dram_fetches,
    epoch_words,
    fold_mapping,
)
from perfsim.engines.cycle.memory import stall_cycles
from perfsim.engines.cycle.memory_batch import stall_cycles_many
from perfsim.engines.cycle.systolic import gemm_cycles, gemm_cycles_many

# buffer sizes from two words to 64 KiB (bytes), ports from a trickle to wider than the array
_ARRAY = st.builds(
    SystolicArray,
    rows=st.integers(1, 48),
    cols=st.integers(1, 48),
    dataflow=st.sampled_from(["os", "ws", "is"]),
    ifmap_sram_bytes=st.floats(4.0, 65536.0),
    filter_sram_bytes=st.floats(4.0, 65536.0),
    ofmap_sram_bytes=st.floats(4.0, 65536.0),
    word_bytes=st.sampled_from([1.0, 2.0]),
    dram_words_per_cycle=st.one_of(st.none(), st.floats(0.05, 64.0)),
)
_DIM = st.integers(1, 200)


@settings(max_examples=200, deadline=None)
@given(m=_DIM, k=_DIM, designs=st.lists(st.tuples(_DIM, _ARRAY), min_size=1, max_size=6))
def test_gemm_cycles_many_equals_gemm_cycles(
    m: int, k: int, designs: list[tuple[int, SystolicArray]]
) -> None:
    columns = [n for n, _ in designs]
    arrays = [array for _, array in designs]
    expected = [gemm_cycles(m, n, k, array) for n, array in designs]
    assert gemm_cycles_many(m, columns, k, arrays) == expected  # every field, every bit


@settings(max_examples=200, deadline=None)
@given(
    shapes=st.lists(st.tuples(_DIM, _DIM, _DIM), min_size=1, max_size=6),
    arrays=st.lists(_ARRAY, min_size=6, max_size=6),
    bws=st.lists(st.floats(0.05, 64.0), min_size=6, max_size=6),
)
def test_stall_cycles_many_equals_stall_cycles(
    shapes: list[tuple[int, int, int]], arrays: list[SystolicArray], bws: list[float]
) -> None:
    folds, fetches = [], []
    for (m, n, k), array in zip(shapes, arrays, strict=False):
        found = fold_mapping(dataflow_mapping(array.dataflow, m, n, k), array.rows, array.cols)
        folds.append(found)
        fetches.append(
            {
                operand: dram_fetches(
                    getattr(found.mapping, operand),
                    found,
                    epoch_words(array.sram_words(operand), user_mode=True),
                )
                for operand in ("ifmap", "filter")
            }
        )
    count = len(folds)
    expected = [
        stall_cycles(array, fold, fetched, bw)
        for array, fold, fetched, bw in zip(arrays, folds, fetches, bws, strict=False)
    ]
    assert stall_cycles_many(arrays[:count], folds, fetches, bws[:count]) == expected


def test_empty_batch() -> None:
    assert stall_cycles_many([], [], [], []) == []
    assert gemm_cycles_many(4, [], 4, []) == []
