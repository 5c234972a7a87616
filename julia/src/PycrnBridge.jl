"""
    PycrnBridge

The Julia side of pycrn's Julia bridge (`pycrn.julia` in Python): run a pycrn
network in Catalyst.jl / JumpProcesses.jl and return the states on pycrn's save
grid, and a port of pycrn's exact batched algorithm (`batched.jl`).

Every entry point takes plain arrays and strings (what juliacall passes from
Python) and returns `(states, steps)`: `states` an `Int64` array of shape
(species, trajectories, save times) in pycrn's species order, `steps` the work
per trajectory (`-1` where JumpProcesses does not report it). Trajectory `i`
is solved with `seeds[i]`, so an ensemble depends only on its seeds.
"""
module PycrnBridge

using Catalyst
using DiffEqCallbacks
using JumpProcesses
using LinearAlgebra: mul!
using Random

export ssa_ensemble, leap_ensemble, batched_ensemble, load_model

include("batched.jl")

const AGGREGATORS = Dict{String, Any}(
    "Direct" => Direct,
    "SortingDirect" => SortingDirect,
    "NRM" => NRM,
    "DirectCR" => DirectCR,
    "RSSA" => RSSA,
    "RSSACR" => RSSACR,
)

"""
    load_model(text) -> (rn, callbacks)

Evaluate the Julia text written by `pycrn.julia.to_catalyst` in a fresh module
and return its `ReactionSystem` and its `CallbackSet` (`nothing` without events).
"""
function load_model(text::AbstractString)
    m = Module(:PycrnModel)
    Core.eval(m, :(using Catalyst, JumpProcesses, DiffEqCallbacks))
    Base.include_string(m, String(text), "pycrn_model.jl")
    rn = Core.eval(m, :rn)
    callbacks = isdefined(m, :rn_callbacks) ? Core.eval(m, :rn_callbacks) : nothing
    return rn, callbacks
end

"""
    at_times!(out, i, ts, us, times; slack = 0.0)

Write into `out[:, i, k]` the saved state in force at each `times[k]`: the last
saved state at or before it (a jump process is piecewise constant, and pycrn's
saved state at `s` is the state just after all jumps at times `<= s`).
"""
function at_times!(out, i, ts, us, times; slack = 0.0)
    for k in eachindex(times)
        j = searchsortedlast(ts, times[k] + slack)
        j == 0 && error("no state saved at or before t = $(times[k])")
        for q in axes(out, 1)
            out[q, i, k] = round(Int64, us[j][q])
        end
    end
    return nothing
end

"""
    ssa_ensemble(text, aggregator, names, x0, parameters, p, t0, tf, times, seeds)

Simulate the Catalyst model `text` (from `pycrn.julia.to_catalyst`) with the
JumpProcesses aggregator named `aggregator` and `SSAStepper`, one solve per
seed, from counts `x0` of the species `names` and values `p` of `parameters`
(names as one newline-separated string: juliacall passes a Python `str` as a `String`).
"""
function ssa_ensemble(text, aggregator, names, x0, parameters, p, t0, tf, times, seeds)
    haskey(AGGREGATORS, String(aggregator)) || error("unknown aggregator $(aggregator)")
    rn, callbacks = load_model(text)
    names = split(String(names), '\n'; keepempty = false)
    parameters = split(String(parameters), '\n'; keepempty = false)
    u0map = [Symbol(name) => Int64(v) for (name, v) in zip(names, x0)]
    pmap = [Symbol(name) => Float64(v) for (name, v) in zip(parameters, p)]
    # The model was defined after this function was compiled: call into its world.
    return Base.invokelatest(_ssa_ensemble, rn, callbacks, AGGREGATORS[String(aggregator)](), names, u0map,
        pmap, Float64(t0), Float64(tf), Float64.(collect(times)), UInt64.(collect(seeds)))
end

function _ssa_ensemble(rn, callbacks, aggregator, names, u0map, pmap, t0, tf, times, seeds)
    jprob = JumpProblem(rn, u0map, (t0, tf), pmap; aggregator = aggregator, save_positions = (false, false))
    n = length(seeds)
    out = Array{Int64}(undef, length(names), n, length(times))
    for i in 1:n
        sol = solve(jprob, SSAStepper(); saveat = times, seed = seeds[i], callback = callbacks)
        # Symbolic indexing gives each species' series in pycrn's order, whatever Catalyst's order is.
        series = [sol[Symbol(name)] for name in names]
        at_times!(out, i, sol.t, [getindex.(series, j) for j in eachindex(sol.t)], times)
    end
    return out, fill(Int64(-1), n)
end

"""
    leap_ensemble(rate_source, nu, x0, p, t0, tf, dt, times, seeds)

Fixed-step tau-leaping with JumpProcesses' `SimpleTauLeaping`: `rate_source` is
the Julia source of `rate(out, u, p, t)` (pycrn's propensities, written by
`pycrn.julia`), `nu` the net stoichiometry (species x reactions).
"""
function leap_ensemble(rate_source, nu, x0, p, t0, tf, dt, times, seeds)
    m = Module(:PycrnLeap)
    Core.eval(m, :(using Catalyst))  # hill, hillr, mm, mmr
    rate = Core.eval(m, Meta.parse(String(rate_source)))
    return Base.invokelatest(_leap_ensemble, rate, Matrix{Float64}(nu), Vector{Float64}(x0),
        Vector{Float64}(p), Float64(t0), Float64(tf), Float64(dt), Float64.(collect(times)),
        UInt64.(collect(seeds)))
end

function _leap_ensemble(rate, nu, x0, p, t0, tf, dt, times, seeds)
    change = (du, u, p, t, counts, mark) -> mul!(du, nu, counts)
    jump = RegularJump(rate, change, size(nu, 2))
    dprob = DiscreteProblem(x0, (t0, tf), p)
    # JumpProcesses >= 9.x names the aggregator of pure leaping problems PureLeaping; before, Direct() served.
    aggregator = isdefined(JumpProcesses, :PureLeaping) ? JumpProcesses.PureLeaping() : Direct()
    jprob = JumpProblem(dprob, aggregator, jump)
    n = length(seeds)
    out = Array{Int64}(undef, length(x0), n, length(times))
    steps = fill(Int64(round(Int, (tf - t0) / dt)), n)
    for i in 1:n
        sol = solve(jprob, SimpleTauLeaping(); dt = dt, seed = seeds[i])
        # Steps land on t0 + k dt up to rounding: a save time matches its step within a small slack.
        at_times!(out, i, sol.t, sol.u, times; slack = 1e-9 * dt)
    end
    return out, steps
end

"""
    batched_ensemble(reactants, change, rate_constants, x0, t0, times, seeds,
                     min_reactions = MIN_REACTIONS_PER_BATCH)

pycrn's exact batched algorithm (see `batched.jl`) for a mass-action network
given by its reactant and net-change matrices (species x reactions) and its
rate constants; one trajectory per seed. Batches are taken when one is
expected to carry at least `min_reactions` reactions (direct steps otherwise;
0 forces batching). `steps` counts the reactions fired.
"""
function batched_ensemble(reactants, change, rate_constants, x0, t0, times, seeds,
        min_reactions = MIN_REACTIONS_PER_BATCH)
    net = BatchedNetwork(Matrix{Int64}(reactants), Matrix{Int64}(change), Vector{Float64}(rate_constants))
    times = Float64.(collect(times))
    n = length(seeds)
    out = Array{Int64}(undef, size(change, 1), n, length(times))
    steps = zeros(Int64, n)
    x0 = Vector{Int64}(x0)
    for i in 1:n
        steps[i] = simulate_batched!(view(out, :, i, :), net, x0, Float64(t0), times, Xoshiro(seeds[i]);
            min_reactions = Float64(min_reactions))
    end
    return out, steps
end

end # module
