"""Jumps coupled to an ODE: the JumpProcesses tutorial's SIR with a continuously evolving fourth component.

The tutorial (Catalyst.jl / JumpProcesses.jl, "continuous-time jump
processes and Gillespie methods") couples its SIR jump process (beta =
0.1/1000, nu = 0.01, S = 999, I = 1, t in [0, 250]) and its birth jump of
susceptibles, at rate 10 S / (200 + S) + 10, to an ODE for a fourth
component V,

    dV/dt = I R / 1e5 - S V / 1e5,

first with V(0) = 100 and jumps that ignore V, then with V(0) = 1 and a jump
whose rate reads V (a VariableRateJump): 0 --> I at rate 1e-2 V, and last
with multiplicative noise on V (the tutorial's SDEProblem, g = 0.1 V). In
pycrn V is a continuous species with an ``@equation``; ``method="auto"`` picks
the hybrid method, which integrates V with the jumps' intensity and locates
each jump by root finding (exact up to the integration tolerance). With the
line ``@noise V ~ 0.1 * V`` it picks ``hybrid_sde`` (Euler-Maruyama with a
fixed step, weak order 1; here dt = 0.05).

Run as ``python examples/hybrid_sir.py [trajectories] [output-dir]``.
"""

import sys
from pathlib import Path

import pycrn

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("out")
out.mkdir(parents=True, exist_ok=True)

# kv switches the variable-rate jump on: new infections from V, at a rate that moves with V between
# jumps. One network for both runs, so the engine is compiled once.
MODEL = """
@parameters beta=1e-4 nu=0.01 kv=0
@species S=999 I=1 R=0 V=100.0 [continuous]
beta, S + I --> 2I
nu, I --> R
10 * S / (200 + S) + 10, 0 => S
kv * V, 0 --> I
@equation D(V) ~ I * R / 1e5 - S * V / 1e5
"""
net = pycrn.parse(MODEL, name="sir_ode")
kw = dict(tspan=(0.0, 250.0), saveat=1.0, trajectories=n, seed=11)
coupled = pycrn.simulate(net, **kw)
variable = pycrn.simulate(net, u0={"V": 1.0}, params={"kv": 1e-2}, **kw)
noisy_net = pycrn.parse(MODEL + "@noise V ~ 0.1 * V\n", name="sir_sde")
noisy = pycrn.simulate(noisy_net, u0={"V": 1.0}, params={"kv": 1e-2}, method=pycrn.methods.HybridSDE(dt=0.05), **kw)

runs = (("ODE-coupled V", coupled), ("+ jump at rate 1e-2 V", variable), ("+ noise 0.1 V dW on V", noisy))
for label, d in runs:
    mean_i = d["I"].mean("trajectory")
    print(f"{label:>22} ({d.attrs['method']}): {d.attrs['steps']:,} jumps, {d.attrs['integration_steps']:,} "
          f"integration steps; mean infected peaks at t = {float(mean_i.idxmax('time')):.0f} with "
          f"{float(mean_i.max()):.1f}; mean V at t = 250: {float(d['V'][:, -1].mean()):.1f}")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(2, 3, figsize=(14, 6), sharex=True)
t = coupled["time"].values
titles = ("V(0) = 100, jumps ignore V", "V(0) = 1, jump 0 --> I at 1e-2 V", "the same with noise 0.1 V dW (SDE)")
for col, (label, d) in enumerate(zip(titles, (coupled, variable, noisy))):
    for row, name in enumerate(("I", "V")):
        ax = axes[row, col]
        q = d[name].quantile([0.1, 0.5, 0.9], dim="trajectory").values
        ax.fill_between(t, q[0], q[2], color=f"C{row}", alpha=0.25, label="10-90% of trajectories")
        ax.plot(t, d[name].mean("trajectory"), color=f"C{row}", lw=2, label="mean")
        for i in range(min(3, d.sizes["trajectory"])):
            ax.plot(t, d[name][i], color=f"C{row}", lw=0.6, alpha=0.6)
        if col == 0:
            ax.set_ylabel(f"{name}" + (" (infected, jumps)" if name == "I" else " (continuous)"))
        if row == 0:
            ax.set_title(label)
        ax.legend(loc="upper left", fontsize=8)
for ax in axes[1]:
    ax.set_xlabel("time (days)")
fig.tight_layout()
fig.savefig(out / "hybrid_sir.png", dpi=120)
print(f"wrote {out / 'hybrid_sir.png'}")
