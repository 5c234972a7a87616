"""The spectral-radius term at every condition of a trained ligand-screen model.

For the model in a checkpoint of ``examples/signaling_ligand_screen_cv.py``
(``--out DIR`` keeps them as ``foldK_data.pt``) and each of the 103
conditions' steady states, this reports the spectral radius of the
transition matrix D A, the norm of its gradient with respect to the
effective weights (unbounded where the dominant eigenvalue is nearly
defective), and the time ARPACK takes with pycrn's settings against a
single Krylov space of 40 vectors without a restart limit (pycrn's
setting before it retried with 120). Where the two disagree, or a gradient
norm exceeds 10, a dense eigensolve says which is right.

Run as ``python benchmarks/spectral_at_checkpoint.py CHECKPOINT [...] [--out FILE.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
from scipy.sparse.linalg import eigs

from pycrn import signaling as sig
from pycrn.signaling import datasets, losses, spectral


def single_space(T) -> complex:
    """The dominant eigenvalue with one Krylov space of 40 vectors and no restart limit."""
    n = T.shape[0]
    with spectral._one_blas_thread():
        vals, _ = eigs(T, k=1, which="LM", tol=1e-8, maxiter=50 * n, ncv=40, v0=spectral._start(n))
    return complex(vals[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the duplicate edges the file lists twice, merged
        net, ligands, _, _ = datasets.ligand_screen()
    report = {}
    for path in args.checkpoints:
        state = torch.load(path, weights_only=False)
        model = sig.SignalingModel(net, steps=150)
        model.load_state_dict(state["model"])
        with torch.no_grad():
            states = model.states(torch.as_tensor(ligands, dtype=torch.float64))
        w = model.weights.detach().numpy()
        rows = []
        for i in range(states.shape[0]):
            slope = losses.state_slope(states[i], model.leak).numpy()
            T = spectral._matrix(net, w, slope)
            t0 = time.perf_counter()
            rho, grad = spectral.spectral_radius_and_gradient(net, w, slope)
            t_pycrn = time.perf_counter() - t0
            t0 = time.perf_counter()
            old = single_space(T)
            t_single = time.perf_counter() - t0
            norm = float(np.linalg.norm(grad / slope[net.targets]))
            row = dict(condition=i, rho=rho, gradient_norm=norm, seconds_pycrn=t_pycrn, seconds_single_space=t_single,
                       rho_single_space=abs(old))
            if norm > 10 or abs(abs(old) - rho) > 1e-7:
                ev = scipy.linalg.eigvals(T.toarray())
                row["rho_dense"] = float(np.max(np.abs(ev)))
                row["second_dense"] = float(np.sort(np.abs(ev))[-3])  # past the conjugate of the first
            rows.append(row)
        norms = np.array([r["gradient_norm"] for r in rows])
        t_new = np.array([r["seconds_pycrn"] for r in rows])
        t_old = np.array([r["seconds_single_space"] for r in rows])
        print(f"{path}: epoch {state['epoch']}; gradient norm median {np.median(norms):.2f}, max {norms.max():.3g} "
              f"({int((norms > 10).sum())} above 10); dominant eigenvalue alone, 40 vectors: median "
              f"{np.median(t_old) * 1e3:.1f} ms, max {t_old.max() * 1e3:.0f} ms; pycrn (with the gradient's two "
              f"solves): median {np.median(t_new) * 1e3:.1f} ms, max {t_new.max() * 1e3:.0f} ms")
        for r in rows:
            if "rho_dense" in r:
                print(f"  condition {r['condition']}: rho {r['rho']:.9f} (40 vectors {r['rho_single_space']:.9f}, dense "
                      f"{r['rho_dense']:.9f}, next {r['second_dense']:.9f}), gradient norm {r['gradient_norm']:.3g}")
        report[str(path)] = rows
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
