"""Hardware files: YAML (duplicate keys rejected) → pydantic validation → `HardwareSpec`."""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import ValidationError

from perfsim.errors import SpecError
from perfsim.hardware.spec import HardwareSpec
from perfsim.paths import builtin_dir
from perfsim.yamlio import read_yaml_mapping, validation_message


def load_hardware(path: str | Path) -> HardwareSpec:
    """Load and validate one hardware YAML file.

    Raises:
        SpecError: one line naming the file, the field and what was expected.
    """
    path = Path(path)
    data = read_yaml_mapping(path)
    if data.get("version") != 1:
        raise SpecError(f"{path}: version: expected 1, got {data.get('version')!r}")
    try:
        return HardwareSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(validation_message(path, error)) from None


def available_hardware() -> dict[str, Path]:
    """Built-in hardware names → files in the top-level ``hwconfigs/`` folder."""
    folder = builtin_dir("hwconfigs")
    return {file.stem: file for file in sorted(folder.glob("*.yaml"))} if folder else {}


def hardware_source(name_or_path: str | Path) -> str | Path:
    """The file a ``--hw`` value names (a built-in's path, else the value), for messages."""
    return available_hardware().get(str(name_or_path), name_or_path)


def resolve_hardware(name_or_path: str | Path) -> HardwareSpec:
    """A built-in name (``npu``) or the path of a YAML file → `HardwareSpec`."""
    text = str(name_or_path)
    builtins = available_hardware()
    if text in builtins:
        return load_hardware(builtins[text])
    path = Path(text)
    if path.suffix == ".cfg":
        from perfsim.hardware.scalesim import load_scalesim_config

        return load_scalesim_config(path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        return load_hardware(path)
    close = difflib.get_close_matches(text, list(builtins), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise SpecError(
        f"--hw: unknown hardware {text!r}{hint} (built-in: {', '.join(builtins)}; "
        "or give a .yaml file or a SCALE-Sim .cfg)"
    )
