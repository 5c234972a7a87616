"""Generated upper bounds of the propensities over a time window, for thinning (:mod:`pycrn.engines.extrande`).

Between two jumps the counts are fixed and only ``t`` moves, so a bound of
a propensity over ``[tlo, thi]`` is the upper end of its rate expression's
interval enclosure with the species and parameters as points and ``t`` as
the interval, times the mass-action term of the current counts. The
enclosure is the natural interval extension of the expression
(:mod:`pycrn.engines.intervals`): a proof, not an estimate, so thinning
against it is exact. Propensities that do not read ``t`` are their own
bound.
"""

from __future__ import annotations

import ast

from .network import ReactionNetwork
from .propensity import KERNEL_SPECIES, mass_action_term, propensity_expression, symbols
from .ratelaws import CONSTANTS, TIME, _expand

_BINARY = {ast.Add: "_iadd", ast.Sub: "_isub", ast.Mult: "_imul", ast.Div: "_idiv", ast.Pow: "_ipow"}
_UNARY = {"exp": "_iexp", "log": "_ilog", "sqrt": "_isqrt", "abs": "_iabs", "floor": "_ifloor", "ceil": "_iceil",
          "sin": "_isin", "cos": "_icos"}


class _Writer:
    """Straight-line code computing one enclosure: each node gets ``lo<k>, hi<k>``."""

    def __init__(self, table: dict[str, str], indent: str) -> None:
        self.table = table
        self.indent = indent
        self.lines: list[str] = []
        self.count = 0

    def _new(self, value: str) -> tuple[str, str]:
        lo, hi = f"lo{self.count}", f"hi{self.count}"
        self.count += 1
        self.lines.append(f"{self.indent}{lo}, {hi} = {value}")
        return lo, hi

    def enclose(self, node: ast.expr) -> tuple[str, str]:
        if isinstance(node, ast.Constant):
            v = repr(float(node.value))
            return v, v
        if isinstance(node, ast.Name):
            if node.id == TIME:
                return "tlo", "thi"
            v = repr(CONSTANTS[node.id]) if node.id in CONSTANTS else self.table[node.id]
            return v, v
        if isinstance(node, ast.BinOp):
            a, b = self.enclose(node.left)
            c, d = self.enclose(node.right)
            return self._new(f"{_BINARY[type(node.op)]}({a}, {b}, {c}, {d})")
        if isinstance(node, ast.UnaryOp):
            a, b = self.enclose(node.operand)
            return self._new(f"_ineg({a}, {b})") if isinstance(node.op, ast.USub) else (a, b)
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        name = node.func.id
        if name in _UNARY:
            a, b = self.enclose(node.args[0])
            return self._new(f"{_UNARY[name]}({a}, {b})")
        if name in ("min", "max"):
            a, b = self.enclose(node.args[0])
            for arg in node.args[1:]:
                c, d = self.enclose(arg)
                a, b = self._new(f"_i{name}({a}, {b}, {c}, {d})")
            return a, b
        # hill, hillr, mm, mmr and pow: enclose their definitions.
        expanded = _expand(name, [ast.unparse(arg) for arg in node.args])
        return self.enclose(ast.parse(expanded, mode="eval").body)


def has_user_bounds(net: ReactionNetwork) -> bool:
    """Whether any reaction declares a ``@bound`` (the engine then checks each reaction at each candidate)."""
    return any(r.bound is not None for r in net.reactions)


def bounds_source(net: ReactionNetwork) -> str:
    """Source of ``rate_bounds(x, p, tlo, thi, b)``.

    It fills ``b[j]`` with an upper bound of reaction ``j``'s propensity for
    every ``t`` in ``[tlo, thi]`` at the counts ``x`` and returns their sum
    (infinite, or NaN, where a rate cannot be enclosed over the window). A
    reaction's declared ``@bound`` (:class:`~pycrn.Reaction`) replaces the
    enclosure where it is lower: it is the user's claim, which the engine
    checks at every candidate time.
    """
    table = symbols(net, KERNEL_SPECIES)
    lines = ["def rate_bounds(x, p, tlo, thi, b):", "    total = 0.0"]
    for j, r in enumerate(net.reactions):
        term = mass_action_term(net, j) if r.mass_action else "1.0"
        if not r.rate.depends_on_time:
            lines.append(f"    b[{j}] = {propensity_expression(net, j)}")
        else:
            writer = _Writer(table, "    ")
            _, hi = writer.enclose(r.rate.tree)
            lines += writer.lines
            # The term is a count product (exact up to 2**53, then within an ulp): widened once more.
            lines.append(f"    b[{j}] = max({hi}, 0.0) * {term} * (1.0 + 4.0 * IV_ULP)")
        if r.bound is not None:
            # The user's bound where it is tighter (or where no enclosure exists); NaN if it is undefined, so
            # that the window fails and names the reaction. Written out because min/max with NaN depend on
            # the argument order.
            lines += [f"    u = {r.bound.to_source(table)}",
                      "    u = 0.0 if u < 0.0 else u",
                      f"    u = u * {term}",
                      f"    b[{j}] = u if not (b[{j}] <= u) else b[{j}]"]
        lines.append(f"    total += b[{j}]")
    lines.append("    return total")
    return "\n".join(lines) + "\n"
