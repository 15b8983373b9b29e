"""Variable sequence lengths: a batch of real lengths, padded or packed.

A padded batch of ``n`` sequences costs the model at ``(n, L_pad)``: every sequence is
padded to the longest (or to a fixed ``--seq``), and that is an ordinary trace.

A packed (unpadded) batch costs what an unpadded implementation runs (e.g. FasterTransformer's
"remove padding" mode, or FlashAttention's variable-length kernels): token-wise ops (GEMMs,
LayerNorm, GELU, element-wise, embeddings) on the ``T = sum(l_i)`` real tokens, attention
score ops (QKᵀ, AV, softmax, dropout and masks over the scores) per sequence, i.e. over
``sum(l_i^2)`` score elements per head, and per-sequence ops (the pooler) once per sequence.

Derivation, from two traces of the model at batch 1 and two probe lengths ``a != b``
(`probe_lengths`): an axis or a dim that differs between the two traces is a token axis.
An op with a tensor (or matrix dims) holding two token axes is an attention-score op; an
op with none is per-sequence; the rest are token-wise. Then, exactly:

- token-wise op: every token axis becomes ``T`` (one sequence of all real tokens);
- score op: one copy per distinct length ``l`` occurring ``c`` times, token axes ``l`` and
  the leading (batch, or batch x heads) axis and ``b`` dim times ``c``;
- per-sequence op: the batch axis of its tensors (the one of size 1 in the batch-1 probe:
  the activations' leading axis, a weight gradient's depth ``k``) times ``n``; an op without
  one (a training step's optimizer updates, a weight-shaped gradient sum, a scalar loss)
  runs once per step and is kept.

A training step's ``grad_ready`` op indices follow the copies (the data-parallel gradient
buckets read them), and `balanced_shares` deals a global batch of lengths over devices.

The copies of a score op are one variable-length kernel: only the first pays a launch
(``meta.kernel_parts`` names the others, `perfsim.whatif.estimate_whatif` honours it).

No torch and no heuristics about which axis is which: the probes say. Packing all
sequences at one length ``L`` reproduces the ``(n, L)`` trace's FLOPs exactly (tested).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from perfsim.ir import OpGraph, OpNode, TensorSpec
from perfsim.whatif.graphops import recount, remap_grad_ready, resize
from perfsim.whatif.length_files import LengthsError, parse_lengths

PADDINGS: Final = ("padded", "packed")


@dataclass(frozen=True, slots=True)
class SequenceLengths:
    """A batch of real sequence lengths (tokens), run ``padded`` (to ``pad_to`` or the
    longest) or ``packed`` (no padding; `perfsim.whatif.lengths`)."""

    lengths: tuple[int, ...]
    padding: str = "padded"
    pad_to: int | None = None


def probe_lengths(max_seq: int) -> tuple[int, int]:
    """Two distinct, odd probe lengths within the model's positions.

    Odd primes do not coincide with a model dimension (heads, head size, hidden, FFN,
    vocabulary are even in every built-in model); `packed_graph` does not rely on it, it
    only needs the two traces to differ on the token axes.
    """
    for pair in ((61, 67), (13, 17), (3, 5), (1, 2)):
        if pair[1] <= max_seq:
            return pair
    raise LengthsError(f"--seq-lengths: the model has {max_seq} position(s); need at least 2")


def lengths_summary(lengths: Sequence[int], padding: str, pad_to: int) -> dict[str, Any]:
    """The ``seq_lengths`` object of the run summary."""
    tokens = sum(lengths)
    return {
        "padding": padding,
        "sequences": len(lengths),
        "tokens": tokens,
        "mean": tokens / len(lengths),
        "min": min(lengths),
        "max": max(lengths),
        "padded_to": pad_to if padding == "padded" else None,
        "padding_share": 1 - tokens / (pad_to * len(lengths)) if padding == "padded" else 0.0,
    }


# ---- packing ----------------------------------------------------------------------------


def _token_axes(a: TensorSpec, b: TensorSpec) -> tuple[int, ...]:
    return tuple(i for i, (x, y) in enumerate(zip(a.shape, b.shape, strict=True)) if x != y)


def _kind(op: OpNode, other: OpNode) -> str:
    if (op.name, op.category, len(op.inputs), len(op.outputs)) != (
        other.name,
        other.category,
        len(other.inputs),
        len(other.outputs),
    ) or any(
        len(x.shape) != len(y.shape)
        for x, y in zip((*op.inputs, *op.outputs), (*other.inputs, *other.outputs), strict=True)
    ):
        raise LengthsError(
            f"--seq-lengths: the model's graph changes shape with the sequence length at "
            f"{op.name}; cannot pack it"
        )
    axes = [
        _token_axes(x, y)
        for x, y in zip((*op.inputs, *op.outputs), (*other.inputs, *other.outputs), strict=True)
    ]
    dims = [key for key in op.dims if op.dims[key] != other.dims.get(key)]
    if len(dims) >= 2 or any(len(a) >= 2 for a in axes):
        return "score"
    if dims or any(axes):
        return "token"
    return "sequence"


def _retoken(op: OpNode, other: OpNode, tokens: int, copies: int) -> OpNode:
    """``op`` with every token axis set to ``tokens`` and its batch axis times ``copies``."""

    def one(x: TensorSpec, y: TensorSpec) -> TensorSpec:
        axes = _token_axes(x, y)
        if not axes:
            return x
        shape = [tokens if i in axes else size for i, size in enumerate(x.shape)]
        if copies > 1:
            if 0 in axes:
                raise LengthsError(f"--seq-lengths: {op.name} has no batch axis to split over")
            shape[0] *= copies
        return resize(x, tuple(shape))

    inputs = tuple(one(x, y) for x, y in zip(op.inputs, other.inputs, strict=True))
    outputs = tuple(one(x, y) for x, y in zip(op.outputs, other.outputs, strict=True))
    dims = {
        key: (tokens if value != other.dims.get(key) else value) for key, value in op.dims.items()
    }
    if copies > 1 and "b" in dims:
        dims["b"] *= copies
    return recount(op, inputs, outputs, dims)


def _batch_axis(tensor: TensorSpec) -> int | None:
    """The batch axis of a per-sequence op's tensor in a batch-1 trace: its first axis of
    size 1 (None for weights, scalars and tensors without one: nothing per sequence)."""
    if tensor.role == "weight" or not tensor.shape:
        return None
    return next((axis for axis, size in enumerate(tensor.shape) if size == 1), None)


def _per_sequence(op: OpNode, sequences: int) -> OpNode:
    """A per-sequence op (the pooler, the next-sentence head and their gradients) for
    ``sequences`` sequences: the batch axis of each tensor times ``sequences``.

    In the batch-1 probe the batch axis is the one of size 1: the leading one of the
    activations (``(1, hidden)``), the reduction depth of a weight gradient
    (``dW = Xᵀ dY``: ``(hidden, 1) @ (1, hidden)``, ``k = 1``). Ops with no such axis (the
    optimizer's updates, a weight-shaped gradient sum, a scalar loss) run once per step
    whatever the batch, and are left as they are.
    """
    if op.phase == "optimizer":
        return op

    def one(tensor: TensorSpec) -> TensorSpec:
        axis = _batch_axis(tensor)
        if axis is None:
            return tensor
        shape = list(tensor.shape)
        shape[axis] *= sequences
        return resize(tensor, tuple(shape))

    dims = dict(op.dims)
    if op.category.is_matrix:
        if dims.get("b", 1) != 1:
            dims["b"] *= sequences
        else:
            key = next((key for key in ("m", "k", "n") if dims.get(key) == 1), None)
            if key is not None:
                dims[key] *= sequences
    return recount(op, tuple(one(t) for t in op.inputs), tuple(one(t) for t in op.outputs), dims)


def packed_graph(probe: OpGraph, other: OpGraph, lengths: Sequence[int]) -> OpGraph:
    """The graph an unpadded implementation runs for ``lengths`` (module docstring).

    ``probe`` and ``other`` are the same model traced at batch 1 and two different
    sequence lengths.
    """
    if (probe.meta.batch or 1) != 1 or (other.meta.batch or 1) != 1:
        raise LengthsError("--seq-lengths: the probe graphs must be traced at batch 1")
    if len(probe.ops) != len(other.ops):
        raise LengthsError(
            "--seq-lengths: the model's graph changes with the sequence length; cannot pack it"
        )
    if not lengths or min(lengths) < 1:
        raise LengthsError("--seq-lengths: expected at least one positive length")
    tokens = sum(lengths)
    groups = sorted(Counter(lengths).items())
    kinds = [_kind(a, b) for a, b in zip(probe.ops, other.ops, strict=True)]

    # a copy at length l reads the copy at l of a split producer, else the producer itself;
    # a token-wise reader of a split op reads every copy
    new_ops: list[OpNode] = []
    produced: list[dict[int | None, int]] = []
    for index, op in enumerate(probe.ops):
        twin = other.ops[index]
        if kinds[index] == "score":
            copies: dict[int | None, int] = {}
            for length, count in groups:
                deps = sorted(
                    {
                        new
                        for dep in op.deps
                        for key, new in produced[dep].items()
                        if key is None or key == length
                    }
                )
                copy = _retoken(op, twin, length, count)
                new_ops.append(replace(copy, name=f"{op.name}@{length}", deps=tuple(deps)))
                copies[length] = len(new_ops) - 1
            produced.append(copies)
            continue
        deps = sorted({new for dep in op.deps for new in produced[dep].values()})
        if kinds[index] == "token":
            rebuilt = _retoken(op, twin, tokens, 1)
        else:
            rebuilt = _per_sequence(op, len(lengths))
        new_ops.append(replace(rebuilt, deps=tuple(deps)))
        produced.append({None: len(new_ops) - 1})
    # a training step's gradients become final at the copies' last op (data parallelism)
    meta = remap_grad_ready(probe, [tuple(ops.values()) for ops in produced], len(new_ops))
    meta = meta.but(memory=_scaled_memory(probe, new_ops))
    # one variable-length kernel serves every length (FlashAttention's varlen kernels,
    # FasterTransformer's): copies after the first launch nothing of their own
    parts = [
        f"{op.name}@{length}"
        for op, kind in zip(probe.ops, kinds, strict=True)
        if kind == "score"
        for length, _ in groups[1:]
    ]
    meta = meta.but(
        kernel_parts=tuple(parts),
        batch=len(lengths),
        seq=max(lengths),
        seq_lengths=lengths_summary(lengths, "packed", max(lengths)),
    )
    return OpGraph(tuple(new_ops), meta)


def kernel_part_names(graph: OpGraph, sequence_kernels: str = "varlen") -> frozenset[str]:
    """Names of the ops launched inside an earlier copy's variable-length kernel
    (``meta.kernel_parts``), or none with ``sequence_kernels="per_sequence"``: a loop over
    the sequences launches each length's kernel of its own (NVIDIA's MLPerf v0.7 BERT,
    ``mhalib/mha_funcs.cu``: one cuBLAS batched GEMM or softmax launch per sequence). NB:
    sequences of one length share a copy, so this counts a launch per distinct length, a
    lower bound on a loop's launches."""
    if sequence_kernels == "per_sequence":
        return frozenset()
    return frozenset(graph.meta.kernel_parts)


def _forward_written(ops: Sequence[OpNode]) -> int:
    return sum(op.bytes_written for op in ops if op.phase == "forward")


def _scaled_memory(probe: OpGraph, ops: Sequence[OpNode]) -> dict[str, int] | None:
    """The probe's measured footprint (``meta.memory``) for the packed ops.

    Saved activations (training) and the peak of live activations (inference) grow with
    what the forward pass writes (token-wise and score tensors alike), so they take the
    ratio ``r`` of forward bytes written, packed over probe; weights, gradients and
    optimizer state do not change; a training step's measured peak gains the extra
    activations only (its transients are left as the probe measured them). Against the
    traced steps of bert-base (8 x 128, 2 x 512, 32 x 64, fp16 training): saved
    activations +2%, +10%, 0%; inference peaks +9%, -20%, 0% (`tests/test_lengths_training.py`).
    """
    memory = probe.meta.memory
    if memory is None:
        return None
    ratio = _forward_written(ops) / max(1, _forward_written(probe.ops))
    scaled = dict(memory)
    if "activations" in memory:  # a training step
        extra = int(memory["activations"] * (ratio - 1))
        scaled["activations"] = int(memory["activations"]) + extra
        scaled["peak_live"] = int(memory["peak_live"]) + extra
    else:
        scaled["peak_live"] = int(memory["peak_live"] * ratio)
    return scaled


def padded_length(lengths: Sequence[int], pad_to: int | None) -> int:
    """The length a padded batch runs at: ``pad_to``, else the longest; never shorter."""
    longest = max(lengths)
    if pad_to is not None and pad_to < longest:
        raise LengthsError(
            f"--seq: cannot pad to {pad_to}; the longest sequence has {longest} tokens"
        )
    return pad_to or longest


def balanced_shares(lengths: Sequence[int], parts: int) -> list[tuple[int, ...]]:
    """``lengths`` dealt into ``parts`` shares of equal count with tokens as even as a
    greedy deal makes them: longest first, each to the share with the fewest tokens that
    still has room (as NVIDIA's MLPerf BERT balances sequences over GPUs,
    ``--exchange_padding``).

    Raises:
        LengthsError: a count that does not split into ``parts`` equal shares.
    """
    if parts < 1 or len(lengths) % parts:
        raise LengthsError(
            f"--seq-lengths: {len(lengths)} sequences do not split into {parts} equal shares"
        )
    size = len(lengths) // parts
    shares: list[list[int]] = [[] for _ in range(parts)]
    for length in sorted(lengths, reverse=True):
        open_shares = [share for share in shares if len(share) < size]
        min(open_shares, key=sum).append(length)
    return [tuple(share) for share in shares]


def heaviest_share(lengths: Sequence[int], parts: int) -> tuple[int, ...]:
    """The `balanced_shares` share a synchronous step waits for: the most tokens, then
    the most attention-score elements."""
    return max(
        balanced_shares(lengths, parts), key=lambda share: (sum(share), score_elements(share))
    )


def score_elements(lengths: Sequence[int]) -> int:
    """``sum(l_i^2)``: attention-score elements per head of a packed batch."""
    return sum(length * length for length in lengths)


def padding_waste(lengths: Sequence[int], pad_to: int) -> float:
    """Share of a padded batch's tokens that are padding."""
    return 1 - sum(lengths) / (pad_to * len(lengths)) if lengths else 0.0


__all__ = [
    "PADDINGS",
    "LengthsError",
    "balanced_shares",
    "heaviest_share",
    "lengths_summary",
    "packed_graph",
    "padded_length",
    "padding_waste",
    "parse_lengths",
    "probe_lengths",
    "score_elements",
]


def lengths_graph(
    probe: Callable[[int], OpGraph], max_seq: int, lengths: SequenceLengths
) -> OpGraph:
    """The graph of a batch of real lengths, from ``probe(seq)`` (a batch-1 graph at
    ``seq`` tokens) at the two `probe_lengths` of a model with ``max_seq`` positions.

    Raises:
        LengthsError: a sequence longer than the model's position table.
    """
    longest = max(lengths.lengths)
    if longest > max_seq:
        raise LengthsError(
            f"--seq-lengths: a sequence of {longest} tokens exceeds the model's {max_seq} positions"
        )
    short, long = probe_lengths(max_seq)
    probes = probe(short), probe(long)
    if lengths.padding == "packed":
        return packed_graph(*probes, lengths.lengths)
    length = padded_length(lengths.lengths, lengths.pad_to)
    graph = packed_graph(*probes, [length] * len(lengths.lengths))
    summary = lengths_summary(lengths.lengths, "padded", length)
    return OpGraph(graph.ops, graph.meta.but(seq_lengths=summary))
