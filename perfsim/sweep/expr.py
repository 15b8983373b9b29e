"""Safe arithmetic over a sweep's columns: ``"on_chip_bytes <= 64 MiB"``, ``"energy_j * 1e3"``.

User strings are parsed with `ast` and walked by a small interpreter that knows numbers,
column names (dotted ones too: ``memory.vmem.capacity``), ``+ - * / // % **``,
comparisons (chains allowed), ``and or not``, and the functions ``min max abs sqrt log
log2 log10 exp``. Nothing else runs: no attribute access, subscripts, lambdas or calls of
other names, so an expression can only compute. A number followed by a unit (``64 MiB``,
``2 ms``, ``1.2 TB/s``) is that quantity in SI units (`perfsim.units`). The same expression
evaluates on scalars or, column-wise, on numpy arrays / pandas columns.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from perfsim.errors import SpecError
from perfsim.units import parse_quantity

_DIMENSIONS = ("bytes", "bandwidth", "frequency", "time", "energy", "power", "length")
_QUANTITY = re.compile(
    r"(?<![\w.])(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)\s*([A-Za-z\u00b5\u03bc]+(?:/s)?)\b"
)

_BINARY: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "min": lambda *args: _fold(np.minimum, args),
    "max": lambda *args: _fold(np.maximum, args),
    "abs": np.abs,
    "sqrt": np.sqrt,
    "log": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "exp": np.exp,
}


def _fold(function: Callable[[Any, Any], Any], args: tuple[Any, ...]) -> Any:
    result = args[0]
    for arg in args[1:]:
        result = function(result, arg)
    return result


def _si(match: re.Match[str]) -> str:
    number, unit = match.group(1), match.group(2)
    for dimension in _DIMENSIONS:
        try:
            return repr(parse_quantity(f"{number} {unit}", dimension))
        except ValueError:
            continue
    return match.group(0)  # not a unit (e.g. "2 and"): left for the parser


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed, checked expression; ``names`` are the columns it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def __call__(self, values: Mapping[str, Any]) -> Any:
        """Evaluate with ``values`` (scalars or arrays) bound to the names."""
        return _evaluate(self.tree, values)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _check(node: ast.AST, text: str, names: set[str]) -> None:
    """Reject every construct outside the small language above."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ValueError(f"only numbers are allowed as constants, got {node.value!r}")
    elif isinstance(node, ast.Name | ast.Attribute):
        name = _dotted(node)
        if name is None or any(part.startswith("_") for part in name.split(".")):
            raise ValueError("only plain (dotted) column names are allowed")
        names.add(name)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check(node.left, text, names)
        _check(node.right, text, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
        _check(node.operand, text, names)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, text, names)
    elif isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        for child in (node.left, *node.comparators):
            _check(child, text, names)
    elif isinstance(node, ast.Call):
        if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS) or node.keywords:
            raise ValueError(f"only the functions {', '.join(_FUNCTIONS)} may be called")
        if not node.args:
            raise ValueError(f"{node.func.id}() needs an argument")
        for arg in node.args:
            _check(arg, text, names)
    else:
        raise ValueError(f"{type(node).__name__} is not allowed")


def parse_expression(text: str, where: str) -> Expression:
    """Parse and check ``text``; `SpecError` naming ``where`` (file: field) if it is not valid."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{where}: expected an expression, got {text!r}")
    source = _QUANTITY.sub(_si, text.strip())
    try:
        tree = ast.parse(source, mode="eval").body
        names: set[str] = set()
        _check(tree, text, names)
    except SyntaxError as error:
        raise SpecError(f"{where}: cannot parse {text!r} ({error.msg})") from None
    except ValueError as error:
        raise SpecError(f"{where}: {text!r}: {error}") from None
    return Expression(text=text, tree=tree, names=frozenset(names))


def _evaluate(node: ast.expr, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name | ast.Attribute):
        return values[_dotted(node) or ""]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        if isinstance(node.op, ast.Not):
            return np.logical_not(operand)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BoolOp):
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        return _fold(combine, tuple(_evaluate(value, values) for value in node.values))
    if isinstance(node, ast.Compare):
        result: Any = True
        left = _evaluate(node.left, values)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, values)
            result = np.logical_and(result, _COMPARE[type(op)](left, right))
            left = right
        return result
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    return _FUNCTIONS[node.func.id](*(_evaluate(arg, values) for arg in node.args))
