"""Memory footprint of a traced step, bytes, from what the trace measured.

Training (`perfsim.trace.train_step` measures every figure on the traced step itself):

- ``weights``: model parameters (shared tensors once), in the model's dtype;
- ``gradients``: every ``.grad`` alive after the step (half and fp32 master gradients);
- ``optimizer_state``: optimizer state tensors, plus fp32 master weights under mixed
  precision (as Rajbhandari et al., "ZeRO", SC 2020, section 3.1 count them);
- ``activations``: storages autograd saves for backward (``saved_tensors_hooks``, one per
  storage, parameters excluded), plus checkpointed layers' inputs;
- ``workspace``: the part of the measured peak of live step tensors that gradients and
  activations do not explain (transients: an op's output before its inputs die, the
  backward's intermediate gradients, the optimizer's temporaries), never negative.

``total`` is their sum: at least the measured peak, and an upper bound on it when
gradients and activations are never all alive at once.

Inference: ``weights`` plus ``activations`` (the peak of live activation bytes), traced in
fp32 and scaled to the precision like the graph (`perfsim.precision`): weights by the
matrix-operand dtype, activations by the vector dtype.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from perfsim.ir import DTYPE_BITS, GraphMeta
from perfsim.precision import policy

FIELDS = ("weights", "gradients", "optimizer_state", "activations", "workspace")


@dataclass(frozen=True, slots=True)
class MemoryFootprint:
    """Bytes a step needs on the device, by what holds them."""

    weights: int
    gradients: int
    optimizer_state: int
    activations: int
    workspace: int

    @property
    def total(self) -> int:
        """Sum of the parts, bytes."""
        parts = (self.weights, self.gradients, self.optimizer_state, self.activations)
        return sum(parts) + self.workspace

    def to_dict(self) -> dict[str, int]:
        """The ``memory_footprint_bytes`` object of the JSON summary."""
        return {**asdict(self), "total": self.total}


def memory_footprint(meta: GraphMeta, precision: str | None = None) -> MemoryFootprint | None:
    """The footprint of a traced graph from its ``meta`` (None for a graph with no memory record).

    ``precision`` scales an inference graph (traced in fp32); training graphs are traced in
    their precision and are read as they are.
    """
    memory = meta.memory
    if memory is None:
        return None
    if meta.mode == "training":
        gradients = int(memory["gradients"])
        activations = int(memory["activations"])
        return MemoryFootprint(
            weights=int(memory["weights"]),
            gradients=gradients,
            optimizer_state=int(memory["optimizer_state"]),
            activations=activations,
            workspace=max(0, int(memory["peak_live"]) - gradients - activations),
        )
    pol = policy(precision or "fp32")
    weight_scale = DTYPE_BITS[pol.matrix_input] / 32
    # the int8-io what-if stores every activation in int8 (perfsim.whatif.quantize)
    stored = "int8" if meta.whatifs.get("quant") == "int8-io" else pol.vector
    activation_scale = DTYPE_BITS[stored] / 32
    return MemoryFootprint(
        weights=int(memory["weights"] * weight_scale),
        gradients=0,
        optimizer_state=0,
        activations=int(memory["peak_live"] * activation_scale),
        workspace=0,
    )
