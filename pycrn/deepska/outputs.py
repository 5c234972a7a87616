"""Output functions ``f`` of a DeepSKA study: species names, polynomial strings or callables."""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence

import numpy as np

from ..network import ReactionNetwork

_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide, ast.Pow: np.power}


class Outputs:
    """The output functions ``f_i`` whose expectations ``E_x[f_i(X(t))]`` a study estimates.

    Parameters
    ----------
    net
        The network whose species the outputs read.
    outputs
        Each one a species name (``"P"``), a polynomial in species names
        (``"P**2"``, ``"P1 - P2"``, ``"2*R*P + 1"``), or a callable taking an
        array of states (n, species) in the network's species order and
        returning n values. Callables are named by their ``__name__``.

    Raises
    ------
    ValueError
        For an empty list, a string naming an unknown species or using
        anything but numbers, species, ``+ - * / **`` and parentheses, or two
        outputs with the same name.
    """

    def __init__(self, net: ReactionNetwork, outputs: str | Callable | Sequence[str | Callable]) -> None:
        if isinstance(outputs, str) or callable(outputs):
            outputs = [outputs]
        outputs = list(outputs)
        if not outputs:
            raise ValueError("outputs: give at least one output (a species name, a polynomial string or a callable)")
        self.species = list(net.species_names)
        self.names: list[str] = []
        self._fns: list[Callable[[np.ndarray], np.ndarray]] = []
        for out in outputs:
            if isinstance(out, str):
                self.names.append(out.strip())
                self._fns.append(self._polynomial(out))
            elif callable(out):
                self.names.append(getattr(out, "__name__", f"f{len(self.names)}"))
                self._fns.append(out)
            else:
                raise ValueError(f"outputs: {out!r} is neither a string nor a callable")
        dup = {n for n in self.names if self.names.count(n) > 1}
        if dup:
            raise ValueError(f"outputs: the names {sorted(dup)} appear more than once")

    def __len__(self) -> int:
        return len(self.names)

    def _polynomial(self, text: str) -> Callable[[np.ndarray], np.ndarray]:
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as err:
            raise ValueError(f"output {text!r} is not an expression: {err.msg}") from None
        index = {name: i for i, name in enumerate(self.species)}

        def check(node: ast.AST) -> None:
            if isinstance(node, ast.Name):
                if node.id not in index:
                    raise ValueError(
                        f"output {text!r} names {node.id!r}, which is not a species of the network "
                        f"(species: {', '.join(self.species)})"
                    )
            elif isinstance(node, ast.Constant):
                if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                    raise ValueError(f"output {text!r}: {node.value!r} is not a number")
            elif isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
                check(node.left)
                check(node.right)
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
                check(node.operand)
            else:
                raise ValueError(
                    f"output {text!r}: only numbers, species names, + - * / ** and parentheses are allowed "
                    f"(found {ast.unparse(node)!r})"
                )

        check(tree)

        def evaluate(node: ast.AST, x: np.ndarray):
            if isinstance(node, ast.Name):
                return x[:, index[node.id]]
            if isinstance(node, ast.Constant):
                return float(node.value)
            if isinstance(node, ast.UnaryOp):
                v = evaluate(node.operand, x)
                return -v if isinstance(node.op, ast.USub) else v
            return _BINOPS[type(node.op)](evaluate(node.left, x), evaluate(node.right, x))

        return lambda x: evaluate(tree, x)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The outputs of states ``x`` (n, species), as float64 (n, outputs)."""
        xf = np.asarray(x, dtype=np.float64)
        if xf.ndim != 2 or xf.shape[1] != len(self.species):
            raise ValueError(f"states must have shape (n, {len(self.species)}), got {xf.shape}")
        cols = []
        for name, fn in zip(self.names, self._fns, strict=True):
            with np.errstate(all="ignore"):
                v = np.broadcast_to(np.asarray(fn(xf), dtype=np.float64), (xf.shape[0],))
            if not np.all(np.isfinite(v)):
                row = int(np.flatnonzero(~np.isfinite(v))[0])
                raise ValueError(f"output {name!r} is not finite at state {dict(zip(self.species, xf[row]))}")
            cols.append(v)
        return np.stack(cols, axis=1)
