"""Rate expressions: parsed once, checked, printed back, and turned into code.

A rate expression is written in a small, safe subset of Python arithmetic:
numbers, names (species, parameters, the time ``t`` and the constant ``pi``),
``+ - * /``, powers (``^`` or ``**``), parentheses and the functions in
:data:`FUNCTIONS`.
Catalyst's rate functions are included with Catalyst's definitions:

``hill(x, v, K, n)  = v x^n / (K^n + x^n)``
``hillr(x, v, K, n) = v K^n / (K^n + x^n)``
``mm(x, v, K)       = v x / (K + x)``
``mmr(x, v, K)      = v K / (K + x)``

The same parsed tree is rendered three ways: back to the network language
(:meth:`RateLaw.__str__`), to source for numba kernels
(:meth:`RateLaw.to_source`) and to a vectorised numpy function
(:meth:`RateLaw.to_numpy`).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelError

#: Functions allowed in rate expressions, with their number of arguments
#: (``None``: two or more).
FUNCTIONS: dict[str, int | None] = {
    "exp": 1,
    "log": 1,
    "sqrt": 1,
    "abs": 1,
    "floor": 1,
    "ceil": 1,
    "sin": 1,
    "cos": 1,
    "pow": 2,
    "min": None,
    "max": None,
    "hill": 4,
    "hillr": 4,
    "mm": 3,
    "mmr": 3,
}

#: The name that stands for time in rate expressions.
TIME = "t"
#: Named constants of rate expressions (neither species nor parameters).
CONSTANTS: dict[str, float] = {"pi": math.pi}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


def _expand(name: str, args: list[str]) -> str:
    """Source of a call to one of :data:`FUNCTIONS`, Catalyst definitions inlined."""
    if name == "hill":
        x, v, k, n = args
        return f"({v} * {x} ** {n} / ({k} ** {n} + {x} ** {n}))"
    if name == "hillr":
        x, v, k, n = args
        return f"({v} * {k} ** {n} / ({k} ** {n} + {x} ** {n}))"
    if name == "mm":
        x, v, k = args
        return f"({v} * {x} / ({k} + {x}))"
    if name == "mmr":
        x, v, k = args
        return f"({v} * {k} / ({k} + {x}))"
    if name == "pow":
        return f"({args[0]} ** {args[1]})"
    return f"{name}({', '.join(args)})"


@dataclass(frozen=True)
class RateLaw:
    """A parsed, validated rate expression.

    Parameters
    ----------
    text
        The expression as written, e.g. ``"beta"`` or ``"hillr(P, a, K, 2)"``.

    Attributes
    ----------
    names
        The free names the expression uses (species, parameters, ``t``).
    """

    text: str
    tree: ast.expr = field(repr=False, compare=False)
    names: frozenset[str] = field(compare=False)

    #: Whether comparisons and ``and``/``or``/``not`` are allowed (see :class:`Condition`).
    BOOLEAN = False

    @classmethod
    def parse(cls, text: str | float | int) -> RateLaw:
        """Parse ``text``, raising :class:`ModelError` if invalid."""
        if isinstance(text, bool):
            raise ModelError(f"rate expression must be a number or a string, not {text!r}")
        if isinstance(text, (int, float)):
            if not math.isfinite(text):
                raise ModelError(f"rate constant {text!r} is not finite")
            text = repr(float(text)) if isinstance(text, float) else str(text)
        source = str(text).strip()
        if not source:
            raise ModelError("empty rate expression")
        try:
            tree = ast.parse(source.replace("^", "**"), mode="eval").body
            names: set[str] = set()
            if cls.BOOLEAN:
                _check_condition(tree, source, names)
            else:
                _check(tree, source, names)
            canonical = ast.unparse(tree).replace("**", "^")
        except SyntaxError as exc:
            raise ModelError(f"rate expression {_short(source)!r} is not valid: {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise ModelError(f"rate expression {_short(source)!r} is nested too deeply to read") from None
        return cls(canonical, tree, frozenset(names))

    def __str__(self) -> str:
        return self.text

    @property
    def depends_on_time(self) -> bool:
        """Whether the expression uses the time ``t``."""
        return TIME in self.names

    def constant_value(self) -> float | None:
        """The value of the expression if it is a plain number, else ``None``."""
        if isinstance(self.tree, ast.Constant):
            return float(self.tree.value)
        return None

    def to_source(self, symbols: Mapping[str, str]) -> str:
        """Python/numba source of the expression, each name replaced by ``symbols[name]``."""
        return _render(self.tree, symbols)

    def to_numpy(self, order: list[str]) -> Callable[..., np.ndarray]:
        """A numpy function of the names in ``order`` evaluating the expression elementwise."""
        symbols = {name: name for name in order}
        body = _render(self.tree, symbols, numpy=True)
        namespace = {"np": np}
        exec(f"def f({', '.join(order)}):\n    return {body}\n", namespace)  # noqa: S102
        return namespace["f"]


class Condition(RateLaw):
    """A boolean expression for event triggers: comparisons of rate expressions
    (``< <= > >= == !=``) combined with ``and``, ``or`` and ``not``."""

    BOOLEAN = True

    def time_threshold(self) -> RateLaw | None:
        """For a trigger ``t >= T`` or ``t > T`` (T free of ``t``), the expression T; else None."""
        node = self.tree
        if (
            isinstance(node, ast.Compare)
            and len(node.ops) == 1
            and isinstance(node.ops[0], (ast.GtE, ast.Gt))
            and isinstance(node.left, ast.Name)
            and node.left.id == TIME
        ):
            threshold = RateLaw.parse(ast.unparse(node.comparators[0]))
            if not threshold.depends_on_time:
                return threshold
        return None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def symbol_table(species: list[str], parameters: list[str], species_code: str) -> dict[str, str]:
    """Names -> code for rendering expressions: species by ``species_code.format(i=...)``,
    parameters as ``p[k]``, time as ``t``."""
    table = {name: species_code.format(i=i) for i, name in enumerate(species)}
    table.update({name: f"p[{k}]" for k, name in enumerate(parameters)})
    table[TIME] = "t"
    return table


def _check_condition(node: ast.AST, source: str, names: set[str]) -> None:
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check_condition(v, source, names)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check_condition(node.operand, source, names)
        return
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        _check(node.left, source, names)
        for c in node.comparators:
            _check(c, source, names)
        return
    raise ModelError(f"condition {source!r}: expected a comparison such as 'X > 30' or 't >= 25'")


def _check(node: ast.AST, source: str, names: set[str]) -> None:
    """Reject every construct outside the rate-expression subset."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ModelError(f"rate expression {source!r}: {node.value!r} is not a number")
        try:
            finite = math.isfinite(node.value)
        except OverflowError:  # an integer literal beyond any float
            finite = False
        if not finite:
            raise ModelError(f"rate expression {_short(source)!r}: a number in it is not finite in double precision")
        return
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise ModelError(f"rate expression {source!r}: function {node.id!r} used without arguments")
        if node.id not in CONSTANTS:
            names.add(node.id)
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check(node.left, source, names)
        _check(node.right, source, names)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand, source, names)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            known = ", ".join(FUNCTIONS)
            raise ModelError(f"rate expression {source!r}: unknown function {name!r} (known: {known})")
        if node.keywords:
            raise ModelError(f"rate expression {source!r}: keyword arguments are not allowed")
        arity = FUNCTIONS[node.func.id]
        n = len(node.args)
        if (arity is None and n < 2) or (arity is not None and n != arity):
            want = "at least 2" if arity is None else str(arity)
            raise ModelError(
                f"rate expression {source!r}: {node.func.id}() takes {want} arguments, got {n}"
            )
        for arg in node.args:
            _check(arg, source, names)
        return
    raise ModelError(f"rate expression {source!r}: {ast.unparse(node)!r} is not allowed")


def _render(node: ast.expr, symbols: Mapping[str, str], numpy: bool = False) -> str:
    if isinstance(node, ast.BoolOp):
        op = " and " if isinstance(node.op, ast.And) else " or "
        if numpy:
            op = " & " if isinstance(node.op, ast.And) else " | "
        return "(" + op.join(_render(v, symbols, numpy) for v in node.values) + ")"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _render(node.operand, symbols, numpy)
        return f"(~{inner})" if numpy else f"(not {inner})"
    if isinstance(node, ast.Compare):
        parts = [_render(node.left, symbols, numpy)]
        for op, c in zip(node.ops, node.comparators):
            parts.append(_COMPARE[type(op)])
            parts.append(_render(c, symbols, numpy))
        return "(" + " ".join(parts) + ")"
    if isinstance(node, ast.Constant):
        return repr(float(node.value))
    if isinstance(node, ast.Name):
        return repr(CONSTANTS[node.id]) if node.id in CONSTANTS else symbols[node.id]
    if isinstance(node, ast.BinOp):
        op = _BINOPS[type(node.op)]
        return f"({_render(node.left, symbols, numpy)} {op} {_render(node.right, symbols, numpy)})"
    if isinstance(node, ast.UnaryOp):
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return f"({sign}{_render(node.operand, symbols, numpy)})"
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    args = [_render(a, symbols, numpy) for a in node.args]
    name = node.func.id
    if numpy and name in ("min", "max"):
        fn = "np.minimum" if name == "min" else "np.maximum"
        out = args[0]
        for a in args[1:]:
            out = f"{fn}({out}, {a})"
        return out
    if numpy and name in ("exp", "log", "sqrt", "abs", "floor", "ceil", "sin", "cos"):
        return f"np.{name}({args[0]})"
    if not numpy and name in ("exp", "log", "sqrt", "floor", "ceil", "sin", "cos"):
        return f"math.{name}({args[0]})"
    return _expand(name, args)
