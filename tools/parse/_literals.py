"""Literal values from Python syntax trees and plain strings — a small, closed evaluator of our own.

Only these ever produce a value: numbers, strings, True/False/None, lists and tuples of literals,
unary minus/plus on numbers, and + - * / between numbers (plus + between strings). Everything else —
names, attribute access, calls, subscripts, f-strings, lambdas, comprehensions, starred items,
dicts, bytes, ``**`` — is a :class:`~tools.parse._base.Problem` naming the offending part. Nothing is
ever evaluated by Python itself: no eval, exec or compile-to-run.

Numbers are bounded (``Limits.max_number``) and must be finite; nesting is bounded by ``max_depth``.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

from tools.parse._base import Limits, Problem

_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

_KIND_NAMES: dict[type, str] = {
    ast.Name: "a name",
    ast.Attribute: "attribute access",
    ast.Call: "a function call",
    ast.Subscript: "indexing",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Starred: "a starred argument",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.IfExp: "a conditional expression",
    ast.BoolOp: "and/or",
    ast.Compare: "a comparison",
    ast.NamedExpr: "an assignment expression",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "a slice",
}


def snippet(node: ast.AST, source: str | None, limit: int = 60) -> str:
    """The source text of a node, shortened, for messages."""
    text = None
    if source is not None:
        try:
            text = ast.get_source_segment(source, node)
        except Exception:
            text = None
    if not text:
        text = type(node).__name__
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_node(node: ast.AST, source: str | None) -> str:
    """A phrase such as ``a function call `open('/etc/passwd')``` for a disallowed node."""
    kind = _KIND_NAMES.get(type(node), type(node).__name__)
    return f"{kind} `{snippet(node, source)}`"


def check_number(value: float, limits: Limits) -> float:
    """Reject NaN, infinities and numbers beyond ``max_number``; return the value."""
    if isinstance(value, float) and not math.isfinite(value):
        raise Problem(f"the number {value} is not finite")
    if abs(value) > limits.max_number:
        raise Problem(f"the number {value:g} is too large")
    return value


def literal(node: ast.AST, limits: Limits, source: str | None = None, depth: int = 0) -> Any:
    """The value of a literal expression node, or a Problem naming what is not a literal."""
    if depth > limits.max_depth:
        raise Problem("an argument is nested too deeply")
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)):
            return check_number(value, limits)
        raise Problem(f"the value `{snippet(node, source)}` is not a number, string, True, False or None")
    if isinstance(node, (ast.List, ast.Tuple)):
        if len(node.elts) > limits.max_items:
            raise Problem(f"a list has more than {limits.max_items} items")
        items = [literal(e, limits, source, depth + 1) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = literal(node.operand, limits, source, depth + 1)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Problem(f"a sign can only go before a number, not in `{snippet(node, source)}`")
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        return _arith(node, limits, source, depth)
    raise Problem(f"{describe_node(node, source)} is not allowed here; write the value itself")


def _arith(node: ast.BinOp, limits: Limits, source: str | None, depth: int) -> Any:
    left = literal(node.left, limits, source, depth + 1)
    right = literal(node.right, limits, source, depth + 1)
    if isinstance(left, str) and isinstance(right, str) and isinstance(node.op, ast.Add):
        return left + right
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (left, right)):
        raise Problem(f"only numbers can be combined with + - * /, not in `{snippet(node, source)}`")
    if isinstance(node.op, ast.Add):
        result = left + right
    elif isinstance(node.op, ast.Sub):
        result = left - right
    elif isinstance(node.op, ast.Mult):
        result = left * right
    else:
        if right == 0:
            raise Problem(f"division by zero in `{snippet(node, source)}`")
        result = left / right
    return check_number(result, limits)


def as_number(value: Any, what: str, limits: Limits) -> float:
    """A finite number from a number or a numeric string (``"0.5"``); a Problem otherwise."""
    if isinstance(value, bool):
        raise Problem(f"{what} must be a number, not {value}")
    if isinstance(value, (int, float)):
        return check_number(value, limits)
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= 40 and _NUMBER_TEXT.fullmatch(text):
            return check_number(float(text) if any(c in text for c in ".eE") else int(text), limits)
        raise Problem(f"{what} must be a number, not {value[:40]!r}")
    raise Problem(f"{what} must be a number, not {_type_word(value)}")


def wait_seconds(args: dict[str, Any], names: tuple[str, ...], limits: Limits) -> float:
    """A wait's length from the first of ``names`` present in a JSON call's arguments, else ``bare_wait``."""
    for name in names:
        if args.get(name) is not None:
            return as_number(args[name], name, limits)
    return limits.bare_wait


def as_int(value: Any, what: str, limits: Limits) -> int:
    """An integer from an integral number or numeric string (``3``, ``3.0``, ``"3"``)."""
    number = as_number(value, what, limits)
    if number != int(number):
        raise Problem(f"{what} must be a whole number, not {number:g}")
    return int(number)


def as_text(value: Any, what: str) -> str:
    """A string, or a Problem."""
    if isinstance(value, str):
        return value
    raise Problem(f"{what} must be a string, not {_type_word(value)}")


def _type_word(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__
