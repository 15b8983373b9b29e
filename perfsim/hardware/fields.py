"""The schema's building blocks: dtypes, unit-string quantities, and the frozen base model.

Quantities are unit strings in YAML (``"900 GB/s"``) and SI floats once validated; a bare
number passes only as already-SI data (`perfsim.hardware.spec.HardwareSpec.from_si`).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)

from perfsim.units import parse_quantity

Dtype = Literal["fp32", "tf32", "fp16", "bf16", "fp8", "int32", "int8", "int4"]
DTYPES: Final[tuple[Dtype, ...]] = get_args(Dtype)


def quantity(dimension: str) -> BeforeValidator:
    """Parse a unit string; a bare number passes only as already-SI data (``from_si``)."""

    def parse(value: Any, info: ValidationInfo) -> float:
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if is_number and info.context and info.context.get("si"):
            return float(value)
        return parse_quantity(value, dimension)

    return BeforeValidator(parse)


Bytes = Annotated[float, quantity("bytes"), Field(gt=0)]
Bandwidth = Annotated[float, quantity("bandwidth"), Field(gt=0)]
Frequency = Annotated[float, quantity("frequency"), Field(gt=0)]
Seconds = Annotated[float, quantity("time"), Field(ge=0)]
Joules = Annotated[float, quantity("energy"), Field(ge=0)]
Watts = Annotated[float, quantity("power"), Field(ge=0)]
Metres = Annotated[float, quantity("length"), Field(gt=0)]
PositiveCount = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]


def without_unset(model: BaseModel, data: dict[str, Any], *names: str) -> dict[str, Any]:
    """``data`` (``model``'s dump) without the optional fields ``names`` that are None, so a
    file without them dumps (and hashes, e.g. a sweep's device identity) as before those
    fields existed."""
    for name in names:
        if getattr(model, name) is None:
            data.pop(name, None)
    return data


class Frozen(BaseModel):
    """Every schema model: immutable (specs are shared and cached by identity), and
    unknown keys rejected (a typo in a hardware file is an error, not a silent default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
