"""Validation case lists: ``version: 1`` and ``cases: [{model, batch, seq[, threads]}]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from perfsim.errors import PerfsimError, SpecError
from perfsim.workload import Workload, available_models, resolve_model, validate_scenario
from perfsim.yamlio import read_yaml_mapping, validation_message

PositiveInt = Annotated[StrictInt, Field(gt=0)]


class _Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    batch: PositiveInt
    seq: PositiveInt
    threads: PositiveInt | None = None


class _CasesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1, le=1)
    description: str = ""
    cases: list[_Case] = Field(min_length=1)


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    """Read and check a case list; every error names the file and the field.

    A model is a built-in name or a workload/config path (relative paths are taken
    relative to the case file). Each case's scenario is checked as ``perfsim run`` would
    (``seq`` within the model's position table).

    Returns:
        ``[{"model": ..., "batch": ..., "seq": ...}]``, with ``threads`` where given.

    Raises:
        SpecError: malformed YAML, unknown or missing keys, bad values, unknown models.
    """
    path = Path(path)
    data = read_yaml_mapping(path)
    try:
        parsed = _CasesFile.model_validate(data)
    except ValidationError as error:
        raise SpecError(validation_message(path, error)) from None
    builtins = available_models()
    cases = []
    for index, case in enumerate(parsed.cases):
        where = f"{path}: cases[{index}]"
        model = case.model
        if model not in builtins and (path.parent / model).exists():
            model = str(path.parent / model)
        try:
            spec = resolve_model(model)
        except PerfsimError as error:
            message = str(error).removeprefix("--model: ")
            raise SpecError(f"{where}.model: {message}") from None
        try:
            validate_scenario(Workload(spec, batch=case.batch, seq=case.seq))
        except PerfsimError as error:
            field, _, message = str(error).partition(": ")
            raise SpecError(f"{where}.{field.removeprefix('--')}: {message}") from None
        entry: dict[str, Any] = {"model": model, "batch": case.batch, "seq": case.seq}
        if case.threads is not None:
            entry["threads"] = case.threads
        cases.append(entry)
    return cases
