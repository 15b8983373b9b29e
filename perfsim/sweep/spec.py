"""The sweep spec: YAML (duplicate keys rejected) → pydantic (unknown keys rejected) → `SweepSpec`.

::

    version: 1
    name: npu-array-sram-dram          # results go to results/<name>/ by default
    base:                              # one design point: every axis starts from here
      model: bert-base
      batch: 1
      seq: 128
      precision: bf16                  # default: the hardware's native precision
      mode: inference
      engine: roofline
      hw: npu                          # built-in name, or a file (relative to this spec)
    axes:                              # dotted hardware paths, workload fields, whatif.<knob>
      matrix.rows: [64, 128, 256]
      memory.sram.capacity: ["4 MiB", "16 MiB"]
      memory.dram.bandwidth: {min: "300 GB/s", max: "2.4 TB/s", log: true}  # random / lhs
    sampling: {method: grid}           # grid | zip | random | lhs (with samples, seed)
    zip: [[matrix.rows, matrix.cols]]  # grid only: these axes vary together
    metrics: {tops_per_w: "achieved_flops_per_s / avg_power_w / 1e12"}
    constraints: ["on_chip_bytes <= 64 MiB"]
    dask: {address: "tcp://scheduler:8786"}   # optional: run on a Dask cluster
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from perfsim.dtypes import Precision
from perfsim.errors import SpecError
from perfsim.workload import Mode
from perfsim.yamlio import read_yaml_mapping, validation_message

WORKLOAD_AXES = ("model", "batch", "seq", "precision", "mode", "engine", "hw")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Base(_Strict):
    """The starting design point."""

    model: str
    hw: str
    batch: int = Field(default=1, gt=0)
    seq: int = Field(default=128, gt=0)
    precision: Precision | None = None
    mode: Mode = "inference"
    engine: str = "roofline"
    whatif: dict[str, Any] = Field(default_factory=dict)


class RangeAxis(_Strict):
    """A continuous axis for random / Latin-hypercube sampling; unit strings allowed."""

    min: float | str
    max: float | str
    log: bool = False
    integer: bool = False


class Sampling(_Strict):
    """How the axes become points."""

    method: Literal["grid", "zip", "random", "lhs"] = "grid"
    samples: int | None = Field(default=None, gt=0)
    seed: int = 0


class DaskSection(_Strict):
    """Where the Dask scheduler listens."""

    address: str


class SweepSpec(_Strict):
    """A validated sweep file. ``source`` is the file it came from (for messages and paths)."""

    version: Literal[1]
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    base: Base
    axes: dict[str, list[Any] | RangeAxis] = Field(min_length=1)  # checked by _axes first
    sampling: Sampling = Field(default_factory=Sampling)
    zip: list[list[str]] = Field(default_factory=list)
    metrics: dict[str, str] = Field(default_factory=dict)
    constraints: list[str] = Field(default_factory=list)
    dask: DaskSection | None = None
    source: str = ""

    @field_validator("axes", mode="before")
    @classmethod
    def _axes(cls, axes: Any) -> Any:
        if not isinstance(axes, dict):
            return axes
        checked: dict[str, Any] = {}
        for name, values in axes.items():
            if isinstance(values, list):
                if not values:
                    raise ValueError(f"axis {name!r} has no values")
                checked[name] = values
            elif isinstance(values, dict):
                try:
                    checked[name] = RangeAxis.model_validate(values)
                except ValidationError as error:
                    first = error.errors()[0]
                    field = ".".join(str(part) for part in first["loc"])
                    raise ValueError(f"axis {name!r}: {field}: {first['msg']}") from None
            else:
                raise ValueError(
                    f"axis {name!r}: expected a list of values or a {{min, max}} range, "
                    f"got {values!r}"
                )
        return checked


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file; every failure is a one-line `SpecError`."""
    path = Path(path)
    data = read_yaml_mapping(path)
    if data.get("version") != 1:
        raise SpecError(f"{path}: version: expected 1, got {data.get('version')!r}")
    if "source" in data:
        raise SpecError(f"{path}: source: unknown key")
    try:
        spec = SweepSpec.model_validate({**data, "source": str(path)})
    except ValidationError as error:
        raise SpecError(validation_message(path, error)) from None
    check_structure(spec)
    return spec


def check_structure(spec: SweepSpec) -> None:
    """Cross-field rules pydantic cannot state: zip groups, sample counts, ranges."""
    where = spec.source or spec.name
    method = spec.sampling.method
    for index, group in enumerate(spec.zip):
        for name in group:
            if name not in spec.axes:
                raise SpecError(f"{where}: zip[{index}]: {name!r} is not an axis")
        lengths = {len(axis) for name in group if isinstance(axis := spec.axes[name], list)}
        if len(lengths) > 1:
            raise SpecError(f"{where}: zip[{index}]: axes of unequal lengths {sorted(lengths)}")
    if spec.zip and method != "grid":
        raise SpecError(f"{where}: zip: zipped groups apply to sampling.method grid only")
    if method in ("grid", "zip"):
        for name, axis in spec.axes.items():
            if isinstance(axis, RangeAxis):
                raise SpecError(
                    f"{where}: axes.{name}: a min/max range needs sampling.method random or "
                    "lhs; give a list of values for grid / zip"
                )
        if spec.sampling.samples is not None:
            raise SpecError(f"{where}: sampling.samples: only random and lhs take a count")
    if method == "zip":
        lengths = {len(axis) for axis in spec.axes.values() if isinstance(axis, list)}
        if len(lengths) > 1:
            raise SpecError(f"{where}: axes: zip needs equal lengths, got {sorted(lengths)}")
    if method in ("random", "lhs") and spec.sampling.samples is None:
        raise SpecError(f"{where}: sampling.samples: {method} needs a number of samples")
