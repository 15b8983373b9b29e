"""Masked-LM head over the masked positions only: gather them, then predict.

Hugging Face's ``BertForPreTraining`` / ``BertForMaskedLM`` (what perfsim traces) runs the
prediction head (``cls.predictions``: transform dense, activation, LayerNorm, then the
decoder GEMM onto the vocabulary) and the cross-entropy over *every* position, ignoring the
unmasked ones in the loss. The pre-training recipes that published their throughput
gather the masked positions first: NVIDIA's BERT (DeepLearningExamples, the MLPerf
submissions) and DeepSpeed's ``bing_bert`` pass ``masked_token_indexes`` to the head,
which ``index_select``s ``max_predictions_per_seq`` rows per sequence (Devlin et al.'s
``create_pretraining_data.py``: 20 at seq 128, 80 at seq 512; MLPerf's reference: 76 at
512).

``mlm_positions`` is that count per sequence (a whole number, at most ``seq``) or a
fraction of ``seq`` in (0, 1) (rounded, at least 1). With ``B`` sequences of ``S`` tokens
and ``P`` positions, ``M = B*S`` rows become ``M' = B*P`` in:

- the head's forward ops (``m`` of the GEMMs, the token axis of the activation, the
  LayerNorm and their saved statistics), and the loss ops reading ``M x vocab`` logits;
- the head's backward ops: the input-gradient GEMMs (``m``), the weight-gradient GEMMs
  (reduction depth ``k``), the bias-gradient sums and the LayerNorm / activation backward;
- plus the gather itself: an ``index_select`` of ``M' x hidden`` rows (reads what it
  writes, plus the indices) before the head, and in backward its gradient, an
  ``index_add`` into a zeroed ``M x hidden`` tensor (writes all ``M x hidden``, reads the
  ``M'`` rows and the indices, one add per gathered element).

NB: DeepSpeed's ``bing_bert`` head runs the transform over every position and gathers
before the decoder only; here the gather comes first, as in NVIDIA's MLPerf code (the
transform is 2 x hidden^2 FLOPs per token, 1/30 of the decoder's at BERT's vocabulary).
The activation footprint (``meta.memory``) is left as traced. The next-sentence head is
untouched. Training and inference graphs alike; the graph's ``meta.batch`` / ``meta.seq``
give ``B`` and ``S``.
"""

from __future__ import annotations

from dataclasses import replace

from perfsim.ir import Category, OpGraph, OpNode, TensorSpec
from perfsim.whatif.graphops import Replacement, consumers, expand, recount, resize
from perfsim.whatif.knobs import WhatIfError

HEAD_SCOPE = "cls.predictions"


def positions_for(value: float, seq: int) -> int:
    """Masked positions per sequence: ``value`` itself, or its fraction of ``seq``."""
    if value >= 1:
        if value > seq:
            raise WhatIfError(
                f"whatif.mlm_positions: {int(value)} positions exceed the sequence length {seq}"
            )
        return int(value)
    return max(1, round(value * seq))


def _in_head(op: OpNode) -> bool:
    return op.scope == HEAD_SCOPE or op.scope.startswith(HEAD_SCOPE + ".")


def _is_weight_grad(op: OpNode) -> bool:
    """A matrix op with no weight operand: ``dW = dYᵀ X`` (its depth is the token axis)."""
    return op.category.is_matrix and not any(t.role == "weight" for t in op.inputs)


class _Rows:
    """Token-axis rewrites of one head: ``batch x seq`` rows become ``new`` rows."""

    def __init__(self, batch: int, seq: int, new: int) -> None:
        self.batch, self.seq = batch, seq
        self.old, self.new = batch * seq, new
        self.positions = new // batch

    def has_token_axis(self, t: TensorSpec) -> bool:
        """An activation over the head's rows (``batch x seq x ...`` or ``rows x ...``)."""
        return t.role != "weight" and (
            t.shape[:2] == (self.batch, self.seq) or (len(t.shape) == 2 and t.shape[0] == self.old)
        )

    def tensor(self, t: TensorSpec, axis: int | None = None) -> TensorSpec:
        """A tensor with its token axis shrunk (``axis`` forces which 2-D axis it is)."""
        shape = t.shape
        if t.role == "weight":
            return t
        if len(shape) >= 3 and shape[:2] == (self.batch, self.seq):
            return resize(t, (self.batch, self.positions, *shape[2:]))
        if len(shape) == 2 and axis is not None and shape[axis] == self.old:
            return resize(t, (*shape[:axis], self.new, *shape[axis + 1 :]))
        if len(shape) == 2 and shape[0] == self.old:
            return resize(t, (self.new, shape[1]))
        if len(shape) == 1 and t.role == "index" and shape[0] == self.old:
            return resize(t, (self.new,))
        return t

    def op(self, op: OpNode) -> OpNode:
        """The op over the gathered rows, recounted."""
        dims = dict(op.dims)
        if _is_weight_grad(op):
            # mm(dYᵀ, X): dYᵀ is (n, M), X is (M, k); the output dW has no token axis
            inputs = tuple(
                self.tensor(t, 1 if t.shape[0] != self.old or index == 0 else 0)
                for index, t in enumerate(op.inputs)
            )
            outputs = op.outputs
            if dims.get("k") == self.old:
                dims["k"] = self.new
        else:
            inputs = tuple(self.tensor(t) for t in op.inputs)
            outputs = tuple(self.tensor(t) for t in op.outputs)
            if op.category.is_matrix and dims.get("m") == self.old:
                dims["m"] = self.new
        return recount(op, inputs, outputs, dims)


def _loss_op(op: OpNode, rows: int, vocab: int) -> bool:
    """An op outside the head over ``rows x vocab`` logits (log-softmax, NLL, backward)."""
    tensors = (*op.inputs, *op.outputs)
    return not _in_head(op) and any(
        t.role != "weight" and t.shape == (rows, vocab) for t in tensors
    )


def _gather(first: OpNode, rows: _Rows) -> OpNode:
    """The ``index_select`` of the masked rows, read from the head's input."""
    act = next(t for t in first.inputs if t.role == "activation")
    hidden = act.shape[-1]
    source = TensorSpec((rows.old, hidden), act.dtype)
    op = replace(
        first,
        name=f"{HEAD_SCOPE}/index_select",
        category=Category.DATA_MOVEMENT,
        target="aten.index_select.default",
        scope=HEAD_SCOPE,
    )
    index = TensorSpec((rows.new,), "int64", role="index")
    return recount(op, (source, index), (TensorSpec((rows.new, hidden), act.dtype),), {})


def _scatter(grad: OpNode, rows: _Rows) -> OpNode:
    """The gather's gradient: ``index_add`` of the row gradients into a zeroed tensor."""
    out = grad.outputs[0]
    hidden = out.shape[-1]
    source = TensorSpec((rows.new, hidden), out.dtype)
    index = TensorSpec((rows.new,), "int64", role="index")
    full = TensorSpec((rows.old, hidden), out.dtype)
    return replace(
        grad,
        name=f"{HEAD_SCOPE}/index_add",
        category=Category.ELEMENTWISE,
        target="aten.index_add.default",
        inputs=(index, source),
        outputs=(full,),
        dims={},
        macs=0,
        flops=source.numel,
        bytes_read=source.nbytes + index.nbytes,
        bytes_written=full.nbytes,
        deps=(),
    )


def _head_input_grad(graph: OpGraph, head: set[int], rows: _Rows) -> int | None:
    """The backward op that hands the head's input gradient back to the encoder: the
    input-gradient GEMM, or under autocast the cast of its half gradient back to the
    encoder's fp32 (`perfsim.trace.autocast`)."""
    readers = consumers(graph)
    for index in sorted(head):
        op = graph.ops[index]
        if (
            op.phase == "backward"
            and rows.has_token_axis(op.outputs[0])
            and (op.category.is_matrix or op.target == "aten._to_copy.default")
            and not _is_weight_grad(op)
            and any(r not in head and graph.ops[r].phase == "backward" for r in readers[index])
        ):
            return index
    return None


def _rows(graph: OpGraph, value: float) -> _Rows:
    """The head's rows before and after the gather.

    A traced batch: ``B x S`` rows, ``B x P`` after. A batch of real lengths
    (`perfsim.whatif.lengths`) runs its tokens as one sequence of ``T`` rows (``n x L``
    when padded to ``L``): a count ``P`` gathers ``P`` rows per sequence (at most the
    shortest one's tokens, or the padded length), a fraction ``f`` the share ``f`` of the
    real tokens (at least one per sequence), as the masked positions of each sequence are.
    """
    batch, seq = int(graph.meta.batch or 0), int(graph.meta.seq or 0)
    lengths = graph.meta.seq_lengths
    if lengths is None:
        return _Rows(batch, seq, batch * positions_for(value, seq))
    sequences, tokens = int(lengths["sequences"]), int(lengths["tokens"])
    padded_to = lengths.get("padded_to")
    if padded_to:
        return _Rows(1, sequences * int(padded_to), sequences * positions_for(value, padded_to))
    if value >= 1:
        shortest = int(lengths.get("min") or lengths["max"])
        if value > shortest:
            raise WhatIfError(
                f"whatif.mlm_positions: {int(value)} positions exceed the shortest sequence "
                f"({shortest} tokens); give a fraction of each sequence's tokens (e.g. 0.15)"
            )
        return _Rows(1, tokens, sequences * int(value))
    return _Rows(1, tokens, max(sequences, round(value * tokens)))


def mlm_gather(graph: OpGraph, value: float) -> OpGraph:
    """The MLM head and loss over ``value`` positions per sequence (module docstring);
    0 changes nothing."""
    if not value:
        return graph
    batch, seq = graph.meta.batch, graph.meta.seq
    head = {i for i, op in enumerate(graph.ops) if _in_head(op)}
    # the decoder's GEMM (under autocast its scope also holds the casts of its operands)
    decoders = [
        i
        for i in head
        if graph.ops[i].scope.endswith(".decoder") and graph.ops[i].category.is_matrix
    ]
    if not head or not decoders or not batch or not seq:
        raise WhatIfError(
            "whatif.mlm_positions: needs a graph with a masked-LM head "
            f"({HEAD_SCOPE}.decoder) traced at one batch and sequence length"
        )
    rows = _rows(graph, value)
    if rows.new == rows.old:
        return graph
    vocab = graph.ops[min(decoders)].dims["n"]
    head |= {i for i, op in enumerate(graph.ops) if _loss_op(op, rows.old, vocab)}
    first = min(i for i in head if graph.ops[i].phase == "forward")
    grad = _head_input_grad(graph, head, rows)

    def replace_op(index: int, op: OpNode) -> Replacement | None:
        if index not in head:
            return None
        new = rows.op(op)
        if index == first:
            return [(_gather(op, rows), ()), (replace(new, deps=()), (0,))]
        if index == grad:
            return [(new, ()), (_scatter(op, rows), (0,))]
        return [(new, ())]

    return _read_gathered(expand(graph, replace_op), {graph.ops[i].name for i in head})


def _read_gathered(graph: OpGraph, head: set[str]) -> OpGraph:
    """Head ops that read the head's input (a weight gradient's ``X``) read the gathered
    rows: their dependency on the encoder output moves to the ``index_select``."""
    names = [op.name for op in graph.ops]
    gather = names.index(f"{HEAD_SCOPE}/index_select")
    source = set(graph.ops[gather].deps)
    ops = list(graph.ops)
    for index, op in enumerate(ops):
        if op.name in head and index > gather + 1 and source & set(op.deps):
            deps = {gather if dep in source else dep for dep in op.deps}
            ops[index] = replace(op, deps=tuple(sorted(deps)))
    return OpGraph(tuple(ops), graph.meta)
