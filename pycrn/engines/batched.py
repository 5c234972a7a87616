"""The exact batched algorithm for large populations.

"Exactly simulating stochastic chemical reaction networks in sub-constant
time per reaction" (sections 2-5; the algorithm behind
batss), which extends the population-protocol batching of Berenbrink,
Hammer, Kaaser, Meyer, Penschuck and Tran (2020) to chemical reaction
networks; with an exact continuous-time scheme of our own in place of the
paper's adaptive rejection sampling (section 5.1).

The network is transformed as in the paper (Algorithms 1-2):

* **Uniform CRN.** Every reaction is padded to the maximal order ``O`` with a
  catalyst ``K`` of constant count ``kappa``, and to the maximal generativity
  ``G`` (products minus reactants, at least 0) with an inert waste ``W``.
  The rate constant of a reaction given ``m`` copies of ``K`` becomes
  ``k * m! / kappa^(m)`` (falling factorial), so its propensity is unchanged.
  ``kappa`` is chosen between segments (below) to minimise the step rate.
* **Uniformly reactive.** A *step* picks an ordered ``O``-tuple of distinct
  molecules uniformly from all ``n`` (``K`` and ``W`` included) and fires
  reaction ``r`` of the tuple's reactant multiset with probability ``q_r``,
  otherwise a passive reaction that only adds ``G`` copies of ``W``. So every
  step adds ``G`` molecules: ``n`` after ``i`` steps is ``n0 + i G``,
  whatever happened.
* **Batches** (section 4). The number of collision-free steps (no molecule
  picked that an earlier step of the batch produced) has the exact law
  ``P(l >= L) = prod_{i<L} (n - iO)^(O) / (n + iG)^(O)``, sampled by
  inversion (``log P`` from log-gamma differences written with ``log1p`` and
  Stirling's series, accurate to about 1e-12 absolute). The tuples of the
  batch are drawn together: multivariate hypergeometric draws give the
  species at each tuple position and then the pairing of positions
  (recursively, section 4.3); a multinomial per reactant multiset splits its
  tuples among the reactions and the passive one. Then one collision step is
  drawn with at least one molecule touched in the batch (the position of the
  first touched molecule is drawn exactly first).

**Continuous time.** Instead of sampling hypoexponential batch durations by
adaptive rejection sampling, the step process is uniformised: steps occur
as a Poisson process of constant rate ``Lambda`` for a *segment* of at most
``K_seg`` steps, and step ``i`` of the segment is *live* with probability
``a_i = (n0 + iG)^(O) / n_max^(O)`` (``n_max = n0 + K_seg G``), a dead step
doing nothing. A live step is a step of the uniform CRN with per-tuple rate
``c_i = Lambda / (n0 + iG)^(O)``; choosing ``q_r`` = ``a_i k'_r / (O! c*)``
with ``Lambda = c* n_max^(O)`` makes every reaction fire at exactly its
propensity, for any content. Liveness is independent of the tuple, so the
dead steps of a batch are counted by thinning (geometric gaps) and only the
live tuples are drawn. The segment time is one Gamma(K_seg, Lambda) variate;
when it passes a save or event time, the number of steps before that time
is Binomial(K_seg - 1, fraction) (the earlier arrival times are uniform
order statistics), and the next segment starts afresh there (the process is
Markov in the counts). ``W`` is dropped and ``kappa`` re-chosen at each
segment. Nothing is approximated beyond floating-point rounding (the
samplers' accuracy is stated in :mod:`pycrn.engines.samplers`).

**Gillespie fallback.** When the expected number of real reactions per
batch, ``(a0 / Lambda) * E[batch length]``, is below ``opts[0]`` (see
:data:`MIN_REACTIONS_PER_BATCH`), the engine runs Gillespie's direct method
for up to :data:`DIRECT_CHUNK` reactions before looking again, so it is
never much slower than ``direct`` on small or sparse populations.

Scope: mass-action reactions (``-->``) with at most 3 reactants and rate
constants that do not depend on species or ``t``; time events (their times
end segments exactly); not state events, whose trigger could be crossed
inside a batch. ``save="events"`` is not offered (batches do not record
individual reactions).
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np

from ..errors import ModelError
from ..network import ReactionNetwork
from ..ratelaws import symbol_table
from . import samplers, ssa_stepper

NAME = "batched"
#: Default of ``opts[0]``: batch only when a batch is expected to carry at
#: least this many real reactions; otherwise run exact direct steps. Read at
#: each run when ``pycrn.methods.Batched()`` leaves it unset (so tests can set it to 0 to force batching).
MIN_REACTIONS_PER_BATCH = 60.0
#: Reactions per Gillespie-fallback chunk before batching is reconsidered.
DIRECT_CHUNK = 2000
#: Functions defined in ``constants_source`` that codegen must compile.
GENERATED_FUNCTIONS = ("rate_constants",)
MAX_ORDER = 3


def check_network(net: ReactionNetwork) -> None:
    """Raise :class:`ModelError` naming the first reaction or event the batched engine cannot handle."""
    species = set(net.species_names)
    for j, r in enumerate(net.reactions):
        where = f"reaction {j + 1} ({r})"
        if not r.mass_action:
            raise ModelError(
                f"{where}: method 'batched' needs mass-action reactions ('-->'); "
                "a general rate law ('=>') cannot be batched: use method='direct'"
            )
        if r.rate.names & species:
            raise ModelError(
                f"{where}: method 'batched' needs rate constants that do not depend on species "
                f"(the rate {r.rate} uses {', '.join(sorted(r.rate.names & species))}); use method='direct'"
            )
        order = sum(nu for _, nu in r.reactants)
        if order > MAX_ORDER:
            raise ModelError(f"{where}: method 'batched' supports at most {MAX_ORDER} reactants, this has {order}")
    for ev in net.events:
        if ev.trigger.time_threshold() is None:
            raise ModelError(
                f"event {ev}: method 'batched' supports time events only (a state trigger could be "
                "crossed inside a batch); use method='direct'"
            )


def constants_source(net: ReactionNetwork) -> str:
    """Per-model constants of the uniform CRN and the generated ``rate_constants(p, out)``."""
    S = net.stoichiometry
    R = net.reactant_matrix
    ns, m = S.shape
    es = ns + 2
    order = R.sum(axis=0).astype(int) if m else np.zeros(0, dtype=int)
    order_max = max(1, int(order.max()) if m else 1)
    gen = S.sum(axis=0).astype(int) if m else np.zeros(0, dtype=int)
    G = max(0, int(gen.max()) if m else 0)
    mk = order_max - order
    keys: list[tuple[int, ...]] = []
    mset = []
    for j in range(m):
        key = tuple(int(v) for v in R[:, j]) + (int(mk[j]), 0)
        if key not in keys:
            keys.append(key)
        mset.append(keys.index(key))
    nm = max(1, len(keys))
    ptr = [0]
    members: list[int] = []
    for q in range(len(keys)):
        members += [j for j in range(m) if mset[j] == q]
        ptr.append(len(members))
    if not keys:
        ptr = [0, 0]
    cell = []
    for tup in product(range(es), repeat=order_max):
        counts = [0] * es
        for sp in tup:
            counts[sp] += 1
        key = tuple(counts)
        cell.append(keys.index(key) if key in keys else -1)
    # Change of the touched pool when reaction j replaces a passive step:
    # its net change on real species, and -gen on W (it makes fewer wastes).
    dext = np.zeros((max(m, 1), es), dtype=np.int64)
    for j in range(m):
        dext[j, :ns] = S[:, j]
        dext[j, ns + 1] = -gen[j]
    nu = ", ".join("[" + ", ".join(str(int(S[i, j])) for i in range(ns)) + "]" for j in range(m))
    symbols = symbol_table(net.species_names, net.parameter_names, "float(x[{i}])")
    lines = [
        f"O = {order_max}",
        f"G = {G}",
        f"ES = {es}",
        f"KI = {ns}",
        f"WI = {ns + 1}",
        f"MAXMK = {int(mk.max()) if m else 0}",
        f"FACT_O = {float(math.factorial(order_max))!r}",
        f"LOG_O = {math.log(order_max)!r}",
        f"LOG_G = {math.log(G) if G > 0 else 0.0!r}",
        f"NM = {nm}",
        f"RMK = np.array({mk.tolist() or [0]!r}, dtype=np.int64)",
        f"RGEN = np.array({gen.tolist() or [0]!r}, dtype=np.int64)",
        f"NU = np.array([{nu}], dtype=np.int64).reshape({m}, {ns})",
        f"M_PTR = np.array({ptr!r}, dtype=np.int64)",
        f"M_RX = np.array({members or [0]!r}, dtype=np.int64)",
        f"CELL_M = np.array({cell!r}, dtype=np.int64)",
        f"DEXT = np.array({dext.tolist()!r}, dtype=np.int64)",
        f"MIN_CHUNK = {DIRECT_CHUNK}",
        "",
        "def rate_constants(p, out):",
    ]
    for j, r in enumerate(net.reactions):
        lines.append(f"    out[{j}] = {r.rate.to_source(symbols)}")
    lines.append("    return")
    return "\n".join(lines) + "\n"


def _ff(n, k):
    """Falling factorial n (n-1) ... (n-k+1) as a float."""
    r = 1.0
    for i in range(k):
        r *= n - i
    return r


def _stirling(z):
    """lgamma(z) - ((z - 1/2) log z - z + log(2 pi)/2), for z >= 30."""
    z2 = 1.0 / (z * z)
    return (1.0 / 12.0 - z2 * (1.0 / 360.0 - z2 * (1.0 / 1260.0 - z2 / 1680.0))) / z


def _lg_ratio(a, ell):
    """log(a (a-1) ... (a-ell+1)) = lgamma(a+1) - lgamma(a-ell+1), without cancellation."""
    if ell <= 0:
        return 0.0
    if ell < 8:
        s = 0.0
        for i in range(ell):
            s += math.log(a - i)  # noqa: F821
        return s
    b = a - ell + 1.0
    if b < 30.0:
        return math.lgamma(a + 1.0) - math.lgamma(b)  # noqa: F821
    z = a + 1.0
    return ell * math.log(z) - (b - 0.5) * math.log1p(-ell / z) - ell + _stirling(z) - _stirling(b)  # noqa: F821


def _log_run(nb, ell):
    """log P(collision-free run >= ell) for a batch starting with nb molecules."""
    f = 0.0
    for k in range(O):  # noqa: F821
        a = nb - k
        f += ell * LOG_O + _lg_ratio(a / O, ell)  # noqa: F821
        if G > 0:  # noqa: F821
            f -= ell * LOG_G + _lg_ratio(a / G + ell - 1.0, ell)  # noqa: F821
        else:
            f -= ell * math.log(a)  # noqa: F821
    return f


def _log_step(nb, ell):
    """log P(step ell of the batch is collision-free | steps before it were)."""
    f = 0.0
    for k in range(O):  # noqa: F821
        f += math.log(nb - k - ell * O) - math.log(nb - k + ell * G)  # noqa: F821
    return f


def _run_length(s, nb):
    """Number of collision-free steps of a batch of nb molecules (exact inversion).

    The answer is the largest ell with log P(run >= ell) >= log U. A third-order
    expansion of log P in ell/nb gives a guess that is almost always exact;
    the exact log P then confirms it (or walks to the answer), with a
    bisection as the fallback for small populations.
    """
    lmax = nb // O  # noqa: F821
    if lmax <= 1:
        return lmax
    target = math.log(1.0 - rng_uniform(s))  # noqa: F821
    c1 = 0.0
    c2 = 0.0
    c3 = 0.0
    for k in range(O):  # noqa: F821
        ia = 1.0 / (nb - k)
        c1 += (O + G) * ia  # noqa: F821
        c2 += 0.5 * (O * O - G * G) * ia * ia  # noqa: F821
        c3 += (O * O * O + G * G * G) / 3.0 * ia * ia * ia  # noqa: F821
    # Solve -c1 S1(ell) - c2 S2(ell) - c3 S3(ell) = target, S_p(ell) = sum_{i<ell} i^p.
    x = math.sqrt(-2.0 * target / c1) + 0.5  # noqa: F821
    for _ in range(4):
        s1 = 0.5 * x * (x - 1.0)
        s2 = x * (x - 1.0) * (2.0 * x - 1.0) / 6.0
        f = -c1 * s1 - c2 * s2 - c3 * s1 * s1 - target
        d = -c1 * (x - 0.5) - c2 * (x * x - x + 1.0 / 6.0) - c3 * 2.0 * s1 * (x - 0.5)
        if d == 0.0:
            break
        x -= f / d
    ell = int(x)
    if 1 <= ell < lmax:
        f = _log_run(nb, ell)
        for _ in range(4):
            if f >= target:
                step = _log_step(nb, ell)
                if f + step < target:
                    return ell
                ell += 1
                f += step
                if ell >= lmax:
                    break
            else:
                ell -= 1
                if ell < 1:
                    break
                f -= _log_step(nb, ell)
    if _log_run(nb, lmax) >= target:
        return lmax
    lo = 1
    hi = lmax
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _log_run(nb, mid) >= target:
            lo = mid
        else:
            hi = mid
    return lo


def _pick(s, counts, total):
    """Index drawn with probability counts[i] / total; decrements it."""
    r = int(rng_uniform(s) * total)  # noqa: F821
    for i in range(counts.shape[0]):
        r -= counts[i]
        if r < 0:
            counts[i] -= 1
            return i
    for i in range(counts.shape[0] - 1, -1, -1):
        if counts[i] > 0:
            counts[i] -= 1
            return i
    return 0


def _fire_multiset(s, mq, count, qbar, x, fires):
    """Split ``count`` tuples of multiset ``mq`` among its reactions (multinomial); apply them."""
    remp = 1.0
    fired = 0
    for h in range(M_PTR[mq], M_PTR[mq + 1]):  # noqa: F821
        if count <= 0:
            break
        j = M_RX[h]  # noqa: F821
        prob = qbar[j] / remp if remp > 0.0 else 1.0
        k = rng_binomial(s, count, min(1.0, prob))  # noqa: F821
        remp -= qbar[j]
        if k > 0:
            count -= k
            fires[j] += k
            fired += k
            for i in range(x.shape[0]):
                x[i] += k * NU[j, i]  # noqa: F821
    return fired


def _choose_kappa(x, kr):
    """Catalyst count minimising the step rate; returns (kappa, c*)."""
    nreal = 0
    for i in range(x.shape[0]):
        nreal += x[i]
    best_k = 0
    best_c = 0.0
    best_rate = np.inf  # noqa: F821
    for e in range(-3, 4):
        if MAXMK == 0:  # noqa: F821
            if e != 0:
                continue
            kappa = 0
        else:
            kappa = max(MAXMK, 1, int(nreal * 2.0**e))  # noqa: F821
        c = 0.0
        for mq in range(NM):  # noqa: F821
            cm = 0.0
            for h in range(M_PTR[mq], M_PTR[mq + 1]):  # noqa: F821
                j = M_RX[h]  # noqa: F821
                mkj = RMK[j]  # noqa: F821
                cm += kr[j] * math.gamma(mkj + 1.0) / _ff(float(kappa), mkj)  # noqa: F821
            if cm > c:
                c = cm
        c /= FACT_O  # noqa: F821
        rate = c * _ff(float(nreal + kappa), O)  # noqa: F821
        if rate < best_rate:
            best_rate = rate
            best_k = kappa
            best_c = c
    return best_k, best_c


def _batch(s, x, kappa, n0, i0, nmax_ff, L, collide, qbar, pool, pos, rem, row, row2, mcount, fires, u, tch):
    """Execute one batch of L collision-free steps (and the collision if ``collide``).

    Returns the number of real reactions fired.
    """
    nb = n0 + i0 * G  # noqa: F821
    ns = x.shape[0]
    nreal = 0
    for i in range(ns):
        pool[i] = x[i]
        nreal += x[i]
    pool[KI] = kappa  # noqa: F821
    pool[WI] = nb - nreal - kappa  # noqa: F821
    # Dead steps (uniformisation), by thinning with geometric gaps.
    dead = 0
    if G > 0:  # noqa: F821
        bmax = 1.0 - _ff(float(nb), O) / nmax_ff  # noqa: F821
        if bmax > 0.0:
            p_ = i0 + rng_geometric(s, bmax)  # noqa: F821
            while p_ < i0 + L:
                d = 1.0 - _ff(float(n0 + p_ * G), O) / nmax_ff  # noqa: F821
                if rng_uniform(s) * bmax < d:  # noqa: F821
                    dead += 1
                p_ += 1 + rng_geometric(s, bmax)  # noqa: F821
    live = L - dead
    for mq in range(NM):  # noqa: F821
        mcount[mq] = 0
    for i in range(ES):  # noqa: F821
        rem[i] = pool[i]
    # Species at each position of the live tuples, then their pairing.
    for k in range(O):  # noqa: F821
        rng_multivariate_hypergeometric(s, live, rem, pos[k])  # noqa: F821
        for i in range(ES):  # noqa: F821
            rem[i] -= pos[k, i]
    if O == 1:  # noqa: F821
        for a in range(ES):  # noqa: F821
            if pos[0, a] > 0 and CELL_M[a] >= 0:  # noqa: F821
                mcount[CELL_M[a]] += pos[0, a]  # noqa: F821
    elif O == 2:  # noqa: F821
        last = 0
        for i in range(ES):  # noqa: F821
            u[i] = pos[1, i]
            if pos[0, i] > 0:
                last = i
        for a in range(ES):  # noqa: F821
            if pos[0, a] == 0:
                continue
            if a == last:
                # The last first-position species pairs with whatever is left.
                for b in range(ES):  # noqa: F821
                    row[b] = u[b]
            else:
                rng_multivariate_hypergeometric(s, pos[0, a], u, row)  # noqa: F821
            for b in range(ES):  # noqa: F821
                if row[b] > 0:
                    u[b] -= row[b]
                    mq = CELL_M[a * ES + b]  # noqa: F821
                    if mq >= 0:
                        mcount[mq] += row[b]
    else:
        for i in range(ES):  # noqa: F821
            u[i] = pos[1, i]
            tch[i] = pos[2, i]
        for a in range(ES):  # noqa: F821
            if pos[0, a] == 0:
                continue
            rng_multivariate_hypergeometric(s, pos[0, a], u, row)  # noqa: F821
            for b in range(ES):  # noqa: F821
                if row[b] == 0:
                    continue
                u[b] -= row[b]
                rng_multivariate_hypergeometric(s, row[b], tch, row2)  # noqa: F821
                for c in range(ES):  # noqa: F821
                    if row2[c] > 0:
                        tch[c] -= row2[c]
                        mq = CELL_M[(a * ES + b) * ES + c]  # noqa: F821
                        if mq >= 0:
                            mcount[mq] += row2[c]
    for j in range(fires.shape[0]):
        fires[j] = 0
    fired = 0
    for mq in range(NM):  # noqa: F821
        if mcount[mq] > 0:
            fired += _fire_multiset(s, mq, mcount[mq], qbar, x, fires)
    if not collide:
        return fired
    # Untouched molecules: the pool minus every tuple of the batch (live and dead).
    if dead > 0:
        rng_multivariate_hypergeometric(s, O * dead, rem, row)  # noqa: F821
        for i in range(ES):  # noqa: F821
            rem[i] -= row[i]
    else:
        for i in range(ES):  # noqa: F821
            row[i] = 0
    # Touched molecules: the tuples' molecules as passive steps leave them,
    # corrected by the reactions that fired, plus the wastes.
    for i in range(ES):  # noqa: F821
        tch[i] = pool[i] - rem[i]
    tch[WI] += L * G  # noqa: F821
    for j in range(fires.shape[0]):
        if fires[j] > 0:
            for i in range(ES):  # noqa: F821
                tch[i] += fires[j] * DEXT[j, i]  # noqa: F821
    n_now = nb + L * G  # noqa: F821
    n_untouched = nb - L * O  # noqa: F821
    n_touched = n_now - n_untouched
    # Position of the first touched molecule of the collision tuple.
    total_w = 0.0
    lead = 1.0
    wts = 0.0
    for k in range(O):  # noqa: F821
        total_w += lead * n_touched / (n_now - k)
        lead *= (n_untouched - k) / (n_now - k)
    r = rng_uniform(s) * total_w  # noqa: F821
    lead = 1.0
    first = O - 1  # noqa: F821
    for k in range(O):  # noqa: F821
        wts += lead * n_touched / (n_now - k)
        if r < wts:
            first = k
            break
        lead *= (n_untouched - k) / (n_now - k)
    cidx = 0
    left_u = n_untouched
    left_t = n_touched
    for k in range(O):  # noqa: F821
        if k < first:
            sp = _pick(s, rem, left_u)
            left_u -= 1
        elif k == first:
            sp = _pick(s, tch, left_t)
            left_t -= 1
            for i in range(ES):  # noqa: F821
                rem[i] += tch[i]
            left_u += left_t
        else:
            sp = _pick(s, rem, left_u)
            left_u -= 1
        cidx = cidx * ES + sp  # noqa: F821
    mq = CELL_M[cidx]  # noqa: F821
    if mq >= 0:
        alive = _ff(float(n_now), O) / nmax_ff  # noqa: F821
        if rng_uniform(s) < alive:  # noqa: F821
            fired += _fire_multiset(s, mq, np.int64(1), qbar, x, fires)
    return fired


def _direct_chunk(net, x, pl, t, t_stop, a, s, limit):
    """Up to ``limit`` exact direct-method steps from t towards t_stop.

    Returns ``(t, fired, code)``; t is t_stop if the next reaction would pass it.
    """
    total = rates(net, x, pl, t, a)  # noqa: F821
    if not (total <= MAX_FLOAT):  # noqa: F821
        return t, 0, STATUS_INVALID_PROPENSITY  # noqa: F821
    fired = 0
    for _ in range(limit):
        if total <= 0.0:
            return t_stop, fired, 0
        t_next = t + rng_exponential(s) / total  # noqa: F821
        if t_next > t_stop:
            return t_stop, fired, 0
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
        if not (total <= MAX_FLOAT):  # noqa: F821
            return t, fired, 1 + j
        fired += 1
        if (fired & 1023) == 0:
            total = 0.0
            for q in range(a.shape[0]):
                total += a[q]
    return t, fired, 0


def advance(net, x, pl, t, t_stop, a, s, opt, kr, qbar, pool, pos, rem, row, row2, mcount, fires, u, tch):
    """Move from t towards t_stop by one segment of batches or one chunk of direct steps.

    Returns ``(t, fired, batches, code)``.
    """
    a0 = rates(net, x, pl, t, a)  # noqa: F821
    if not (a0 <= MAX_FLOAT):  # noqa: F821
        return t, 0, 0, STATUS_INVALID_PROPENSITY  # noqa: F821
    if a0 <= 0.0:
        return t_stop, 0, 0, 0
    rate_constants(pl, kr)  # noqa: F821
    for j in range(kr.shape[0]):
        if not (kr[j] >= 0.0 and kr[j] <= 1.0e300):
            return t, 0, 0, 1 + j
    # Sums of counts (and the catalyst, up to 8 times them) are int64 below: bound them in floating point first.
    big = _largest(x)
    total_f = 0.0
    for i in range(x.shape[0]):
        total_f += float(x[i])
    if total_f > BATCHED_TOTAL_LIMIT:  # noqa: F821
        return t, 0, 0, STATUS_OVERFLOW - big  # noqa: F821
    kappa, cstar = _choose_kappa(x, kr)
    nreal = 0
    for i in range(x.shape[0]):
        nreal += x[i]
    n0 = nreal + kappa
    lam0 = cstar * _ff(float(n0), O)  # noqa: F821
    mean_len = math.sqrt(math.pi * n0 / (2.0 * O * (O + G)))  # noqa: F821
    if n0 < 4 * O or a0 / lam0 * mean_len < opt:  # noqa: F821
        t, fired, code = _direct_chunk(net, x, pl, t, t_stop, a, s, MIN_CHUNK)  # noqa: F821
        return t, fired, 0, code
    for j in range(kr.shape[0]):
        mkj = RMK[j]  # noqa: F821
        qbar[j] = kr[j] * math.gamma(mkj + 1.0) / _ff(float(kappa), mkj) / (FACT_O * cstar)  # noqa: F821
    if G > 0:  # noqa: F821
        kseg = max(4, int(8.0 * mean_len))
    else:
        kseg = max(4, n0 // (4 * O))  # noqa: F821
    if float(n0) + float(kseg) * G > 4.0 * BATCHED_TOTAL_LIMIT:  # noqa: F821
        # The segment could carry the population past what the engine's sums hold.
        return t, 0, 0, STATUS_OVERFLOW - big  # noqa: F821
    nmax_ff = _ff(float(n0 + kseg * G), O)  # noqa: F821
    lam = cstar * nmax_ff
    tk = rng_gamma(s, float(kseg)) / lam  # noqa: F821
    if t + tk <= t_stop:
        remaining = kseg
        t_end = t + tk
    else:
        remaining = rng_binomial(s, kseg - 1, (t_stop - t) / tk)  # noqa: F821
        t_end = t_stop
    fired = 0
    batches = 0
    # One call site and no literal arguments: numba compiles a callee once per argument type, and a
    # literal 0 or True is a type of its own (four compilations of _batch, 16 s, before this).
    i0 = np.int64(0)
    while remaining > 0:
        nb = n0 + i0 * G  # noqa: F821
        ell = _run_length(s, nb)
        collide = ell < remaining
        length = ell if collide else remaining
        fired += _batch(s, x, kappa, n0, i0, nmax_ff, length, collide, qbar, pool, pos, rem, row, row2,
                        mcount, fires, u, tch)
        steps = length + 1 if collide else length
        remaining -= steps
        i0 += steps
        batches += 1
    return t_end, fired, batches, 0


def _largest(x):
    """The index of the largest count (the one an overflow is reported for)."""
    big = 0
    for i in range(x.shape[0]):
        if x[i] > x[big]:
            big = i
    return big


def _work(net):
    """Per-trajectory work arrays of the batched engine."""
    return (
        np.empty(num_reactions(net), dtype=np.float64),  # a  # noqa: F821
        np.empty(max(1, num_reactions(net)), dtype=np.float64),  # kr  # noqa: F821
        np.empty(max(1, num_reactions(net)), dtype=np.float64),  # qbar  # noqa: F821
        np.empty(ES, dtype=np.int64),  # pool  # noqa: F821
        np.empty((O, ES), dtype=np.int64),  # pos  # noqa: F821
        np.empty(ES, dtype=np.int64),  # rem  # noqa: F821
        np.empty(ES, dtype=np.int64),  # row  # noqa: F821
        np.empty(ES, dtype=np.int64),  # row2  # noqa: F821
        np.empty(NM, dtype=np.int64),  # mcount  # noqa: F821
        np.empty(max(1, num_reactions(net)), dtype=np.int64),  # fires  # noqa: F821
        np.empty(ES, dtype=np.int64),  # u  # noqa: F821
        np.empty(ES, dtype=np.int64),  # tch  # noqa: F821
    )


def simulate_grid(net, x0, p, t0, save_times, seeds, out, status, steps, final_t, opts, stop):
    """Batched ensemble on the save grid; same contract as the SSA stepper's (``stop`` read every segment).

    ``steps[i, 0]`` receives the reactions fired, ``steps[i, 1]`` the batches.
    """
    n = x0.shape[0]
    nspecies = x0.shape[1]
    nsave = save_times.shape[0]
    a, kr, qbar, pool, pos, rem, row, row2, mcount, fires, u, tch = _work(net)
    budget = opts[1]
    x = np.empty(nspecies, dtype=np.int64)
    s = np.empty(4, dtype=np.uint64)
    pl = np.empty(p.shape[0], dtype=np.float64)
    ev_time, ev_done, prev, trig = _event_work()  # noqa: F821
    for i in range(n):
        if _stopped(stop, status, i):  # noqa: F821
            return
        t = t0
        code, next_ev = _start_trajectory(x0[i], seeds[i], p, x, s, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
        nfired = 0
        nbatches = 0
        work = 0
        k = np.int64(0)  # not a literal: numba would compile the save helper for the literal too
        while k < nsave and code == 0:
            if stop[0] != 0:
                code = STATUS_INTERRUPTED  # noqa: F821
                break
            if NUM_EVENTS > 0 and next_ev <= t:  # noqa: F821
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
                next_ev = _next_event_time(ev_time, ev_done)  # noqa: F821
                continue
            k = _save_through(x, out, i, k, save_times, t)
            if k == nsave:
                break
            t_stop = min(save_times[k], next_ev)
            if work >= budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            t, fired, nb, code = advance(net, x, pl, t, t_stop, a, s, opts[0], kr, qbar, pool, pos, rem, row, row2,
                                         mcount, fires, u, tch)
            nfired += fired
            nbatches += nb
            # The budget counts batches, and reactions where exact steps ran instead.
            work += nb if nb > 0 else fired
        if _end_trajectory(i, code, x, t, nfired, nbatches, out, status, steps, final_t):  # noqa: F821
            return


SOURCES = (
    *samplers.SOURCES,
    *ssa_stepper.EVENT_SOURCES,
    _ff,
    _stirling,
    _lg_ratio,
    _log_run,
    _log_step,
    _run_length,
    _pick,
    _fire_multiset,
    _choose_kappa,
    _batch,
    _direct_chunk,
    advance,
    _largest,
    _work,
    simulate_grid,
)
