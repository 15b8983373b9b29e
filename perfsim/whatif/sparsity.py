"""N:M structured weight sparsity (e.g. 2:4) on hardware that can skip the zeros.

In every group of M consecutive weights along the reduction dimension ``k`` at most N are
non-zero. Hardware that supports it (NVIDIA's sparse tensor cores: "NVIDIA A100 Tensor
Core GPU Architecture" whitepaper, 2020, "Fine-Grained Structured Sparsity": 2:4 doubles
the math throughput of dense tensor cores) stores only the N kept values plus a
``ceil(log2 M)``-bit index per value (2 bits for 2:4), reads the whole activation and
selects the matching ones, and runs a dense product of depth ``k N / M``.

Modelled per forward weight GEMM, with ``s = sparsity_speedup`` (default ``M / N``, the
whitepaper's 2x for 2:4; 1 means the hardware cannot exploit the pattern):

- the MACs become ``m n ceil(k / s)`` (the engine sees a GEMM of depth ``ceil(k / s)``);
- the weight is read as ``k n N / M`` values plus their indices;
- activations are read in full, outputs written as before.

With ``s = 1`` the graph is unchanged (dense weights, dense math). Forward graphs only.
"""

from __future__ import annotations

import math
from dataclasses import replace

from perfsim.ir import OpGraph, OpNode, TensorSpec
from perfsim.whatif.graphops import is_weight_gemm, recount, require_inference, with_params
from perfsim.whatif.knobs import WhatIfError


def pattern(text: str) -> tuple[int, int]:
    """``"2:4"`` -> ``(2, 4)``."""
    n, _, m = text.partition(":")
    return int(n), int(m)


def sparse_gemm(op: OpNode, n_keep: int, m_group: int, speedup: float) -> OpNode:
    """One weight GEMM under N:M sparsity exploited at ``speedup``."""
    k, n = op.dims["k"], op.dims["n"]
    weight = next(t for t in op.inputs if t.role == "weight" and len(t.shape) == 2)
    kept_rows = math.ceil(k * n_keep / m_group)
    values = TensorSpec((kept_rows, n), weight.dtype, role="weight")
    bits = math.ceil(math.log2(m_group))
    # the index metadata, bits per kept value, held as a packed int4 tensor of that size
    meta_numel = math.ceil(kept_rows * n * bits / 4)
    metadata = TensorSpec((kept_rows, n), "int4", stored_numel=meta_numel, role="index")
    inputs = (*(values if t is weight else t for t in op.inputs), metadata)
    depth = math.ceil(k / speedup)
    sparse = recount(op, inputs, op.outputs, {**op.dims, "k": depth})
    return replace(sparse, name=op.name)


def sparsify(graph: OpGraph, text: str, speedup: float | None) -> OpGraph:
    """Apply ``N:M`` sparsity to every forward weight GEMM (module docstring)."""
    if text == "none":
        return graph
    require_inference(graph, "sparsity")
    n_keep, m_group = pattern(text)
    gain = speedup if speedup is not None else m_group / n_keep
    if gain > m_group / n_keep:
        raise WhatIfError(
            f"whatif.sparsity_speedup: {gain} exceeds what {text} sparsity allows "
            f"(M/N = {m_group / n_keep:g})"
        )
    if gain == 1:
        return graph
    ops = tuple(
        sparse_gemm(op, n_keep, m_group, gain) if is_weight_gemm(op) else op for op in graph.ops
    )
    return with_params(graph, ops)  # parameters: the kept values (indices are metadata)
