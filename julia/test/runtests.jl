# Julia-side tests of the bridge (`julia --project=julia -e 'using Pkg; Pkg.test()'`). The statistical
# checks against pycrn's native engines are in tests/test_julia.py, run from Python through juliacall.
using PycrnBridge
using Random
using Test

@testset "batched port: immigration-death mean and variance" begin
    # 0 -> X (a), X -> 0 (mu) from X = 0: X(t) is Poisson with mean a/mu (1 - exp(-mu t)).
    reactants = reshape([0 1], 1, 2)
    change = reshape([1 -1], 1, 2)
    a, mu, t = 5000.0, 1.0, 2.0
    times = [0.0, t]
    n = 2000
    out, steps = batched_ensemble(reactants, change, [a, mu], [0], 0.0, times, UInt64.(1:n), 0.0)
    x = out[1, :, 2]
    m = a / mu * (1 - exp(-mu * t))
    @test all(out[1, :, 1] .== 0)
    @test abs(sum(x) / n - m) < 4 * sqrt(m / n)
    v = sum((x .- sum(x) / n) .^ 2) / (n - 1)
    @test abs(v / m - 1) < 4 * sqrt(2 / (n - 1))
    @test all(steps .> 0)
end

@testset "Catalyst model from pycrn's text with each aggregator" begin
    text = """
    rn = @reaction_network begin
        @parameters k=1.0 d=0.1
        @species A(t)=0
        k, 0 --> A
        d, A --> 0
    end
    """
    for aggregator in ("Direct", "SortingDirect", "NRM", "DirectCR", "RSSA", "RSSACR")
        out, _ = ssa_ensemble(text, aggregator, "A", [0], "k\nd", [1.0, 0.1], 0.0, 50.0, [0.0, 50.0],
            UInt64.(1:500))
        x = out[1, :, 2]
        m = 10.0 * (1 - exp(-5.0))
        @test abs(sum(x) / 500 - m) < 4 * sqrt(m / 500)
    end
end
