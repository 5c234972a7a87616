"""Explicit Poisson tau-leaping with adaptive step size.

Y. Cao, D. T. Gillespie, L. R. Petzold, "Efficient step size selection for
the tau-leaping simulation method", J. Chem. Phys. 124:044109 (2006), with
the critical-reaction scheme of "Avoiding negative populations in explicit
Poisson tau-leaping", J. Chem. Phys. 123:054104 (2005).

Each step: reactions that could exhaust a reactant within ``N_CRITICAL``
firings are *critical*; the leap ``tau'`` bounds the expected change and the
standard deviation of every species a propensity depends on by
``max(epsilon x_i / g_i, 1)``; critical reactions fire at most once per
leap, at an exponential time with their total propensity.

Error control. ``g_i`` bounds the relative change of a propensity per
relative change of ``x_i``, so that the leap condition ``|Delta a_j| <~
epsilon a_j`` holds for every reaction (eq. 27 of the 2006 paper). For
mass-action reactions ``g_i`` is the paper's, from the highest order of the
reactions consuming species i (an upper bound, exact for these propensities).
For a general rate law (``=>``) the order of a species is not defined: every
species its expression reads (the dependency set the dependency graph uses,
reactants or not) is bounded, with ``g_i`` the largest elasticity
``|a_j(x + e_i) - a_j(x)| max(x_i, 1) / a_j(x)`` of the general propensities
that read it, evaluated by a one-molecule difference at the start of each
leap (at least the mass-action ``g_i``). This holds the same first-order
bound on the relative change of every propensity, evaluated at the current
state rather than as a worst case; a rate law that switches on from zero, or
is invalid one molecule away, limits the leap to one molecule of change. A leap that would make a count negative is halved and
redrawn, so counts never go negative. When ``tau'`` is below ``10 / a0`` the
leap would gain nothing and ``N_EXACT`` exact SSA steps run instead (a
burst, cut short at a save or event time as a leap is).

Saving and events: leaps are shortened to land exactly on save times and
time events; state events are checked after each leap (approximate, like the
leap itself) and after each exact step of a burst (exact there, as in the
SSAs), and ``save="events"`` records each of those steps. ``epsilon``
(default 0.03) is the ``tau_epsilon`` argument of :func:`pycrn.simulate`.
"""

from __future__ import annotations

import numpy as np

from . import leap_stepper

NAME = "tau_leaping"
N_CRITICAL = 10
N_EXACT = 100
MAX_HALVINGS = 60


def constants_source(net) -> str:
    """Per-model constants: stoichiometry by reaction, each species' highest reactant order, and
    which species general rate laws read (``GDEP[j, i]``: general reaction j reads species i)."""
    S = net.stoichiometry  # species x reactions
    R = net.reactant_matrix
    m, n = S.shape[1], S.shape[0]
    order = R.sum(axis=0)
    hor = np.zeros(n, dtype=np.int64)
    horc = np.zeros(n, dtype=np.int64)
    for i in range(n):
        for j in range(m):
            if R[i, j] > 0 and (order[j] > hor[i] or (order[j] == hor[i] and R[i, j] > horc[i])):
                hor[i], horc[i] = order[j], R[i, j]
    gdep = np.zeros((m, n), dtype=bool)
    for j, deps in enumerate(net.rate_dependencies):
        if not net.reactions[j].mass_action:
            gdep[j, list(deps)] = True
    rows = ", ".join("[" + ", ".join(str(int(S[i, j])) for i in range(n)) + "]" for j in range(m))
    grows = ", ".join("[" + ", ".join("True" if gdep[j, i] else "False" for i in range(n)) + "]" for j in range(m))
    return (
        f"NU = np.array([{rows}], dtype=np.int64).reshape({m}, {n})\n"
        f"HOR = np.array({hor.tolist()!r}, dtype=np.int64)\n"
        f"HORC = np.array({horc.tolist()!r}, dtype=np.int64)\n"
        f"GDEP = np.array([{grows}], dtype=np.bool_).reshape({m}, {n})\n"
        f"READ_BY_RATE_LAW = np.array({gdep.any(axis=0).tolist()!r}, dtype=np.bool_).reshape({n})\n"
        f"ANY_RATE_LAW = {bool(gdep.any())}\n"
        f"N_CRITICAL = {N_CRITICAL}\nN_EXACT = {N_EXACT}\nMAX_HALVINGS = {MAX_HALVINGS}\n"
    )


def _g(i, xi):
    """Cao-Gillespie-Petzold's g_i: the relative propensity change per relative change of x_i."""
    h = HOR[i]  # noqa: F821
    c = HORC[i]  # noqa: F821
    if h <= 1:
        return 1.0
    if h == 2:
        if c == 1 or xi < 2.0:
            return 2.0
        return 2.0 + 1.0 / (xi - 1.0)
    if c == 1 or xi < 3.0:
        return float(h)
    if c == 2:
        return 1.5 * (2.0 + 1.0 / (xi - 1.0))
    return 3.0 + 1.0 / (xi - 1.0) + 2.0 / (xi - 2.0)


def _critical(x, a, crit):
    """Flag reactions that could exhaust a reactant within N_CRITICAL firings; return their total."""
    a0c = 0.0
    for j in range(a.shape[0]):
        crit[j] = False
        if a[j] <= 0.0:
            continue
        L = 1 << 62
        for i in range(x.shape[0]):
            if NU[j, i] < 0:  # noqa: F821
                v = x[i] // (-NU[j, i])  # noqa: F821
                if v < L:
                    L = v
        if L < N_CRITICAL:  # noqa: F821
            crit[j] = True
            a0c += a[j]
    return a0c


def _elasticity(net, i, x, pl, t, a, aw):
    """Largest relative change of a general propensity reading species i per relative change of x_i.

    ``|a_j(x + e_i) - a_j(x)| max(x_i, 1) / a_j(x)`` over general reactions j
    that read x_i (a one-molecule forward difference); ``inf`` if one
    switches on from zero or is invalid at ``x + e_i``.
    """
    xi = x[i]
    x[i] = xi + 1
    valid = rates(net, x, pl, t, aw)  # noqa: F821
    x[i] = xi
    if valid != valid:
        return np.inf
    scale = float(xi) if xi > 1 else 1.0
    e = 0.0
    for j in range(a.shape[0]):
        if GDEP[j, i]:  # noqa: F821
            d = abs(aw[j] - a[j])
            if d == 0.0:
                continue
            if a[j] <= 0.0:
                return np.inf
            v = d * scale / a[j]
            if v > e:
                e = v
    return e


def _leap(net, x, a, crit, eps, pl, t):
    """tau' of the 2006 paper from the non-critical reactions (see the module docstring)."""
    tau = np.inf  # noqa: F821
    aw = np.empty(a.shape[0]) if ANY_RATE_LAW else a  # noqa: F821
    for i in range(x.shape[0]):
        if HOR[i] == 0 and not READ_BY_RATE_LAW[i]:  # noqa: F821
            continue
        mu = 0.0
        var = 0.0
        for j in range(a.shape[0]):
            if not crit[j] and NU[j, i] != 0:  # noqa: F821
                mu += NU[j, i] * a[j]  # noqa: F821
                var += NU[j, i] * NU[j, i] * a[j]  # noqa: F821
        if mu == 0.0 and var == 0.0:
            continue
        g = _g(i, float(x[i])) if HOR[i] > 0 else 0.0  # noqa: F821
        if READ_BY_RATE_LAW[i]:  # noqa: F821
            e = _elasticity(net, i, x, pl, t, a, aw)
            if e > g:
                g = e
        if g == 0.0:
            continue
        bound = eps * x[i] / g
        if bound < 1.0:
            bound = 1.0
        if mu != 0.0:
            tau = min(tau, bound / abs(mu))
        if var > 0.0:
            tau = min(tau, bound * bound / var)
    return tau


def advance(net, x, pl, t, t_stop, a, total, crit, xn, s, eps, burst, single):
    """One leap, or a burst of exact steps, from t, not beyond t_stop (see leap_stepper).

    Returns ``(t, steps, code, total, burst)``; ``code`` is 0, or ``1 + j`` if
    reaction j cannot fire without a negative count (or would overflow a
    count, in an exact step), -1 for an invalid propensity,
    ``STATUS_OVERFLOW - i`` if a leap would push the count of species ``i``
    past ``COUNT_LIMIT``. ``burst`` is how many exact steps remain of the
    current burst (0: choose afresh between a leap and a burst); with
    ``single`` a burst returns after each of its steps.
    """
    if burst == 0:
        a0c = _critical(x, a, crit)
        tau1 = _leap(net, x, a, crit, eps, pl, t)
        if tau1 < 10.0 / total:
            # Leaping would gain nothing: exact SSA steps.
            burst = N_EXACT  # noqa: F821
    if burst > 0:
        steps = 0
        while burst > 0:
            t_next = t + rng_exponential(s) / total  # noqa: F821
            if t_next > t_stop:
                return t_stop, steps, 0, total, 0
            r = rng_uniform(s) * total  # noqa: F821
            acc = 0.0
            j = a.shape[0] - 1
            for q in range(a.shape[0]):
                acc += a[q]
                if r < acc:
                    j = q
                    break
            t = t_next
            total = fire(net, j, x, pl, t, a, total)  # noqa: F821
            steps += 1
            burst -= 1
            if not (total <= MAX_FLOAT):  # noqa: F821
                return t, steps, 1 + j, total, 0
            if total <= 0.0:
                return t_stop, steps, 0, total, 0
            if single:
                # The caller checks state events and records after every jump; a call per step costs the
                # references numba counts for each array argument, so only then.
                return t, steps, 0, total, burst
        return t, steps, 0, total, 0
    for _ in range(MAX_HALVINGS):  # noqa: F821
        tau2 = rng_exponential(s) / a0c if a0c > 0.0 else np.inf  # noqa: F821
        tau = min(tau1, tau2, t_stop - t)
        for i in range(x.shape[0]):
            xn[i] = x[i]
        jc = -1
        if tau2 <= tau1 and tau2 <= t_stop - t:
            r = rng_uniform(s) * a0c  # noqa: F821
            acc = 0.0
            for j in range(a.shape[0]):
                if crit[j]:
                    jc = j
                    acc += a[j]
                    if r < acc:
                        break
            i = _add_firings(xn, jc, np.int64(1))  # noqa: F821
            if i >= 0:
                return t, 0, STATUS_OVERFLOW - i, total, 0  # noqa: F821
            for i in range(x.shape[0]):
                if xn[i] < 0:
                    # One firing of a critical reaction makes a count negative: its rate law does not
                    # vanish without its reactants (no leap size helps). Fail as the exact SSAs do.
                    for q in range(x.shape[0]):
                        x[q] += NU[jc, q]  # noqa: F821
                    return t + tau2, 0, 1 + jc, total, 0
        ok = True
        for j in range(a.shape[0]):
            if crit[j] or a[j] <= 0.0:
                continue
            k = _poisson_firings(s, a[j] * tau)  # noqa: F821
            if k != 0:
                i = _add_firings(xn, j, k)  # noqa: F821
                if i >= 0:
                    # Not a leap too long: the counts themselves head past the int64 limit.
                    return t, 0, STATUS_OVERFLOW - i, total, 0  # noqa: F821
                if i == -2:
                    ok = False
                    break
        for i in range(x.shape[0]):
            if xn[i] < 0:
                ok = False
        if ok:
            for i in range(x.shape[0]):
                x[i] = xn[i]
            return t + tau, 1, 0, total, 0
        tau1 = 0.5 * tau1
    # Only a rate law that stays positive without its reactants gets here.
    return t, 0, 1 + (jc if jc >= 0 else 0), total, 0


SOURCES = (_g, _critical, _elasticity, _leap, advance, *leap_stepper.SOURCES)
