"""Strict YAML reading shared by every loader: duplicate keys are errors, as are non-mappings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from perfsim.errors import SpecError


def _duplicate_key(node: yaml.Node, path: str = "") -> str | None:
    """``key.path: duplicate key at line N`` for the first key given twice, else None."""
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            where = f"{path}.{key}" if path else str(key)
            if key in seen:
                return f"{where}: duplicate key at line {key_node.start_mark.line + 1}"
            seen.add(key)
            found = _duplicate_key(value_node, where)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found = _duplicate_key(item, f"{path}[{index}]")
            if found:
                return found
    return None


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file whose top level is a mapping; every failure is a one-line `SpecError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    except OSError as error:
        raise SpecError(f"{path}: cannot read ({error.strerror})") from None
    try:
        try:
            duplicate, data = _load(text, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:  # libyaml words its errors its own way: report the Python one
            duplicate, data = _load(text, yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid syntax"
        raise SpecError(f"{path}: malformed YAML{where}: {problem}") from None
    if duplicate:
        raise SpecError(f"{path}: {duplicate}")
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _load(text: str, loader_class: Any) -> tuple[str | None, Any]:
    """The first duplicate key of ``text`` (`_duplicate_key`), else its document, parsed
    once (with the C parser where PyYAML has libyaml: about 10x faster)."""
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        duplicate = _duplicate_key(root)
        return duplicate, None if duplicate else loader.construct_document(root)
    finally:
        loader.dispose()


def validation_message(path: Path | str, error: ValidationError) -> str:
    """First pydantic error as ``file: field.path: what was expected`` on one line."""
    first = error.errors()[0]
    location = ""
    for part in first["loc"]:
        if isinstance(part, int):
            location += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(("function-", "constrained-")):
            location += f".{part}" if location else part
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "missing required field"
    more = len(error.errors()) - 1
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return f"{path}: {location or '<top level>'}: {message}{suffix}"
