"""Cost models behind one interface, found through a registry.

A cost model is a pure function of ``(op, hardware)``: ``model.op_cost(op, hw) -> OpCost``.
Add one by writing ``perfsim/engines/<name>.py`` with a class decorated
``@register("<name>")``; the CLI's ``--engine`` choices and the invariant tests read
`available()`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import Protocol

from perfsim.errors import SpecError
from perfsim.hardware.spec import HardwareSpec
from perfsim.ir import Category, OpNode


@dataclass(frozen=True, slots=True)
class OpCost:
    """The cost of one op on one device; SI units in the field names.

    ``traffic_bytes`` and ``level_s`` are keyed by memory-level name. ``actions`` are the
    counts the energy model prices: ``mac.<dtype>`` (MACs), ``vector.<dtype>`` (vector
    FLOPs) and ``<level>.bytes`` (bytes served by that level). ``bound`` is ``compute``,
    ``overhead`` or ``memory:<level>``: whichever term set the latency. ``kernel_s`` is the
    kernel's own time on the device, before the ``op_overhead`` floor (None: the busier of
    ``compute_s`` and ``memory_s``); the host/device timeline runs kernels for that long.
    """

    op: str
    category: Category
    unit: str  # "matrix" or "vector": the engine the op ran on
    dtype: str  # the dtype it computed in
    macs: int
    flops: int
    bytes_read: int
    bytes_written: int
    compute_s: float
    memory_s: float
    overhead_s: float
    latency_s: float
    bound: str
    traffic_bytes: Mapping[str, float]
    level_s: Mapping[str, float]
    actions: Mapping[str, float]
    supported: bool = True
    energy_j: float = 0.0
    energy_breakdown_j: Mapping[str, float] = field(default_factory=dict)
    details: Mapping[str, float] = field(default_factory=dict)  # engine-specific, e.g. cycles
    kernel_s: float | None = None


class CostModel(Protocol):
    """What every engine offers."""

    name: str

    def op_cost(self, op: OpNode, hw: HardwareSpec) -> OpCost:
        """Cost one op on one device (no energy yet; `perfsim.energy.prices` prices actions)."""
        ...


_REGISTRY: dict[str, Callable[[], CostModel]] = {}
_BUILTIN_MODULES = ("perfsim.engines.roofline", "perfsim.engines.cycle.engine")


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make an engine available under ``name``."""

    def decorate(cls: type) -> type:
        _REGISTRY[name] = cls
        cls.name = name  # type: ignore[attr-defined]
        return cls

    return decorate


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        import_module(module)


def available() -> tuple[str, ...]:
    """Names of the registered engines."""
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def get_cost_model(name: str) -> CostModel:
    """An engine by name; `SpecError` naming the choices otherwise."""
    _load_builtins()
    if name not in _REGISTRY:
        raise SpecError(
            f"--engine: unknown engine {name!r}; expected one of {', '.join(available())}"
        )
    return _REGISTRY[name]()


__all__ = ["CostModel", "OpCost", "available", "get_cost_model", "register"]
