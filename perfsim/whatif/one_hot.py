"""Word embeddings looked up as a one-hot matrix product, as Google's BERT does on TPUs.

google-research/bert's ``modeling.embedding_lookup`` takes ``use_one_hot_embeddings``
("If True, use one-hot method for word embeddings. If False, use ``tf.gather()``"), and
``run_pretraining.py`` passes ``use_one_hot_embeddings=FLAGS.use_tpu``: on a TPU the
lookup is ``tf.matmul(tf.one_hot(ids, depth=vocab_size), embedding_table)``. With ``T``
tokens, a vocabulary of ``V`` and width ``H``, ``whatif.word_embedding=one_hot`` rewrites
the word-embedding lookup of the traced step (Hugging Face gathers rows):

- forward: the gather becomes an element-wise ``one_hot`` writing ``T x V`` values in the
  table's dtype (``tf.one_hot``'s default float32 under an fp32 model; one compare an
  element), then a GEMM ``[T, V] x [V, H]`` (``2 T V H`` FLOPs) writing the same
  ``[batch, seq, H]`` output;
- backward: the scatter-add of the row gradients into the table becomes the weight
  gradient of that product, ``one_hot^T [V, T] x dY [T, H]`` (``2 T V H`` FLOPs, writing
  the ``V x H`` table gradient), after an ``one_hot`` of its own: the backward rebuilds the
  ``T x V`` matrix from the ids rather than keep it alive from the forward (an assumption:
  XLA may as well keep it; the difference is one ``T x V`` write). No gradient flows to the
  one-hot matrix (it depends on no variable).

Only the word embeddings: the position embeddings are a slice of their table in that code,
and its token-type one-hot product (``depth = 2``) is negligible. Training and inference
graphs alike.
"""

from __future__ import annotations

from dataclasses import replace

from perfsim.ir import Category, OpGraph, OpNode, TensorSpec
from perfsim.whatif.graphops import Replacement, expand, recount
from perfsim.whatif.knobs import WhatIfError

SCOPE_SUFFIX = "word_embeddings"
FORWARD = "aten.embedding.default"
BACKWARD = "aten.embedding_dense_backward.default"


def _one_hot(op: OpNode, ids: TensorSpec, vocab: int, dtype: str) -> OpNode:
    """``tf.one_hot(ids, depth=vocab)``: a ``tokens x vocab`` matrix written from the ids."""
    matrix = TensorSpec((ids.numel, vocab), dtype)
    return recount(
        replace(
            op,
            name=f"{op.name}.one_hot",
            category=Category.ELEMENTWISE,
            target="aten.one_hot.default",
        ),
        (ids,),
        (matrix,),
        {},
    )


def _forward(op: OpNode) -> Replacement:
    table = next(t for t in op.inputs if t.role == "weight")
    ids = next(t for t in op.inputs if t.role == "index")
    vocab, width = table.shape
    one_hot = _one_hot(op, ids, vocab, table.dtype)
    product = recount(
        replace(op, category=Category.GEMM, target="aten.mm.default", deps=()),
        (one_hot.outputs[0], table),
        op.outputs,
        {"b": 1, "m": ids.numel, "n": width, "k": vocab},
    )
    return [(one_hot, ()), (product, (0,))]


def _backward(op: OpNode) -> Replacement:
    grad = next(t for t in op.inputs if t.role != "index")
    ids = next(t for t in op.inputs if t.role == "index")
    vocab, width = op.outputs[0].shape
    one_hot = _one_hot(replace(op, deps=()), ids, vocab, grad.dtype)
    product = recount(
        replace(op, category=Category.GEMM, target="aten.mm.default"),
        (one_hot.outputs[0], grad),
        op.outputs,
        {"b": 1, "m": vocab, "n": width, "k": ids.numel},
    )
    return [(one_hot, ()), (product, (0,))]


def _is_word_lookup(op: OpNode) -> bool:
    return op.scope.endswith(SCOPE_SUFFIX) and op.target in (FORWARD, BACKWARD)


def one_hot_embeddings(graph: OpGraph, lookup: str) -> OpGraph:
    """The graph with its word-embedding lookup as ``lookup`` says (module docstring):
    ``gather`` changes nothing, ``one_hot`` runs it as a one-hot product."""
    if lookup == "gather":
        return graph
    if not any(_is_word_lookup(op) and op.target == FORWARD for op in graph.ops):
        raise WhatIfError(
            "whatif.word_embedding: the graph has no word-embedding lookup "
            f"(an {FORWARD} in a '*{SCOPE_SUFFIX}' module)"
        )

    def replace_op(index: int, op: OpNode) -> Replacement | None:
        if not _is_word_lookup(op):
            return None
        return _forward(op) if op.target == FORWARD else _backward(op)

    return expand(graph, replace_op)
