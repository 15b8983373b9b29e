"""`WhatIfs`: the what-if knobs as one frozen record, and `parse_whatifs` to build it.

Keys are flat and scalar-valued, so a sweep can vary each one as an axis
``whatif.<key>``; a value may be given typed (YAML) or as text (``--whatif KEY=VALUE``).

- ``fusion``: ``none``, ``all`` or ``+``-joined passes ``epilogue``, ``softmax``,
  ``layernorm``, ``attention``, ``optimizer``, ``qkv``, ``residual``
  (`perfsim.whatif.fusion`);
- ``pim`` (bool), ``pim_bandwidth`` (bytes/s or ``"2.4 TB/s"``), ``pim_flops`` (FLOP/s),
  ``pim_energy_per_byte`` (J/B or ``"9 pJ"``), ``pim_categories`` (``+``-joined
  non-matrix categories): a near-memory unit (`perfsim.whatif.pim`);
- ``quant``: ``none``, ``int8``, ``w4a8``, ``int8-io`` (`perfsim.whatif.quantize`);
- ``prune_heads`` (fraction in [0, 1) or a whole count), ``prune_ffn`` (fraction):
  structured pruning (`perfsim.whatif.prune`);
- ``sparsity`` (``none`` or ``N:M``), ``sparsity_speedup`` (1 <= s <= M/N): structured
  weight sparsity (`perfsim.whatif.sparsity`);
- ``low_rank``: 0 (off), a whole rank, or a fraction in (0, 1) of min(k, n)
  (`perfsim.whatif.lowrank`);
- ``instances``: model instances sharing the device (`perfsim.whatif.instances`);
- ``mlm_positions``: 0 (off), masked positions per sequence (a whole count) or a fraction
  in (0, 1) of the sequence: the masked-LM head and loss over the gathered positions only
  (`perfsim.whatif.mlm_gather`);
- ``attention_kernel``: the GPU kernel that runs each fused attention (the ``attention``
  fusion pass): ``flash2`` (FlashAttention-2's blocks of query rows, the default) or
  ``per_head`` (one CTA per sequence and head over all its query rows, as TensorRT's
  fixed-length BERT plugin launches it; `perfsim.hardware.attention_kernel`), or
  ``apex_fmha`` (apex's 2021 fmhalib, NVIDIA's MLPerf v1.0 BERT: the same grid over all
  of its kernel's 128-512 keys, and in a training step the probabilities stored and read
  back instead of recomputed; `perfsim.whatif.fmha`); without the
  ``attention`` pass it changes nothing and is left out of the applied knobs, as the PIM
  settings are without the unit (a sweep may cross it with ``fusion``).
- ``sequence_kernels``: with packed sequence lengths (`perfsim.whatif.lengths`), how the
  attention's per-sequence ops launch: ``varlen`` (the default: one variable-length kernel
  for every sequence, as FlashAttention's and apex's fmhalib's varlen kernels run them) or
  ``per_sequence`` (a kernel per sequence, as a loop over the sequences launches them:
  NVIDIA's MLPerf v0.7 BERT with ``--unpad``, ``mhalib/mha_funcs.cu``, one cuBLAS batched
  GEMM or softmax launch per sequence on its own stream); without packed lengths it
  changes nothing.
- ``word_embedding``: how the word-embedding lookup runs: ``gather`` (the default, rows
  gathered from the table, as the traced model does) or ``one_hot`` (a one-hot matrix
  times the table, and its weight gradient in backward, as Google's BERT runs it on TPUs;
  `perfsim.whatif.one_hot`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from perfsim.errors import SpecError
from perfsim.ir import Category
from perfsim.units import parse_quantity

FUSION_PASSES: Final = (
    "epilogue",
    "softmax",
    "layernorm",
    "attention",
    "optimizer",
    "qkv",
    "residual",
)
ATTENTION_KERNELS: Final = ("flash2", "per_head", "apex_fmha")  # hardware.attention_kernel
QUANT_MODES: Final = ("none", "int8", "w4a8", "int8-io")
# streams HBM-PIM's instruction set can run (add, multiply, MAC, MAD: Lee et al., ISCA 2021);
# GELU's erf and softmax's exp need a transcendental unit it lacks: opt in via pim_categories
DEFAULT_PIM_CATEGORIES: Final = ("elementwise", "dropout", "layernorm")
# knobs that are graph transforms of a training step and keep its gradient bookkeeping
# (``meta.grad_ready``) right, so a data-parallel step can carry them (`Scenario.check`)
TRAINING_KNOBS: Final = (
    "fusion",
    "mlm_positions",
    "attention_kernel",
    "sequence_kernels",
    "word_embedding",
)
SEQUENCE_KERNELS: Final = ("varlen", "per_sequence")
WORD_EMBEDDING_LOOKUPS: Final = ("gather", "one_hot")  # perfsim.whatif.one_hot


class WhatIfError(SpecError):
    """An unknown what-if knob or a bad value; the message names the source and key."""


@dataclass(frozen=True, slots=True)
class WhatIfs:
    """The what-if knobs; the defaults change nothing (see the module docstring)."""

    fusion: tuple[str, ...] = ()
    pim: bool = False
    pim_bandwidth: float | None = None
    pim_flops: float | None = None
    pim_energy_per_byte: float | None = None
    pim_categories: tuple[str, ...] = DEFAULT_PIM_CATEGORIES
    quant: str = "none"
    prune_heads: float = 0.0
    prune_ffn: float = 0.0
    sparsity: str = "none"
    sparsity_speedup: float | None = None
    low_rank: float = 0.0
    instances: int = 1
    mlm_positions: float = 0.0
    attention_kernel: str = "flash2"
    sequence_kernels: str = "varlen"
    word_embedding: str = "gather"

    def applied(self) -> dict[str, Any]:
        """The knobs that differ from their defaults, as JSON-ready scalars."""
        defaults = WhatIfs()
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value != getattr(defaults, item.name):
                out[item.name] = "+".join(value) if isinstance(value, tuple) else value
        if not self.pim:  # PIM settings without the unit change nothing
            for key in ("pim_bandwidth", "pim_flops", "pim_energy_per_byte", "pim_categories"):
                out.pop(key, None)
        if "attention" not in self.fusion:  # the kernel of a pass that does not run
            out.pop("attention_kernel", None)
        return out

    def not_for_training(self) -> list[str]:
        """The applied knobs a data-parallel training step cannot carry (`TRAINING_KNOBS`)."""
        return [key for key in self.applied() if key not in TRAINING_KNOBS]

    @property
    def is_empty(self) -> bool:
        """True when no knob changes anything."""
        return not self.applied()


def _text(value: Any) -> str:
    return str(value).strip().lower()


def _fusion(value: Any) -> tuple[str, ...]:
    text = _text(value)
    if text in ("none", "", "false", "0"):
        return ()
    if text in ("all", "true"):
        return FUSION_PASSES
    parts = [part.strip() for part in text.replace(",", "+").split("+")]
    unknown = [part for part in parts if part not in FUSION_PASSES]
    if unknown:
        raise ValueError(
            f"unknown fusion pass {unknown[0]!r}; expected none, all or "
            f"'+'-joined {', '.join(FUSION_PASSES)}"
        )
    return tuple(name for name in FUSION_PASSES if name in parts)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value)
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None


def _positive(dimension: str | None) -> Callable[[Any], float | None]:
    def parse(value: Any) -> float | None:
        if value is None or _text(value) in ("none", "default"):
            return None
        if isinstance(value, str) and dimension is not None:
            try:
                number = float(value)
            except ValueError:
                number = parse_quantity(value, dimension)
        else:
            number = _number(value)
        if not number > 0:
            raise ValueError(f"expected a positive value, got {value!r}")
        return number

    return parse


def _categories(value: Any) -> tuple[str, ...]:
    parts = [part.strip() for part in _text(value).replace(",", "+").split("+") if part.strip()]
    allowed = [c.value for c in Category if not c.is_matrix]
    bad = [part for part in parts if part not in allowed]
    if bad or not parts:
        raise ValueError(
            f"unknown or matrix category {bad[0] if bad else value!r}; expected "
            f"'+'-joined non-matrix categories: {', '.join(allowed)}"
        )
    return tuple(c for c in allowed if c in parts)


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _text(value)
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


def _heads(value: Any) -> float:
    number = _number(value)
    if number < 0 or (number >= 1 and number != int(number)):
        raise ValueError(f"expected a fraction in [0, 1) or a whole count, got {value!r}")
    return number


def _fraction(value: Any) -> float:
    number = _number(value)
    if not 0 <= number < 1:
        raise ValueError(f"expected a fraction in [0, 1), got {value!r}")
    return number


def _sparsity(value: Any) -> str:
    text = _text(value)
    if text in ("none", "", "0", "false"):
        return "none"
    n_text, sep, m_text = text.partition(":")
    if not sep or not n_text.isdigit() or not m_text.isdigit():
        raise ValueError(f"expected none or N:M (e.g. 2:4), got {value!r}")
    n, m = int(n_text), int(m_text)
    if not 0 < n < m:
        raise ValueError(f"expected 0 < N < M in N:M, got {value!r}")
    return f"{n}:{m}"


def _speedup(value: Any) -> float | None:
    if value is None or _text(value) in ("none", "default"):
        return None
    number = _number(value)
    if number < 1:
        raise ValueError(f"expected a speedup >= 1, got {value!r}")
    return number


def _low_rank(value: Any) -> float:
    number = _number(value)
    if number < 0 or (number >= 1 and number != int(number)):
        raise ValueError(
            f"expected 0 (off), a whole rank >= 1 or a fraction in (0, 1), got {value!r}"
        )
    return number


def _instances(value: Any) -> int:
    number = _number(value)
    if number < 1 or number != int(number):
        raise ValueError(f"expected a whole number >= 1, got {value!r}")
    return int(number)


def _positions(value: Any) -> float:
    number = _number(value)
    if number < 0 or (number >= 1 and number != int(number)):
        raise ValueError(
            f"expected 0 (off), a whole count >= 1 or a fraction in (0, 1), got {value!r}"
        )
    return int(number) if number >= 1 else number


PARSERS: Final[Mapping[str, Callable[[Any], Any]]] = {
    "fusion": _fusion,
    "pim": _bool,
    "pim_bandwidth": _positive("bandwidth"),
    "pim_flops": _positive(None),
    "pim_energy_per_byte": _positive("energy"),
    "pim_categories": _categories,
    "quant": _choice(QUANT_MODES),
    "prune_heads": _heads,
    "prune_ffn": _fraction,
    "sparsity": _sparsity,
    "sparsity_speedup": _speedup,
    "low_rank": _low_rank,
    "instances": _instances,
    "mlm_positions": _positions,
    "attention_kernel": _choice(ATTENTION_KERNELS),
    "sequence_kernels": _choice(SEQUENCE_KERNELS),
    "word_embedding": _choice(WORD_EMBEDDING_LOOKUPS),
}


def parse_whatifs(mapping: Mapping[str, Any], source: str = "") -> WhatIfs:
    """Validate flat ``{key: value}`` knobs into `WhatIfs`.

    A ``whatif.`` prefix on a key is accepted. An unknown key or a bad value raises
    `WhatIfError` naming ``source`` and the key.
    """
    where = f"{source}: " if source else ""
    values: dict[str, Any] = {}
    for raw_key, raw_value in mapping.items():
        key = str(raw_key).strip().removeprefix("whatif.")
        if key not in PARSERS:
            raise WhatIfError(
                f"{where}whatif.{key}: unknown knob; expected one of {', '.join(PARSERS)}"
            )
        try:
            values[key] = PARSERS[key](raw_value)
        except (ValueError, SpecError) as error:
            raise WhatIfError(f"{where}whatif.{key}: {error}") from None
    return WhatIfs(**values)


def parse_assignments(items: tuple[str, ...] | list[str], source: str = "--whatif") -> WhatIfs:
    """``("fusion=all", "instances=4")`` (the CLI's repeatable ``--whatif``) -> `WhatIfs`."""
    mapping: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WhatIfError(f"{source}: expected KEY=VALUE, got {item!r}")
        mapping[key.strip()] = value.strip()
    return parse_whatifs(mapping, source)
