"""The generator's slowest decay modes, from a finite state projection: what SDnet's decay modes estimate.

SDnet writes ``U(x, f, t)`` as ``U(f) + sum_l gamma_l(f) phi_l(x) exp(-sigma_l t)``
with ``-sigma_l`` the eigenvalues of the generator A of the process (Badolle,
Theuer, Fang, Gupta & Khammash, "Interpretable neural approximation of
stochastic reaction dynamics with guaranteed reliability", 2025, eq. 7 and
supplementary section C); when SDnet is exact its learned ``sigma_l`` are these
decay modes (their theorem, after Gupta et al., "Sparse learning of the
stochastic Koopman operator", 2025). For a network whose stationary mass lies
in a box of moderate size the modes can be computed directly: restrict A to
the box, dropping the jumps that would leave it (so the restriction is itself
a generator, with eigenvalue 0), and find the eigenvalues nearest 0 by
shift-invert Arnoldi (ARPACK through scipy). The slowest modes set how SDnet
extrapolates beyond its training horizon, so comparing them is a direct check
of what it learned.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, eigs

from ..network import ReactionNetwork
from ..propensity import propensity_function

#: Largest box (number of states) the projection builds.
MAX_STATES = 2_000_000


def _box(net: ReactionNetwork, box: Mapping[str, int | tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    names = net.species_names
    unknown = sorted(set(box) - set(names))
    if unknown:
        raise ValueError(f"generator_spectrum: box names species not in {net.name!r}: {unknown} (species: {names})")
    missing = [s for s in names if s not in box]
    if missing:
        raise ValueError(f"generator_spectrum: box gives no bounds for species {missing}")
    low, high = [], []
    for s in names:
        b = box[s]
        try:
            lo, hi = (0, b) if np.isscalar(b) else b
            ok = float(lo).is_integer() and float(hi).is_integer() and 0 <= lo <= hi
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"generator_spectrum: box for {s!r} must be integers 0 <= low <= high, got {b!r}")
        low.append(int(lo))
        high.append(int(hi))
    low_a, high_a = np.array(low), np.array(high)
    n = int(np.prod(high_a - low_a + 1, dtype=np.float64))
    if n > MAX_STATES:
        raise ValueError(f"generator_spectrum: the box holds {n:,} states, more than {MAX_STATES:,}")
    return low_a, high_a


@dataclass(frozen=True)
class BoxGenerator:
    """A network's generator restricted to a box of states, the jumps that would leave the box dropped."""

    #: The box's states (n, species), in C order of the box (row i is state i).
    states: np.ndarray
    #: Propensities at the states (n, reactions).
    propensities: np.ndarray
    #: For each reaction, the row of ``x + zeta_k`` (reactions, n); -1 where the jump leaves the box, the
    #: propensity is 0 or the reaction changes nothing.
    target: np.ndarray
    #: Whether a jump with positive propensity leaves the box from the state (n,).
    leaves: np.ndarray
    #: Forward orientation, dp/dt = Q p (columns: from-states); ``Q.T`` is the backward generator.
    Q: sp.csc_matrix


def box_generator(net: ReactionNetwork, box: Mapping[str, int | tuple[int, int]],
                  params: Mapping[str, float] | None = None) -> BoxGenerator:
    """The generator of ``net`` on a box of states (the finite state projection behind :func:`generator_spectrum`).

    ``box`` as for :func:`generator_spectrum`. Jumps that would leave the box are dropped, so the restriction is
    itself a generator; ``leaves`` says where that happened.
    """
    low, high = _box(net, box)
    shape = tuple(high - low + 1)
    n = int(np.prod(shape))
    index = np.arange(n)  # a state's row is its position in the box, C order (as ravel_multi_index below)
    states = np.stack(np.unravel_index(index, shape), axis=1).astype(np.int64) + low
    a = propensity_function(net, net.parameter_values(params))(states)
    bad = ~np.isfinite(a) | (a < 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"generator_spectrum: reaction {j} ({net.reactions[j]}) has propensity {a[i, j]} "
                         f"at state {dict(zip(net.species_names, states[i].tolist()))}")
    change = net.stoichiometry.T  # (reactions, species)
    target = np.full((change.shape[0], n), -1, dtype=np.int64)
    leaves = np.zeros(n, dtype=bool)
    diagonal = np.zeros(n)
    for j in range(change.shape[0]):
        if not change[j].any():  # changes nothing: no transition
            continue
        moved = states + change[j]
        inside = np.all((moved >= low) & (moved <= high), axis=1)
        leaves |= ~inside & (a[:, j] > 0)
        keep = inside & (a[:, j] > 0)
        target[j, keep] = np.ravel_multi_index((moved[keep] - low).T, shape)
        diagonal[keep] -= a[keep, j]
    kept = target >= 0
    rows = np.concatenate([target[kept], index])
    cols = np.concatenate([np.broadcast_to(index, target.shape)[kept], index])
    vals = np.concatenate([a.T[kept], diagonal])
    # Column-stochastic orientation (dp/dt = Q p): the eigenvalues are A's; the 0-eigenvector is the stationary law.
    Q = sp.csc_matrix((vals, (rows, cols)), shape=(n, n))
    return BoxGenerator(states=states, propensities=a, target=target, leaves=leaves, Q=Q)


def generator_spectrum(net: ReactionNetwork, box: Mapping[str, int | tuple[int, int]], modes: int = 8,
                       params: Mapping[str, float] | None = None, boundary_mass: float = 1e-6) -> np.ndarray:
    """The ``modes`` slowest decay modes ``sigma_l`` of the network's generator, restricted to a box.

    Parameters
    ----------
    net
        A network whose rates do not depend on time, and which can move
        between all the states of the box (one stationary distribution).
    box
        Per species an inclusive upper bound or a ``(low, high)`` pair; every
        species must be bounded. The box should hold nearly all the
        stationary mass and the states that the slow modes move between.
    modes
        How many modes to return (after the stationary mode 0).
    params
        Parameter values overriding the network's.
    boundary_mass
        Warn if the projected stationary distribution puts more than this
        mass on states from which a jump leaves the box (the box is then too
        small for the modes to be trusted).

    Returns
    -------
    numpy.ndarray
        Complex decay modes (minus the eigenvalues), real parts ascending;
        complex modes come in conjugate pairs, both listed.
    """
    if net.depends_on_time:
        raise ValueError(f"generator_spectrum: {net.name!r} has time-dependent rates; its generator has no spectrum")
    if modes < 1:
        raise ValueError(f"generator_spectrum: modes must be >= 1, got {modes}")
    gen = box_generator(net, box, params)
    n, Q = len(gen.states), gen.Q
    if modes + 2 >= n:
        raise ValueError(f"generator_spectrum: the box holds {n} states, too few for {modes} modes")
    diagonal = Q.diagonal()
    scale = max(float(np.max(-diagonal)), 1e-300)
    shift = -1e-6 * scale  # near 0 but not on it: 0 is an eigenvalue, and shift-invert needs Q - shift I regular
    try:
        values, vectors = eigs(Q, k=modes + 1, sigma=shift, which="LM", v0=np.ones(n), tol=1e-12)
    except (ArpackNoConvergence, RuntimeError) as exc:  # RuntimeError: the shifted matrix's LU is singular
        raise RuntimeError(f"generator_spectrum: ARPACK found no {modes + 1} eigenvalues near 0 on this box: {exc}") from exc
    if np.sum(np.abs(values) < 1e-9 * scale) > 1:
        warnings.warn("generator_spectrum: more than one stationary mode on this box (absorbing states, or parts "
                      "the network cannot move between): the modes near 0 are not decay modes", stacklevel=2)
    stationary = int(np.argmin(np.abs(values)))
    pi = np.abs(vectors[:, stationary])
    pi /= pi.sum()
    at_boundary = float(pi[gen.leaves].sum())
    if at_boundary > boundary_mass:
        warnings.warn(f"generator_spectrum: the stationary distribution puts {at_boundary:.2g} of its mass on states "
                      f"from which a jump leaves the box; widen the box", stacklevel=2)
    sigma = -np.delete(values, stationary)
    return sigma[np.lexsort((sigma.imag, sigma.real))]
