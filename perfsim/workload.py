"""Workloads: a model (built-in name or Hugging Face ``config.json``) plus a scenario.

No torch here: a workload is plain data, and its cache key can be computed without
building the model, so a cached run never imports torch.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perfsim.errors import WorkloadError
from perfsim.paths import builtin_dir
from perfsim.precision import PRECISIONS
from perfsim.yamlio import read_yaml_mapping, validation_message

Mode = Literal["inference", "training"]
MODES: Final[tuple[Mode, ...]] = get_args(Mode)
# bump when the tracer records graphs differently: stored graphs of older versions are retraced
TRACE_VERSION: Final = 6
# --mode training: the head the loss comes from, and the optimizer that steps
HEADS: Final = ("pretraining", "classification", "squad")
DEFAULT_HEAD: Final = HEADS[0]
OPTIMIZERS: Final = ("sgd", "adam", "adamw", "lamb")
# LAMB is what BERT pre-training at scale uses (You et al. 2019; NVIDIA's and MLPerf's BERT);
# fine-tuning uses AdamW (the transformers Trainer default)
DEFAULT_OPTIMIZER: Final = {"pretraining": "lamb", "classification": "adamw", "squad": "adamw"}
TRAINING_PRECISIONS: Final = ("fp32", "tf32", "fp16", "bf16")

# RoBERTa-style models offset position ids by padding_idx + 1
_POSITION_OFFSET_TYPES: Final = ("roberta", "xlm-roberta", "camembert")


class _WorkloadFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1, le=1)
    name: str
    description: str = ""
    source: str
    published_params: int | None = None
    max_seq: int = Field(gt=0)
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model architecture: a Hugging Face config as a plain dict (with ``model_type``)."""

    name: str
    config: Mapping[str, Any]
    max_seq: int
    source: str = ""
    description: str = ""
    published_params: int | None = None
    # stable digest of the architecture config (what a stored graph and a sweep point are
    # keyed by), computed once: sweeps ask for it per design point
    config_hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = json.dumps(dict(self.config), sort_keys=True, default=str)
        object.__setattr__(self, "config_hash", hashlib.sha256(text.encode()).hexdigest()[:16])

    @property
    def model_type(self) -> str:
        return str(self.config["model_type"])

    def shape_summary(self) -> dict[str, int | None]:
        """Layers, hidden size, heads and FFN size, whatever the config calls them."""
        return {
            "layers": _first(self.config, "num_hidden_layers", "n_layers"),
            "hidden": _first(self.config, "hidden_size", "dim"),
            "heads": _first(self.config, "num_attention_heads", "n_heads"),
            "ffn": _first(self.config, "intermediate_size", "hidden_dim"),
        }


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    """What shapes a ``mode="training"`` step; inference ignores them.

    ``optimizer`` None means the head's default (`perfsim.workload.DEFAULT_OPTIMIZER`);
    ``checkpointing`` recomputes each layer in backward instead of keeping activations;
    ``autocast`` runs mixed precision as ``torch.autocast`` does (fp32 weights, matrix ops
    in the half precision, LayerNorm / softmax / loss in fp32, casts between: "O1") instead
    of a half-precision model with fp32 master weights ("O2", the default).
    """

    head: str = DEFAULT_HEAD
    optimizer: str | None = None
    checkpointing: bool = False
    autocast: bool = False


@dataclass(frozen=True, slots=True)
class Workload:
    """A model plus a scenario: batch, sequence length, mode and precision.

    Training scenarios also name the ``head`` (pretraining, classification, squad), the
    ``optimizer`` (None: `DEFAULT_OPTIMIZER` of the head), whether layers are
    ``checkpointing`` (recomputed in backward instead of keeping their activations) and
    whether mixed precision is ``autocast`` (`TrainingOptions`). Inference ignores them.
    """

    model: ModelSpec
    batch: int = 1
    seq: int = 128
    mode: str = "inference"
    precision: str | None = None  # None: the hardware's native precision
    head: str = DEFAULT_HEAD
    optimizer: str | None = None
    checkpointing: bool = False
    autocast: bool = False

    @property
    def training_optimizer(self) -> str:
        """The optimizer a training step runs (the head's default when none is given)."""
        return self.optimizer or DEFAULT_OPTIMIZER.get(self.head, "adamw")


def _first(config: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        if key in config:
            return int(config[key])
    return None


def available_models() -> dict[str, Path]:
    """Built-in model names → files in the top-level ``workloads/`` folder."""
    folder = builtin_dir("workloads")
    if folder is None:
        return {}
    # case lists (validation-cases.yaml) live beside the models but are not models
    files = sorted(f for f in folder.glob("*.yaml") if not f.stem.endswith("-cases"))
    return {file.stem: file for file in files}


def load_model_file(path: Path) -> ModelSpec:
    """A built-in workload YAML file → `ModelSpec`."""
    data = read_yaml_mapping(path)
    try:
        parsed = _WorkloadFile.model_validate(data)
    except ValidationError as error:
        raise WorkloadError(validation_message(path, error)) from None
    if "model_type" not in parsed.config:
        raise WorkloadError(f"{path}: config.model_type: missing required field")
    return ModelSpec(
        name=parsed.name,
        config=parsed.config,
        max_seq=parsed.max_seq,
        source=parsed.source,
        description=parsed.description,
        published_params=parsed.published_params,
    )


def load_hf_config(path: Path) -> ModelSpec:
    """A Hugging Face ``config.json`` → `ModelSpec` (no hub access)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkloadError(f"{path}: file not found") from None
    except json.JSONDecodeError as error:
        raise WorkloadError(f"{path}: malformed JSON at line {error.lineno}: {error.msg}") from None
    if not isinstance(data, dict):
        raise WorkloadError(f"{path}: expected a JSON object at the top level")
    model_type = data.get("model_type")
    if not isinstance(model_type, str):
        raise WorkloadError(f'{path}: model_type: missing; expected e.g. "bert"')
    config = {k: v for k, v in data.items() if k not in {"architectures", "_name_or_path"}}
    positions = data.get("max_position_embeddings", data.get("n_positions"))
    if not isinstance(positions, int) or positions <= 0:
        raise WorkloadError(f"{path}: max_position_embeddings: expected a positive integer")
    if model_type in _POSITION_OFFSET_TYPES:
        positions -= int(data.get("pad_token_id", 1)) + 1
    return ModelSpec(
        name=path.stem if path.stem != "config" else path.parent.name or "config",
        config=config,
        max_seq=positions,
        source=str(path),
    )


def resolve_model(name_or_path: str | Path) -> ModelSpec:
    """A built-in name, a workload YAML or an HF ``config.json`` → `ModelSpec`."""
    text = str(name_or_path)
    builtins = available_models()
    if text in builtins:
        return load_model_file(builtins[text])
    path = Path(text)
    if path.suffix == ".json":
        return load_hf_config(path)
    if path.suffix == ".csv":
        from perfsim.layers import layer_config

        return ModelSpec(
            name=path.stem,
            config=layer_config(path),
            max_seq=2**31 - 1,
            source=str(path),
            description="SCALE-Sim topology",
        )
    if path.suffix in {".yaml", ".yml"}:
        return load_model_file(path)
    close = difflib.get_close_matches(text, list(builtins), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise WorkloadError(
        f"--model: unknown model {text!r}{hint} (see `perfsim list models`, "
        "or give a config.json or a SCALE-Sim topology .csv)"
    )


def validate_scenario(workload: Workload) -> Workload:
    """Check batch, seq, mode and precision; return the workload unchanged."""
    if workload.batch <= 0:
        raise WorkloadError(f"--batch: expected a positive integer, got {workload.batch}")
    if workload.seq <= 0:
        raise WorkloadError(f"--seq: expected a positive integer, got {workload.seq}")
    if workload.seq > workload.model.max_seq:
        raise WorkloadError(
            f"--seq: {workload.seq} is longer than {workload.model.name}'s position table "
            f"({workload.model.max_seq} positions)"
        )
    if workload.mode not in MODES:
        raise WorkloadError(f"--mode: expected one of {', '.join(MODES)}, got {workload.mode!r}")
    if workload.precision is not None and workload.precision not in PRECISIONS:
        raise WorkloadError(
            f"--precision: expected one of {', '.join(PRECISIONS)}, got {workload.precision!r}"
        )
    if workload.head not in HEADS:
        raise WorkloadError(f"--head: expected one of {', '.join(HEADS)}, got {workload.head!r}")
    if workload.optimizer is not None and workload.optimizer not in OPTIMIZERS:
        raise WorkloadError(
            f"--optimizer: expected one of {', '.join(OPTIMIZERS)}, got {workload.optimizer!r}"
        )
    if workload.mode == "training" and workload.precision not in (None, *TRAINING_PRECISIONS):
        raise WorkloadError(
            f"--precision: training runs in {', '.join(TRAINING_PRECISIONS)} "
            f"(mixed precision keeps fp32 master weights), got {workload.precision!r}"
        )
    if workload.autocast and (
        workload.mode != "training" or workload.precision in ("fp32", "tf32")
    ):
        raise WorkloadError(
            "--autocast: a training step in --precision fp16 or bf16 (torch.autocast's "
            f"mixed precision), got mode {workload.mode!r}, precision "
            f"{workload.precision or 'the hardware native'}"
        )
    return workload


def load_workload(
    model: str | Path,
    *,
    batch: int = 1,
    seq: int = 128,
    mode: str = "inference",
    precision: str | None = None,
    training: TrainingOptions | None = None,
) -> Workload:
    """Resolve a model and validate a scenario: the library's front door for workloads
    (`perfsim.scenario.Scenario.workload` is the usual way in)."""
    options = training or TrainingOptions()
    return validate_scenario(
        Workload(
            resolve_model(model),
            batch=batch,
            seq=seq,
            mode=mode,
            precision=precision,
            head=options.head,
            optimizer=options.optimizer,
            checkpointing=options.checkpointing,
            autocast=options.autocast,
        )
    )
