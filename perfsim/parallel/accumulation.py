"""Gradient accumulation: the adds a step of several micro-steps runs into ``.grad``.

PyTorch's autograd hands each parameter's new gradient to ``AccumulateGrad``
(``torch/csrc/autograd/functions/accumulate_grad.h``): while the parameter's ``.grad`` is
None it keeps the new tensor (no kernel); once it holds a gradient the new one is added in
place, ``variable_grad += new_grad``, one element-wise kernel per parameter. The traced
step starts with every ``.grad`` None (it is one micro-step), so it has none of these adds.
A step of ``grad_accum`` micro-steps whose gradients were set to None after the last
optimizer step (apex's fused optimizers' ``set_grad_none=True``, DeepLearningExamples'
``param.grad = None``, PyTorch 2's ``zero_grad(set_to_none=True)``) runs them in each
micro-step but the first: ``grad_accum - 1`` passes over every gradient, each reading the
accumulated and the new gradient and writing the sum.

`accumulation_graph` builds one pass as ops (one per parameter, from the traced step's
``meta.grad_ready``); `perfsim.parallel.data_parallel` costs it with the step's engine and
counts it ``grad_accum - 1`` times. NB: the last micro-step's adds run inside its backward
pass as each gradient becomes final; the all-reduce timing leaves them out (they lengthen
the step, not the wait for the exchange).
"""

from __future__ import annotations

from perfsim.ir import DTYPE_BITS, Category, OpGraph, OpNode, TensorSpec

PHASE = "accumulate"  # the phase of the accumulation adds


def accumulation_graph(step: OpGraph) -> OpGraph:
    """One accumulation pass of a traced training step: ``aten.add_`` per parameter
    gradient, in gradient-ready order (empty for a graph without ``grad_ready``)."""
    ops = []
    for index, (_, numel, dtype) in enumerate(step.meta.grad_ready or ()):
        grad = TensorSpec((int(numel),), str(dtype), role="weight")
        nbytes = (int(numel) * DTYPE_BITS[str(dtype)] + 7) // 8
        ops.append(
            OpNode(
                name=f"autograd.AccumulateGrad/add_#{index}",
                category=Category.ELEMENTWISE,
                target="aten.add_.Tensor",
                scope="autograd.AccumulateGrad",
                layer=-1,
                phase=PHASE,
                inputs=(grad, grad),
                outputs=(grad,),
                dims={},
                macs=0,
                flops=int(numel),
                bytes_read=2 * nbytes,
                bytes_written=nbytes,
            )
        )
    # the step's folded view ops belong to its micro-step, none to these kernels
    return OpGraph(tuple(ops), step.meta.but(folded_ops=0))
