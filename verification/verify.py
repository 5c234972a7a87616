"""Slow statistical verification of pycrn's exact simulators, with diagnostic plots.

In the spirit of msprime's verification.py: each check compares pycrn with an
exact answer or with a peer simulator at full size and writes a plot whose
reading is obvious (the simulated mean ± sd lying on the reference, or the
QQ points lying on the diagonal), plus a line in ``summary.md``.

Checks:

* ``dsmts``: every DSMTS case in tests/data/dsmts through SBML import, both
  exact methods, n = 10,000 (the table that the README shows);
* ``fsp``: a Hill-repressed gene against the finite state projection of the
  master equation (marginal distributions of mRNA and protein);
* ``rebop``: QQ plots of pycrn against rebop on the SIR and dimerisation
  networks (two-sample Kolmogorov-Smirnov p-values in the summary).

Usage::

    python verification/verify.py [--out verification/out] [--n 10000] [--only dsmts,fsp,rebop]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import pycrn  # noqa: E402
from pycrn import conformance  # noqa: E402

DSMTS = ROOT / "tests" / "data" / "dsmts"


def check_dsmts(out: Path, n: int) -> list[str]:
    lines = ["## DSMTS conformance (SBML import)", "", conformance.TABLE_HEADER]
    for method in ("direct", "sorting_direct"):
        for folder in sorted(p for p in DSMTS.iterdir() if p.is_dir()):
            res = conformance.run_case(folder, n=n, method=method, seed=1000 + int(folder.name))
            lines.append(res.row())
            print(res.row(), flush=True)
            if method == "direct":
                _plot_case(folder, out / f"dsmts_{folder.name}.png", n)
    return lines + [""]


def _plot_case(folder: Path, path: Path, n: int) -> None:
    case = folder.name
    data = np.genfromtxt(folder / f"{case}-results.csv", delimiter=",", names=True, deletechars="")
    net = pycrn.load_sbml(folder / f"{case}-sbml-l3v2.xml")
    times = np.asarray(data["time"], dtype=float)
    ds = pycrn.simulate(net, tspan=(0, times[-1]), saveat=times, trajectories=n, seed=7)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for col in data.dtype.names:
        if not col.endswith("-mean"):
            continue
        sp = col[:-5]
        v = ds[sp].values.astype(float)
        ax.plot(times, data[col], "k-", lw=1)
        ax.fill_between(times, data[col] - data[f"{sp}-sd"], data[col] + data[f"{sp}-sd"], color="k", alpha=0.1)
        ax.plot(times, v.mean(0), "o", ms=3, label=f"{sp} mean (pycrn)")
        ax.plot(times, v.mean(0) + v.std(0), "x", ms=3, label=f"{sp} mean + sd (pycrn)")
    ax.set_title(f"DSMTS {case}: exact mean ± sd (black) vs pycrn, n={n}")
    ax.legend(fontsize="x-small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def check_fsp(out: Path, n: int) -> list[str]:
    from exact import FSPModel, chi_square_pvalue, fsp_distribution

    v, K, kp, gm, gp = 10.0, 20.0, 4.0, 1.0, 0.5
    net = pycrn.parse(
        f"@parameters v={v} K={K} kp={kp} gm={gm} gp={gp}\n@species M=0 P=0\n"
        "hillr(P, v, K, 2), 0 => M\nkp, M --> M + P\ngm, M --> 0\ngp, P --> 0"
    )
    times = np.linspace(0, 8, 5)
    model = FSPModel(
        changes=[(1, 0), (0, 1), (-1, 0), (0, -1)],
        propensities=[lambda x: v * K**2 / (K**2 + x[1] ** 2), lambda x: kp * x[0],
                      lambda x: gm * x[0], lambda x: gp * x[1]],
        bounds=(40, 200),
    )
    P, _ = fsp_distribution(model, (0, 0), times)
    lines = ["## Hill-repressed gene vs finite state projection", ""]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for method in ("direct", "sorting_direct"):
        ds = pycrn.simulate(net, tspan=(0, 8), saveat=times, trajectories=n, seed=3, method=method)
        for ax, (name, axis) in zip(axes, (("M", 2), ("P", 1))):
            marg = P[-1].sum(axis=axis - 1)
            if method == "direct":
                ax.plot(np.arange(marg.size), marg, "k-", label="FSP (exact)")
            hist = np.bincount(ds[name].values[:, -1], minlength=marg.size)[: marg.size] / n
            ax.plot(np.arange(marg.size), hist, ".", label=f"pycrn {method}")
            ax.set_xlim(0, np.flatnonzero(marg > 1e-5).max())
            ax.set_title(f"{name} at t = {times[-1]:g}")
            ax.legend(fontsize="small")
            p = chi_square_pvalue(ds[name].values[:, -1], marg)
            lines.append(f"- {method}, {name}(t={times[-1]:g}): chi-square p = {p:.3f}")
    fig.tight_layout()
    fig.savefig(out / "fsp_hill_gene.png", dpi=100)
    plt.close(fig)
    return lines + [""]


def check_rebop(out: Path, n: int) -> list[str]:
    from peers import Rebop

    lines = ["## pycrn vs rebop (two-sample KS on the final counts)", ""]
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (name, species) in zip(axes, (("sir", "R"), ("dimerisation", "A"))):
        net = pycrn.models.get(name)
        t0, tf = net.tspan
        ds = pycrn.simulate(net, tspan=(t0, tf), saveat=[t0, tf], trajectories=n, seed=11)
        peer = Rebop(net, (t0, tf), 2)
        rb = peer.to_array(peer.run(n, seed=12))[net.species_index(species), :, -1]
        ours = ds[species].values[:, -1]
        q = np.linspace(0.01, 0.99, 99)
        ax.plot(np.quantile(rb, q), np.quantile(ours, q), "o", ms=3)
        lo, hi = min(rb.min(), ours.min()), max(rb.max(), ours.max())
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.set_xlabel(f"rebop {species}(t={tf:g}) quantiles")
        ax.set_ylabel("pycrn quantiles")
        ks = stats.ks_2samp(ours, rb)
        ax.set_title(f"{name}: KS p = {ks.pvalue:.3f}")
        lines.append(f"- {name}, {species}(t={tf:g}): KS statistic {ks.statistic:.4f}, p = {ks.pvalue:.3f}")
    fig.tight_layout()
    fig.savefig(out / "qq_rebop.png", dpi=100)
    plt.close(fig)
    return lines + [""]


CHECKS = {"dsmts": check_dsmts, "fsp": check_fsp, "rebop": check_rebop}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "verification" / "out"))
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--only", default=",".join(CHECKS))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# pycrn verification (n = {args.n})", ""]
    for name in args.only.split(","):
        lines += CHECKS[name](out, args.n)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'summary.md'} and plots in {out}")


if __name__ == "__main__":
    main()
