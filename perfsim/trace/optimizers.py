"""The optimizers a traced training step runs: torch's SGD, Adam and AdamW, and LAMB.

torch's own optimizers are traced with ``foreach=False`` (one kernel per op per parameter,
the single-tensor implementation in ``torch/optim/adam.py``), because the multi-tensor
``_foreach_*`` kernels are a launch-overhead optimization whose per-element work is the same.
The step counter lives on the host (``capturable=False``), so its bookkeeping is no device op.

torch has no LAMB, so `Lamb` below is a small torch optimizer following You et al. 2019,
"Large Batch Optimization for Deep Learning: Training BERT in 76 minutes", Algorithm 2
(arXiv:1904.00962): Adam moments with bias correction, the update ``r + λx``, and a
per-layer (per-parameter-tensor) trust ratio ``‖x‖ / ‖r + λx‖`` (1 where either norm is 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import torch

from perfsim.trace.metacache import MetaCacheMode, MetaKernelCache

# hyper-parameters only shape the op list, never its cost; these are common defaults
LEARNING_RATE: Final = 1e-3
WEIGHT_DECAY: Final = 0.01
SGD_MOMENTUM: Final = 0.9


class Lamb(torch.optim.Optimizer):
    """LAMB (You et al. 2019, Algorithm 2) with φ the identity."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = LEARNING_RATE,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = WEIGHT_DECAY,
    ) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["step"] += 1
                grad, m, v = param.grad, state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                m_hat = m / (1 - beta1 ** state["step"])
                v_hat = v / (1 - beta2 ** state["step"])
                update = m_hat / v_hat.sqrt().add_(group["eps"])
                if group["weight_decay"]:
                    update.add_(param, alpha=group["weight_decay"])
                # per-layer trust ratio ‖x‖ / ‖r + λx‖, kept on the device (no host sync)
                weight_norm = torch.linalg.vector_norm(param)
                update_norm = torch.linalg.vector_norm(update)
                trust = torch.where(
                    (weight_norm > 0) & (update_norm > 0), weight_norm / update_norm, 1.0
                )
                param.sub_(update.mul_(trust * group["lr"]))


OPTIMIZERS: Final = ("sgd", "adam", "adamw", "lamb")


def make_optimizer(name: str, params: Sequence[torch.Tensor]) -> torch.optim.Optimizer:
    """The optimizer ``name`` over ``params`` (see the module docstring for which code runs)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=LEARNING_RATE, momentum=SGD_MOMENTUM, foreach=False)
    if name == "adam":
        return torch.optim.Adam(params, lr=LEARNING_RATE, foreach=False)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY, foreach=False)
    if name == "lamb":
        return Lamb(params)
    raise ValueError(f"unknown optimizer {name!r}")


def initialize_state(
    optimizer: torch.optim.Optimizer, cache: MetaKernelCache | None = None
) -> None:
    """Take one step on zero gradients, so the traced step is a steady-state one.

    The first step of every optimizer allocates its state (moments, momentum buffers);
    training runs thousands of steps, so the traced step is the second one. Gradients
    are left unset, as ``zero_grad(set_to_none=True)`` leaves them. The optimizer's own
    first step creates the state, so it is exactly what that optimizer keeps; with a
    ``cache`` its meta kernels run once per parameter signature (`perfsim.trace.metacache`).
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for param in params:
        param.grad = torch.zeros_like(param)
    if cache is None:
        optimizer.step()
    else:
        with MetaCacheMode(cache):
            optimizer.step()
    for param in params:
        param.grad = None
