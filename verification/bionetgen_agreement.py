"""pycrn against BioNetGen's own simulator on the BioNetGen networks: the proof of the propensity convention.

For each network, ``run_network -p ssa`` (BioNetGen's C direct method, one
process per trajectory, seeds 1..n) and pycrn (``--methods``, n trajectories
each) record the group observables at the same save times. Each group at each
time gets a two-sample z test on the means and a two-sample
Kolmogorov-Smirnov test; a check passes when every |z| and every KS p-value
clears a Bonferroni bound at family-wise alpha = 0.001 over all the tests of
the network.

Needs the ``bionetgen`` package (run_network).

    python verification/bionetgen_agreement.py [--n 2000] [--out verification/out]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path

import numpy as np
from scipy import stats

import pycrn

#: Network -> (file, end time, save times): horizons where the groups still move.
NETWORKS = {
    "multistate": ("multistate.net", 20.0, 5),
    "multisite2": ("multisite2.net", 2.0, 5),
}
ALPHA = 1e-3


def run_network_binary() -> Path:
    import bionetgen

    return Path(bionetgen.__file__).parent / "bng-linux" / "bin" / "run_network"


def bionetgen_groups(file: str, tf: float, points: int, n: int) -> np.ndarray:
    """Group observables of n run_network trajectories, an array (n, times, groups) in the file's group order."""
    binary = run_network_binary()
    net = str(files("pycrn") / "data" / "bionetgen" / file)
    step = tf / (points - 1)

    def one(seed: int) -> np.ndarray:
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([str(binary), "-o", f"{out}/r", "-p", "ssa", "-h", str(seed), "-g", net, net,
                            str(step), str(points - 1)], capture_output=True, check=True)
            text = Path(f"{out}/r.gdat").read_text().splitlines()
        return np.array([[float(v) for v in line.split()] for line in text if not line.startswith("#")])

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(one, range(1, n + 1)))
    return np.stack([r[:, 1:] for r in runs])


def compare(name: str, n: int, methods: list[str]) -> list[str]:
    file, tf, points = NETWORKS[name]
    times = np.linspace(0.0, tf, points)
    net = pycrn.models.get(name)
    groups = [g for g, _ in net.observables]  # the groups block's order, as in run_network's .gdat
    bng = bionetgen_groups(file, tf, points, n)
    lines = []
    for method in methods:
        ds = pycrn.simulate(net, tspan=(0, tf), saveat=times, trajectories=n, seed=2026, method=method)
        tests = 2 * len(groups) * (points - 1)
        z_bound = stats.norm.isf(ALPHA / (2 * tests))
        worst_z, worst_p, failures = 0.0, 1.0, 0
        for g, group in enumerate(groups):
            for k in range(1, points):
                x, y = ds[group].values[:, k], bng[:, k, g]
                se = np.sqrt(x.var(ddof=1) / n + y.var(ddof=1) / n)
                z = 0.0 if se == 0 else (x.mean() - y.mean()) / se
                p = stats.ks_2samp(x, y).pvalue
                worst_z, worst_p = max(worst_z, abs(z)), min(worst_p, p)
                failures += abs(z) > z_bound or p < ALPHA / tests
        verdict = "pass" if failures == 0 else f"FAIL ({failures} tests)"
        lines.append(f"| {name} | {ds.attrs['method']} | {n} | {tf:g} | {len(groups)} x {points - 1} | "
                     f"{worst_z:.2f} (bound {z_bound:.2f}) | {worst_p:.3g} (bound {ALPHA / tests:.2g}) | {verdict} |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--methods", nargs="*", default=["direct", "rssa"])
    parser.add_argument("--networks", nargs="*", default=list(NETWORKS))
    parser.add_argument("--out", default=str(Path(__file__).parent / "out"))
    args = parser.parse_args()
    lines = ["| network | pycrn method | n each | t | groups x times | max abs z | min KS p | result |",
             "|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines))
    for name in args.networks:
        lines += compare(name, args.n, args.methods)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bionetgen_agreement.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
