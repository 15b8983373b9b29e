"""Build a real `transformers` model from a config on the ``meta`` device: no weights, no hub."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import torch

from perfsim.errors import WorkloadError
from perfsim.workload import ModelSpec

log = logging.getLogger(__name__)


def build_config(spec: ModelSpec) -> Any:
    """``transformers.AutoConfig.for_model(model_type, **rest)`` with a clear error."""
    import transformers

    config = dict(spec.config)
    model_type = config.pop("model_type")
    config.pop("transformers_version", None)
    try:
        return transformers.AutoConfig.for_model(model_type, **config)
    except (ValueError, KeyError, TypeError) as error:
        raise WorkloadError(
            f"{spec.source or spec.name}: model_type: {model_type!r} is not a config "
            f"transformers knows ({str(error).splitlines()[0][:120]})"
        ) from None


def build_model(spec: ModelSpec) -> torch.nn.Module:
    """The base encoder (``AutoModel``) of ``spec`` on the meta device, in eval mode."""
    import transformers

    config = build_config(spec)
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = transformers.AutoModel.from_config(config)  # type: ignore[no-untyped-call]
    except (ValueError, KeyError, TypeError) as error:
        raise WorkloadError(
            f"{spec.source or spec.name}: cannot build a {spec.model_type} model "
            f"({str(error).splitlines()[0][:160]})"
        ) from None
    module: torch.nn.Module = model.eval()
    # NB: some models (DeBERTa-v2) check whether input_ids hold padding to warn about a
    # missing mask; reading token values is impossible on meta tensors, and the warning
    # says nothing about cost, so it is switched off on this instance only.
    if hasattr(module, "warn_if_padding_and_no_attention_mask"):
        module.warn_if_padding_and_no_attention_mask = _no_padding_check  # type: ignore[assignment]
    return module


def _no_padding_check(*_: Any, **__: Any) -> None:
    return None


def count_parameters(model: torch.nn.Module) -> int:
    """Parameters, each shared tensor once (``model.parameters()`` de-duplicates)."""
    return sum(p.numel() for p in model.parameters())


def example_inputs(spec: ModelSpec, batch: int, seq: int) -> dict[str, torch.Tensor]:
    """Token ids on the meta device.

    NB: no attention mask is passed. transformers inspects a mask's values to decide
    whether it is needed (``.item()``), which meta tensors cannot answer; an unpadded
    batch needs no mask, so the graph is that of an unpadded batch.
    """
    del spec
    return {"input_ids": torch.zeros(batch, seq, dtype=torch.long, device="meta")}


# --mode training heads → the transformers auto class that builds each
HEAD_CLASSES = {
    "pretraining": "AutoModelForPreTraining",
    "classification": "AutoModelForSequenceClassification",
    "squad": "AutoModelForQuestionAnswering",
}


def build_training_model(spec: ModelSpec, head: str, dtype: torch.dtype) -> torch.nn.Module:
    """The model with a training head on meta, in train mode (dropout on), in ``dtype``."""
    import transformers

    config = build_config(spec)
    auto = getattr(transformers, HEAD_CLASSES[head])
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # eager attention: explicit QK^T, softmax, dropout and AV in the model's dtype;
            # on meta/CPU, SDPA's math fallback with dropout would upcast half to fp32,
            # which no GPU kernel does
            model = auto.from_config(config, attn_implementation="eager")
    except (ValueError, KeyError, TypeError) as error:
        raise WorkloadError(
            f"{spec.source or spec.name}: --head {head}: model type {spec.model_type!r} has "
            f"no {head} head in transformers ({str(error).splitlines()[0][:120]})"
        ) from None
    module: torch.nn.Module = model.to(dtype).train()
    if hasattr(module, "warn_if_padding_and_no_attention_mask"):
        module.warn_if_padding_and_no_attention_mask = _no_padding_check  # type: ignore[assignment]
    return module


def training_inputs(model: torch.nn.Module, batch: int, seq: int) -> dict[str, torch.Tensor]:
    """Token ids and the labels the model's head takes, all on meta.

    Masked-LM labels cover every position (an upper bound on the 15 % a real batch masks,
    which changes only the loss's gather, not the prediction head's GEMM); sequence-level
    labels (next sentence, sentence order, class) are one per sample; SQuAD gets start and
    end positions.
    """
    import inspect

    def ids(*shape: int) -> torch.Tensor:
        return torch.zeros(*shape, dtype=torch.long, device="meta")

    accepted = inspect.signature(model.forward).parameters
    inputs = {"input_ids": ids(batch, seq)}
    per_sample = ("next_sentence_label", "sentence_order_label", "start_positions", "end_positions")
    for name in per_sample:
        if name in accepted:
            inputs[name] = ids(batch)
    if "labels" in accepted:
        token_level = not any(
            word in type(model).__name__ for word in ("SequenceClassification", "QuestionAnswering")
        )
        inputs["labels"] = ids(batch, seq) if token_level else ids(batch)
    return inputs
