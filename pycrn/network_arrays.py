"""A network as flat arrays, for the shared data-driven kernels of :mod:`pycrn.engines.mass_action`.

Building the arrays is linear in the size of the network (sparse products,
no dense species-by-reaction matrix), so networks of tens of thousands of
reactions are ready in well under a second.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.sparse as sp

from .errors import ModelError
from .network import ReactionNetwork
from .propensity import symbols

#: With kernels="auto", networks of at least this many reactions use the shared kernels when they can (see
#: :func:`use_shared_kernels`). Below it, the generated straight-line kernels are faster per step and
#: compile in seconds; measured in benchmarks/bench_kernels.py.
SHARED_MIN_REACTIONS = 32
#: Length of the packed array's header: the reaction and species counts and eleven offsets (ten parts and
#: the end).
HEADER = 13


def shared_kernels_apply(net: ReactionNetwork) -> bool:
    """Whether the shared kernels can simulate ``net``.

    They can when every reaction is mass action with a rate constant that
    reads neither species nor time, and the network has no events (an event
    may reassign a parameter mid-run).
    """
    return not net.events and array_kernels_apply(net)


def array_kernels_apply(net: ReactionNetwork) -> bool:
    """Whether the data-driven propensities can compute ``net``'s: mass action with rate constants that
    read neither species nor time (events allowed: an engine module with the network's events generated)."""
    species = set(net.species_names)
    for r in net.reactions:
        if not r.mass_action or r.rate.depends_on_time or set(r.rate.names) & species:
            return False
    return True


def use_shared_kernels(net: ReactionNetwork) -> bool:
    """Whether the exact SSAs run ``net`` on the shared kernels (they can, and it is large enough)."""
    return len(net.reactions) >= SHARED_MIN_REACTIONS and shared_kernels_apply(net)


def _csr(rows: list[int], cols: list[int], vals: list[int], nrows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row pointers, column indices and values of the (row, col, value) entries, rows in order."""
    rows_a = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows_a, kind="stable")
    ptr = np.zeros(nrows + 1, dtype=np.int64)
    np.add.at(ptr, rows_a + 1, 1)
    return np.cumsum(ptr), np.asarray(cols, dtype=np.int64)[order], np.asarray(vals, dtype=np.int64)[order]


@functools.lru_cache(maxsize=16)
def network_arrays(net: ReactionNetwork) -> np.ndarray:
    """The packed ``net`` array of :mod:`pycrn.engines.mass_action` for ``net``."""
    index = {name: i for i, name in enumerate(net.species_names)}
    boundary = {s.name for s in net.species if s.boundary}
    m, n = len(net.reactions), len(index)
    rr, rs, ro, cr, cs, cd = [], [], [], [], [], []
    for j, r in enumerate(net.reactions):
        for name, nu in r.reactants:
            rr.append(j)
            rs.append(index[name])
            ro.append(nu)
        for name, nu in r.net_change().items():
            if name not in boundary:
                cr.append(j)
                cs.append(index[name])
                cd.append(nu)
    reactant_ptr, reactant_species, reactant_order = _csr(rr, rs, ro, m)
    change_ptr, change_species, change_delta = _csr(cr, cs, cd, m)
    # Reaction k depends on j when j changes a species among k's reactants: (changes) @ (readers).
    changes = sp.csr_matrix((np.ones(len(cr)), (np.asarray(cr, dtype=np.int64), np.asarray(cs, dtype=np.int64))),
                            shape=(m, n))
    readers = sp.csr_matrix((np.ones(len(rr)), (np.asarray(rs, dtype=np.int64), np.asarray(rr, dtype=np.int64))),
                            shape=(n, m))
    dependents = (changes @ readers).tocsr()
    dependents.sort_indices()
    readers_csr = readers.tocsr()
    readers_csr.sort_indices()
    parts = [
        reactant_ptr, reactant_species, reactant_order, change_ptr, change_species, change_delta,
        dependents.indptr.astype(np.int64), dependents.indices.astype(np.int64),
        readers_csr.indptr.astype(np.int64), readers_csr.indices.astype(np.int64),
    ]
    offsets = np.cumsum([HEADER] + [a.size for a in parts])
    packed = np.concatenate([np.array([m, n, *offsets], dtype=np.int64), *parts])
    packed.setflags(write=False)
    return packed


@functools.lru_cache(maxsize=16)
def rate_laws(net: ReactionNetwork) -> tuple[np.ndarray, list[float | int | str], np.ndarray]:
    """The distinct rate laws of a mass-action network: (reaction -> law index, laws, 1 / prod nu!).

    A law is a number, a parameter index, or the source of an expression in ``p`` and ``math``.
    """
    table = symbols(net)
    index: dict[str, int] = {}
    laws: list[float | int | str] = []
    which = np.empty(len(net.reactions), dtype=np.int64)
    params = {name: k for k, name in enumerate(net.parameter_names)}
    for j, r in enumerate(net.reactions):
        text = r.rate.text
        if text not in index:
            index[text] = len(laws)
            const = r.rate.constant_value()
            if const is not None:
                laws.append(float(const))
            elif text in params:
                laws.append(params[text])
            else:
                laws.append(r.rate.to_source(table))
        which[j] = index[text]
    scale = np.array([1.0 / math.prod(math.factorial(nu) for _, nu in r.reactants) for r in net.reactions])
    return which, laws, scale


@functools.lru_cache(maxsize=16)
def _rate_program(net: ReactionNetwork) -> tuple[np.ndarray, list, np.ndarray]:
    """The distinct rate laws compiled once: (reaction -> law index, law evaluators, 1 / prod nu!)."""
    which, laws, scale = rate_laws(net)
    evaluators = [
        compile(law, f"<rate of reaction {int(np.argmax(which == q)) + 1}>", "eval") if isinstance(law, str) else law
        for q, law in enumerate(laws)
    ]
    return which, evaluators, scale


def rate_constants(net: ReactionNetwork, p: np.ndarray) -> np.ndarray:
    """Per reaction, its rate constant at parameter values ``p`` divided by the factorials of its reactant orders.

    Raises
    ------
    ModelError
        If a rate constant is negative or not a finite number, naming the reaction.
    """
    which, evaluators, scale = _rate_program(net)
    values = np.empty(len(evaluators))
    for q, ev in enumerate(evaluators):
        if isinstance(ev, float):
            values[q] = ev
        elif isinstance(ev, int):
            values[q] = p[ev]
        else:
            try:
                with np.errstate(all="ignore"):
                    values[q] = float(eval(ev, {"math": math, "p": p}))  # noqa: S307 (generated)
            except (ArithmeticError, ValueError):
                values[q] = math.nan
    k = values[which]
    bad = np.flatnonzero(~((k >= 0) & (k <= np.finfo(np.float64).max)))
    if bad.size:
        j = int(bad[0])
        raise ModelError(
            f"reaction {j + 1} ({net.reactions[j]}): rate constant {net.reactions[j].rate} = {float(k[j])!r} "
            "is not a non-negative finite number"
        )
    return k * scale
