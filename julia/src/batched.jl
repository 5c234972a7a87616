# The exact batched algorithm for large populations: a port of pycrn/engines/batched.py.
#
# "Exactly simulating stochastic chemical reaction networks in sub-constant time per
# reaction" (sections 2-5), with pycrn's uniformised continuous time in place of the
# paper's adaptive rejection sampling. The same algorithm, function by function, as
# the Python engine (read its module docstring for the derivation):
#
# * uniform CRN: every reaction padded to the maximal order O with a catalyst K of
#   count kappa (rate constant times m!/kappa^(m)) and to the maximal generativity G
#   with an inert waste W; kappa re-chosen each segment to minimise the step rate;
# * uniformly reactive: a step draws an ordered O-tuple of distinct molecules and
#   fires reaction r of its multiset with probability qbar_r, else a passive step;
# * batches of collision-free steps (run length by exact inversion of
#   P(l >= L) = prod_{i<L} (n - iO)^(O) / (n + iG)^(O)), their tuples drawn together
#   by multivariate hypergeometric draws, a multinomial per multiset, then one
#   collision step;
# * continuous time by uniformisation: steps at constant rate Lambda in segments of
#   K_seg steps, step i live with probability (n0 + iG)^(O) / n_max^(O), the dead
#   ones thinned with geometric gaps; a save time inside a segment gets
#   Binomial(K_seg - 1, fraction) steps before it;
# * Gillespie's direct method when a batch would carry fewer than
#   MIN_REACTIONS_PER_BATCH real reactions.
#
# Species codes inside tuples are 0-based (as in the Python engine) so that the
# tuple index ((a ES) + b) ES + c is the same; arrays are indexed 1-based.

using Distributions: Binomial, Gamma, Geometric, Hypergeometric
using SpecialFunctions: loggamma

const MIN_REACTIONS_PER_BATCH = 60.0
const DIRECT_CHUNK = 2000

"""
    BatchedNetwork(reactants, change, rate_constants)

The uniform CRN of a mass-action network (reactant and net-change matrices,
species x reactions; at most 3 reactants per reaction) and its work arrays.
"""
struct BatchedNetwork
    ns::Int
    m::Int
    O::Int
    G::Int
    ES::Int
    maxmk::Int
    fact_O::Float64
    log_O::Float64
    log_G::Float64
    nm::Int
    reactants::Matrix{Int64}   # species x reactions
    rmk::Vector{Int}           # copies of K each reaction is padded with
    nu::Matrix{Int64}          # reactions x species, net change
    m_ptr::Vector{Int}         # members of multiset q: m_rx[m_ptr[q]:m_ptr[q+1]-1]
    m_rx::Vector{Int}
    cell_m::Vector{Int}        # tuple index + 1 -> multiset (0: none)
    dext::Matrix{Int64}        # reactions x ES: change of the touched pool replacing a passive step
    kr::Vector{Float64}
end

function BatchedNetwork(R::Matrix{Int64}, S::Matrix{Int64}, kr::Vector{Float64})
    ns, m = size(S)
    es = ns + 2
    order = m > 0 ? vec(sum(R; dims = 1)) : Int[]
    m > 0 && maximum(order) > 3 && error("the batched algorithm takes at most 3 reactants per reaction")
    any(k -> !(k >= 0 && isfinite(k)), kr) && error("rate constants must be finite and non-negative")
    O = max(1, m > 0 ? maximum(order) : 1)
    gen = m > 0 ? vec(sum(S; dims = 1)) : Int[]
    G = max(0, m > 0 ? maximum(gen) : 0)
    mk = O .- order
    keys = Vector{Vector{Int}}()
    mset = zeros(Int, m)
    for j in 1:m
        key = vcat(R[:, j], [mk[j], 0])
        q = findfirst(==(key), keys)
        if q === nothing
            push!(keys, key)
            q = length(keys)
        end
        mset[j] = q
    end
    ptr = [1]
    members = Int[]
    for q in eachindex(keys)
        append!(members, [j for j in 1:m if mset[j] == q])
        push!(ptr, length(members) + 1)
    end
    isempty(keys) && (ptr = [1, 1])
    cell = zeros(Int, es^O)
    for idx in 0:(es^O - 1)
        counts = zeros(Int, es)
        r = idx
        for _ in 1:O
            counts[r % es + 1] += 1
            r ÷= es
        end
        q = findfirst(==(counts), keys)
        cell[idx + 1] = q === nothing ? 0 : q
    end
    dext = zeros(Int64, max(m, 1), es)
    for j in 1:m
        dext[j, 1:ns] .= S[:, j]
        dext[j, ns + 2] = -gen[j]
    end
    return BatchedNetwork(ns, m, O, G, es, m > 0 ? maximum(mk) : 0, Float64(factorial(O)), log(O),
        G > 0 ? log(G) : 0.0, max(1, length(keys)), R, collect(mk), Matrix{Int64}(transpose(S)), ptr,
        members, cell, dext, kr)
end

# -- samplers (Distributions.jl) -----------------------------------------------------------------

binomial_draw(rng, n, p) = n <= 0 || p <= 0.0 ? 0 : (p >= 1.0 ? n : rand(rng, Binomial(n, p)))
geometric_draw(rng, p) = p >= 1.0 ? 0 : rand(rng, Geometric(p))
hypergeometric_draw(rng, good, bad, sample) =
    sample <= 0 || good <= 0 ? 0 : (bad <= 0 ? sample : rand(rng, Hypergeometric(good, bad, sample)))

"""Fill `out` with the counts of each kind in `sample` draws without replacement from `counts`."""
function mvhypergeometric!(rng, sample, counts, out)
    remaining = sum(counts)
    last = length(counts)
    for q in 1:(last - 1)
        c = counts[q]
        if sample == 0 || c == 0
            out[q] = 0
        else
            k = hypergeometric_draw(rng, c, remaining - c, sample)
            out[q] = k
            sample -= k
        end
        remaining -= c
    end
    out[last] = sample
    return out
end

# -- the batch length -----------------------------------------------------------------------------

"""Falling factorial n (n-1) ... (n-k+1) as a Float64."""
function ff(n, k)
    r = 1.0
    for i in 0:(k - 1)
        r *= n - i
    end
    return r
end

"""loggamma(z) - ((z - 1/2) log z - z + log(2 pi)/2), for z >= 30."""
function stirling(z)
    z2 = 1.0 / (z * z)
    return (1.0 / 12.0 - z2 * (1.0 / 360.0 - z2 * (1.0 / 1260.0 - z2 / 1680.0))) / z
end

"""log(a (a-1) ... (a-ell+1)) without cancellation."""
function lg_ratio(a, ell)
    ell <= 0 && return 0.0
    if ell < 8
        s = 0.0
        for i in 0:(ell - 1)
            s += log(a - i)
        end
        return s
    end
    b = a - ell + 1.0
    b < 30.0 && return loggamma(a + 1.0) - loggamma(b)
    z = a + 1.0
    return ell * log(z) - (b - 0.5) * log1p(-ell / z) - ell + stirling(z) - stirling(b)
end

"""log P(collision-free run >= ell) for a batch starting with nb molecules."""
function log_run(net::BatchedNetwork, nb, ell)
    O, G = net.O, net.G
    f = 0.0
    for k in 0:(O - 1)
        a = nb - k
        f += ell * net.log_O + lg_ratio(a / O, ell)
        if G > 0
            f -= ell * net.log_G + lg_ratio(a / G + ell - 1.0, ell)
        else
            f -= ell * log(a)
        end
    end
    return f
end

"""log P(step ell of the batch is collision-free | the steps before it were)."""
function log_step(net::BatchedNetwork, nb, ell)
    f = 0.0
    for k in 0:(net.O - 1)
        f += log(nb - k - ell * net.O) - log(nb - k + ell * net.G)
    end
    return f
end

"""Number of collision-free steps of a batch of nb molecules (exact inversion, as in the Python engine)."""
function run_length(net::BatchedNetwork, rng, nb)
    O, G = net.O, net.G
    lmax = nb ÷ O
    lmax <= 1 && return lmax
    target = log(1.0 - rand(rng))
    c1 = c2 = c3 = 0.0
    for k in 0:(O - 1)
        ia = 1.0 / (nb - k)
        c1 += (O + G) * ia
        c2 += 0.5 * (O * O - G * G) * ia * ia
        c3 += (O^3 + G^3) / 3.0 * ia * ia * ia
    end
    x = sqrt(-2.0 * target / c1) + 0.5
    for _ in 1:4
        s1 = 0.5 * x * (x - 1.0)
        s2 = x * (x - 1.0) * (2.0 * x - 1.0) / 6.0
        f = -c1 * s1 - c2 * s2 - c3 * s1 * s1 - target
        d = -c1 * (x - 0.5) - c2 * (x * x - x + 1.0 / 6.0) - c3 * 2.0 * s1 * (x - 0.5)
        d == 0.0 && break
        x -= f / d
    end
    ell = isfinite(x) ? floor(Int, x) : 0
    if 1 <= ell < lmax
        f = log_run(net, nb, ell)
        for _ in 1:4
            if f >= target
                step = log_step(net, nb, ell)
                f + step < target && return ell
                ell += 1
                f += step
                ell >= lmax && break
            else
                ell -= 1
                ell < 1 && break
                f -= log_step(net, nb, ell)
            end
        end
    end
    log_run(net, nb, lmax) >= target && return lmax
    lo, hi = 1, lmax
    while hi - lo > 1
        mid = (lo + hi) ÷ 2
        if log_run(net, nb, mid) >= target
            lo = mid
        else
            hi = mid
        end
    end
    return lo
end

# -- one batch --------------------------------------------------------------------------------------

"""Index drawn with probability counts[i] / total (1-based); decrements it."""
function pick!(rng, counts, total)
    r = floor(Int64, rand(rng) * total)
    for i in eachindex(counts)
        r -= counts[i]
        if r < 0
            counts[i] -= 1
            return i
        end
    end
    for i in reverse(eachindex(counts))
        if counts[i] > 0
            counts[i] -= 1
            return i
        end
    end
    return 1
end

"""Split `count` tuples of multiset `mq` among its reactions (multinomial) and apply them."""
function fire_multiset!(net::BatchedNetwork, rng, mq, count, qbar, x, fires)
    remp = 1.0
    fired = 0
    for h in net.m_ptr[mq]:(net.m_ptr[mq + 1] - 1)
        count <= 0 && break
        j = net.m_rx[h]
        prob = remp > 0.0 ? qbar[j] / remp : 1.0
        k = binomial_draw(rng, count, min(1.0, prob))
        remp -= qbar[j]
        if k > 0
            count -= k
            fires[j] += k
            fired += k
            for i in 1:net.ns
                x[i] += k * net.nu[j, i]
            end
        end
    end
    return fired
end

"""Catalyst count minimising the step rate; returns (kappa, c*)."""
function choose_kappa(net::BatchedNetwork, x)
    nreal = sum(x)
    best_k, best_c, best_rate = 0, 0.0, Inf
    for e in -3:3
        if net.maxmk == 0
            e != 0 && continue
            kappa = 0
        else
            kappa = max(net.maxmk, 1, floor(Int64, nreal * 2.0^e))
        end
        c = 0.0
        for mq in 1:net.nm
            cm = 0.0
            for h in net.m_ptr[mq]:(net.m_ptr[mq + 1] - 1)
                j = net.m_rx[h]
                cm += net.kr[j] * factorial(net.rmk[j]) / ff(Float64(kappa), net.rmk[j])
            end
            c = max(c, cm)
        end
        c /= net.fact_O
        rate = c * ff(Float64(nreal + kappa), net.O)
        if rate < best_rate
            best_rate, best_k, best_c = rate, kappa, c
        end
    end
    return best_k, best_c
end

"""Work arrays of one trajectory."""
struct BatchedWork
    a::Vector{Float64}
    qbar::Vector{Float64}
    pool::Vector{Int64}
    pos::Matrix{Int64}
    rem::Vector{Int64}
    row::Vector{Int64}
    row2::Vector{Int64}
    mcount::Vector{Int64}
    fires::Vector{Int64}
    u::Vector{Int64}
    tch::Vector{Int64}
end

function BatchedWork(net::BatchedNetwork)
    es = net.ES
    return BatchedWork(zeros(net.m), zeros(max(1, net.m)), zeros(Int64, es), zeros(Int64, net.O, es),
        zeros(Int64, es), zeros(Int64, es), zeros(Int64, es), zeros(Int64, net.nm), zeros(Int64, max(1, net.m)),
        zeros(Int64, es), zeros(Int64, es))
end

"""Execute one batch of L collision-free steps (and the collision if `collide`); the reactions fired."""
function batch!(net::BatchedNetwork, w::BatchedWork, rng, x, kappa, n0, i0, nmax_ff, L, collide)
    O, G, ES = net.O, net.G, net.ES
    KI, WI = net.ns + 1, net.ns + 2
    pool, pos, rem, row, row2, u, tch = w.pool, w.pos, w.rem, w.row, w.row2, w.u, w.tch
    nb = n0 + i0 * G
    nreal = 0
    for i in 1:net.ns
        pool[i] = x[i]
        nreal += x[i]
    end
    pool[KI] = kappa
    pool[WI] = nb - nreal - kappa
    # Dead steps (uniformisation), by thinning with geometric gaps.
    dead = 0
    if G > 0
        bmax = 1.0 - ff(Float64(nb), O) / nmax_ff
        if bmax > 0.0
            p_ = i0 + geometric_draw(rng, bmax)
            while p_ < i0 + L
                d = 1.0 - ff(Float64(n0 + p_ * G), O) / nmax_ff
                rand(rng) * bmax < d && (dead += 1)
                p_ += 1 + geometric_draw(rng, bmax)
            end
        end
    end
    live = L - dead
    fill!(w.mcount, 0)
    rem .= pool
    # Species at each position of the live tuples, then their pairing.
    for k in 1:O
        mvhypergeometric!(rng, live, rem, view(pos, k, :))
        for i in 1:ES
            rem[i] -= pos[k, i]
        end
    end
    if O == 1
        for a in 1:ES
            if pos[1, a] > 0 && net.cell_m[a] > 0
                w.mcount[net.cell_m[a]] += pos[1, a]
            end
        end
    elseif O == 2
        last = 1
        for i in 1:ES
            u[i] = pos[2, i]
            pos[1, i] > 0 && (last = i)
        end
        for a in 1:ES
            pos[1, a] == 0 && continue
            if a == last
                # The last first-position species pairs with whatever is left.
                row .= u
            else
                mvhypergeometric!(rng, pos[1, a], u, row)
            end
            for b in 1:ES
                if row[b] > 0
                    u[b] -= row[b]
                    mq = net.cell_m[(a - 1) * ES + (b - 1) + 1]
                    mq > 0 && (w.mcount[mq] += row[b])
                end
            end
        end
    else
        for i in 1:ES
            u[i] = pos[2, i]
            tch[i] = pos[3, i]
        end
        for a in 1:ES
            pos[1, a] == 0 && continue
            mvhypergeometric!(rng, pos[1, a], u, row)
            for b in 1:ES
                row[b] == 0 && continue
                u[b] -= row[b]
                mvhypergeometric!(rng, row[b], tch, row2)
                for c in 1:ES
                    if row2[c] > 0
                        tch[c] -= row2[c]
                        mq = net.cell_m[((a - 1) * ES + (b - 1)) * ES + (c - 1) + 1]
                        mq > 0 && (w.mcount[mq] += row2[c])
                    end
                end
            end
        end
    end
    fill!(w.fires, 0)
    fired = 0
    for mq in 1:net.nm
        w.mcount[mq] > 0 && (fired += fire_multiset!(net, rng, mq, w.mcount[mq], w.qbar, x, w.fires))
    end
    collide || return fired
    # Untouched molecules: the pool minus every tuple of the batch (live and dead).
    if dead > 0
        mvhypergeometric!(rng, O * dead, rem, row)
        rem .-= row
    else
        fill!(row, 0)
    end
    # Touched molecules: the tuples' molecules as passive steps leave them,
    # corrected by the reactions that fired, plus the wastes.
    for i in 1:ES
        tch[i] = pool[i] - rem[i]
    end
    tch[WI] += L * G
    for j in 1:net.m
        if w.fires[j] > 0
            for i in 1:ES
                tch[i] += w.fires[j] * net.dext[j, i]
            end
        end
    end
    n_now = nb + L * G
    n_untouched = nb - L * O
    n_touched = n_now - n_untouched
    # Position of the first touched molecule of the collision tuple.
    total_w = 0.0
    lead = 1.0
    for k in 0:(O - 1)
        total_w += lead * n_touched / (n_now - k)
        lead *= (n_untouched - k) / (n_now - k)
    end
    r = rand(rng) * total_w
    lead = 1.0
    wts = 0.0
    first = O - 1
    for k in 0:(O - 1)
        wts += lead * n_touched / (n_now - k)
        if r < wts
            first = k
            break
        end
        lead *= (n_untouched - k) / (n_now - k)
    end
    cidx = 0
    left_u = n_untouched
    left_t = n_touched
    for k in 0:(O - 1)
        if k == first
            sp = pick!(rng, tch, left_t)
            left_t -= 1
            rem .+= tch
            left_u += left_t
        else
            sp = pick!(rng, rem, left_u)
            left_u -= 1
        end
        cidx = cidx * ES + (sp - 1)
    end
    mq = net.cell_m[cidx + 1]
    if mq > 0
        alive = ff(Float64(n_now), O) / nmax_ff
        rand(rng) < alive && (fired += fire_multiset!(net, rng, mq, 1, w.qbar, x, w.fires))
    end
    return fired
end

# -- Gillespie fallback and the segment -----------------------------------------------------------------

"""Mass-action propensities into `a`; their total."""
function propensities!(net::BatchedNetwork, x, a)
    total = 0.0
    for j in 1:net.m
        v = net.kr[j]
        for i in 1:net.ns
            nu = net.reactants[i, j]
            nu > 0 && (v *= ff(Float64(x[i]), nu) / factorial(nu))
        end
        a[j] = v
        total += v
    end
    return total
end

"""Up to `limit` exact direct-method steps from t towards t_stop; returns (t, fired)."""
function direct_chunk!(net::BatchedNetwork, w::BatchedWork, rng, x, t, t_stop, limit)
    fired = 0
    for _ in 1:limit
        total = propensities!(net, x, w.a)
        total <= 0.0 && return t_stop, fired
        t_next = t + randexp(rng) / total
        t_next > t_stop && return t_stop, fired
        r = rand(rng) * total
        acc = 0.0
        j = net.m
        for q in 1:net.m
            acc += w.a[q]
            if r < acc
                j = q
                break
            end
        end
        t = t_next
        for i in 1:net.ns
            x[i] += net.nu[j, i]
        end
        fired += 1
    end
    return t, fired
end

"""Move from t towards t_stop by one segment of batches or one chunk of direct steps; (t, fired, batches)."""
function advance!(net::BatchedNetwork, w::BatchedWork, rng, x, t, t_stop, min_reactions)
    O, G = net.O, net.G
    a0 = propensities!(net, x, w.a)
    a0 <= 0.0 && return t_stop, 0, 0
    kappa, cstar = choose_kappa(net, x)
    n0 = sum(x) + kappa
    lam0 = cstar * ff(Float64(n0), O)
    mean_len = sqrt(pi * n0 / (2.0 * O * (O + G)))
    if n0 < 4 * O || a0 / lam0 * mean_len < min_reactions
        t, fired = direct_chunk!(net, w, rng, x, t, t_stop, DIRECT_CHUNK)
        return t, fired, 0
    end
    for j in 1:net.m
        mkj = net.rmk[j]
        w.qbar[j] = net.kr[j] * factorial(mkj) / ff(Float64(kappa), mkj) / (net.fact_O * cstar)
    end
    kseg = G > 0 ? max(4, floor(Int64, 8.0 * mean_len)) : max(4, n0 ÷ (4 * O))
    nmax_ff = ff(Float64(n0 + kseg * G), O)
    lam = cstar * nmax_ff
    tk = rand(rng, Gamma(Float64(kseg), 1.0)) / lam
    if t + tk <= t_stop
        remaining = kseg
        t_end = t + tk
    else
        remaining = binomial_draw(rng, kseg - 1, (t_stop - t) / tk)
        t_end = t_stop
    end
    fired = 0
    batches = 0
    i0 = 0
    while remaining > 0
        ell = run_length(net, rng, n0 + i0 * G)
        if ell >= remaining
            steps = remaining
            fired += batch!(net, w, rng, x, kappa, n0, i0, nmax_ff, remaining, false)
        else
            steps = ell + 1
            fired += batch!(net, w, rng, x, kappa, n0, i0, nmax_ff, ell, true)
        end
        remaining -= steps
        i0 += steps
        batches += 1
    end
    return t_end, fired, batches
end

"""
    simulate_batched!(out, net, x0, t0, times, rng; min_reactions = MIN_REACTIONS_PER_BATCH)

One trajectory from `x0` at `t0`, its state at each of `times` written to
`out[:, k]`; returns the number of reactions fired.
"""
function simulate_batched!(out, net::BatchedNetwork, x0, t0, times, rng; min_reactions = MIN_REACTIONS_PER_BATCH)
    w = BatchedWork(net)
    x = copy(x0)
    t = t0
    fired = 0
    k = 1
    nsave = length(times)
    while k <= nsave
        while k <= nsave && times[k] <= t
            out[:, k] .= x
            k += 1
        end
        k > nsave && break
        t, f, _ = advance!(net, w, rng, x, t, times[k], min_reactions)
        fired += f
    end
    return fired
end
