"""The tracer on real models: categories, counts, names, layers, folding, JSON round trip."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from perfsim.ir import Category, OpGraph
from perfsim.workload import available_models


def test_bert_tiny_op_kinds_and_counts(traced) -> None:
    graph = traced("bert-tiny")
    counts = Counter(op.category for op in graph.ops)
    # 2 layers x (Q, K, V, attn-out, FFN up, FFN down) + pooler = 13 GEMMs
    assert counts[Category.GEMM] == 13
    # QK^T and AV per layer
    assert counts[Category.ATTN_GEMM] == 4
    assert counts[Category.SOFTMAX] == 2
    # embedding LayerNorm + 2 per layer
    assert counts[Category.LAYERNORM] == 5
    # word, position and token-type lookups
    assert counts[Category.EMBEDDING] == 3
    # one GELU per layer, plus the pooler's tanh (an activation)
    assert counts[Category.GELU] == 3
    assert counts[Category.DROPOUT] == 0  # eval mode
    assert graph.meta["unsupported"] == {}
    assert graph.meta["folded_ops"] > 0  # views, transposes, expands folded away


def test_names_scopes_and_layers(traced) -> None:
    graph = traced("bert-tiny")
    names = [op.name for op in graph.ops]
    assert len(set(names)) == len(names)
    query = next(op for op in graph.ops if op.name == "encoder.layer.1.attention.self.query/addmm")
    assert query.layer == 1
    assert query.scope == "encoder.layer.1.attention.self.query"
    assert dict(query.dims) == {"b": 1, "m": 128, "n": 128, "k": 128}
    assert query.target == "aten.addmm.default"
    assert {op.layer for op in graph.ops} == {-1, 0, 1}
    assert all(op.layer == -1 for op in graph.ops if op.scope.startswith(("embeddings", "pooler")))


def test_attention_shapes(traced) -> None:
    graph = traced("bert-base", 2, 64)
    scores = next(op for op in graph.ops if op.category == Category.ATTN_GEMM)
    # batch 2 x 12 heads, 64 queries x 64 keys, head dim 64
    assert dict(scores.dims) == {"b": 24, "m": 64, "n": 64, "k": 64}
    softmax = next(op for op in graph.ops if op.category == Category.SOFTMAX)
    assert softmax.outputs[0].shape == (2, 12, 64, 64)
    # 5 FLOPs per element (max, sub, exp, sum, div)
    assert softmax.flops == 5 * 2 * 12 * 64 * 64


def test_materialized_transpose_is_data_movement(traced) -> None:
    graph = traced("bert-tiny")
    # the context layer's transpose(1, 2) is made contiguous before the output projection
    clones = [
        op for op in graph.ops if op.category == Category.DATA_MOVEMENT and "clone" in op.name
    ]
    assert len(clones) == 2
    assert all(op.bytes_read == op.bytes_written == 128 * 128 * 4 for op in clones)


def test_albert_shared_layer_is_indexed_per_call(traced) -> None:
    graph = traced("albert-base")
    per_layer = Counter(op.layer for op in graph.ops if op.layer >= 0)
    assert sorted(per_layer) == list(range(12))
    assert len(set(per_layer.values())) == 1  # the same ops each time round


def test_embedding_reads_only_gathered_rows(traced) -> None:
    graph = traced("bert-base")
    word = next(op for op in graph.ops if op.name == "embeddings.word_embeddings/embedding")
    # 128 rows of 768 fp32 values + 128 int64 ids, not the 30522-row table
    assert word.bytes_read == 128 * 768 * 4 + 128 * 8
    assert word.bytes_written == 128 * 768 * 4


def test_dependencies_point_backwards(traced) -> None:
    graph = traced("bert-tiny")
    for index, op in enumerate(graph.ops):
        assert all(0 <= dep < index for dep in op.deps)
    assert sum(1 for op in graph.ops if not op.deps) <= 4  # lookups of the inputs only


@pytest.mark.parametrize("name", sorted(available_models()))
def test_every_builtin_traces_without_unsupported_ops(traced, name: str) -> None:
    graph = traced(name, 1, 32)
    assert graph.meta["unsupported"] == {}
    assert Counter(op.category for op in graph.ops)[Category.GEMM] > 0


def test_json_round_trip(traced) -> None:
    graph = traced("bert-tiny")
    assert OpGraph.from_json(graph.to_json()) == graph


def test_cached_run_does_not_import_torch(traced, graph_cache) -> None:
    traced("bert-tiny", 1, 16)  # make sure the cache holds it
    cache = repr(str(graph_cache))
    code = (
        "import sys; from pathlib import Path; import perfsim; "
        "r = perfsim.simulate(perfsim.Scenario('bert-tiny', seq=16), 'npu', "
        f"store=perfsim.GraphStore(Path({cache}))); "
        "r.summary(); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
