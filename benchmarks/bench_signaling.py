"""Signaling RNN: forward and backward time against network size.

Random prior-knowledge networks of 1,000 to 19,000 nodes with 10 edges per
node (5% ligands, 5% TFs, 20% inhibitory edges), batch 3, float64, CPU, 100
and 150 recurrence steps. For each size and thread count (1 and 2) the table
gives the median of ``--repeats`` timings, after a warm-up call (numba
compilation is paid once per machine and cached; it is reported apart) of

* pycrn: ``SignalingModel`` forward, and ``loss.backward()`` of an MSE loss
  (the adjoint fixed point by Gauss–Seidel sweeps, and the edge gradient);
  both iterations stop early at convergence (relative 1e-12 forward, 1e-8
  adjoint), as the reference implementation does (absolute 1e-6), within the
  step limit. With 2 threads the kernels split rows over numba's threads
  (bit-identical results);
* a straightforward torch.sparse baseline: the same recurrence unrolled with
  ``torch.sparse.mm`` on a COO matrix and back-propagated by autograd.

The issue's figures for the reference implementation (LEMBAS's
scipy/numpy autograd function, one thread, batch 3, 100 steps, run on this
machine) are printed alongside: about 5 ms forward at 1k nodes, 23 ms at
5k and 105 ms at 19k, and about 23 ms backward at 19k.

    python benchmarks/bench_signaling.py [--sizes 1000,5000,19000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from pycrn import signaling as sig
from pycrn.signaling.network import ACTIVATION, INHIBITION

REFERENCE_FORWARD_MS = {1000: 5.0, 5000: 23.0, 19000: 105.0}
REFERENCE_BACKWARD_MS = {19000: 23.0}


def random_network(n: int, per_node: int = 10, seed: int = 0) -> sig.SignalingNetwork:
    rng = np.random.default_rng(seed)
    m = n * per_node
    src = rng.integers(0, n, 2 * m)
    tgt = rng.integers(0, n, 2 * m)
    keep = src != tgt
    pairs = np.unique(np.stack([src[keep], tgt[keep]], axis=1), axis=0)
    # A random subset: np.unique sorts by source, so its first m pairs would give
    # out-edges to only the first half of the nodes.
    pairs = pairs[np.sort(rng.permutation(len(pairs))[:m])]
    mode = np.where(rng.random(len(pairs)) < 0.2, INHIBITION, ACTIVATION)
    k = max(1, n // 20)
    nodes = np.array([f"n{i}" for i in range(n)])
    return sig.SignalingNetwork(tuple(nodes), pairs[:, 0], pairs[:, 1], mode, tuple(range(k)), tuple(range(n - k, n)))


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def median_backward_ms(forward, params, n_tfs: int, repeats: int) -> float:
    """Median time of ``loss.backward()`` alone for an MSE loss of ``forward()`` (after a warm-up)."""
    target = None

    def once():
        nonlocal target
        for p in params:
            p.grad = None
        y = forward()
        if target is None:
            target = torch.full((y.shape[0], n_tfs), 0.5, dtype=y.dtype)
        loss = torch.nn.functional.mse_loss(y, target)
        t = time.perf_counter()
        loss.backward()
        return time.perf_counter() - t

    once()
    return 1e3 * statistics.median([once() for _ in range(repeats)])


def time_pycrn(model, x, repeats):
    fwd = median_ms(lambda: model(x), repeats)
    return fwd, median_backward_ms(lambda: model(x), list(model.parameters()), len(model.network.tfs), repeats)


def time_torch_sparse(model, x, steps, repeats, backward_max_nodes):
    net = model.network
    idx = torch.as_tensor(np.stack([net.targets, net.sources]))
    w = model.weights.detach().clone().requires_grad_()
    b = model.bias.detach().clone().requires_grad_()

    def forward():
        A = torch.sparse_coo_tensor(idx, w, (net.n_nodes, net.n_nodes), check_invariants=False).coalesce()
        c = (model.input_projection(x) + b).T
        state = torch.zeros_like(c)
        for _ in range(steps):
            state = sig.mml(torch.sparse.mm(A, state) + c)
        return state.T[:, model.tf_index]

    fwd = median_ms(lambda: forward().detach(), repeats)

    if net.n_nodes > backward_max_nodes:
        return fwd, float("nan")
    return fwd, median_backward_ms(forward, [w, b], len(net.tfs), repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,5000,10000,19000")
    ap.add_argument("--steps", default="100,150")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--baseline-backward-max", type=int, default=5000,
                    help="skip the baseline's autograd backward above this many nodes (it takes minutes)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    t = time.perf_counter()
    warm = random_network(200)
    sig.SignalingModel(warm)(torch.zeros(3, len(warm.ligands), dtype=torch.float64)).sum().backward()
    print(f"first call (numba compile or cache load, in this process): {time.perf_counter() - t:.2f} s")
    print(f"{'nodes':>6s} {'edges':>7s} {'steps':>5s} {'thr':>3s} | {'pycrn fwd':>9s} {'bwd':>7s} | "
          f"{'sparse fwd':>10s} {'bwd':>8s} | {'fwd ratio':>9s} {'bwd ratio':>9s} | {'ref fwd':>7s} {'ref bwd':>7s}  (ms)")
    for n in (int(v) for v in args.sizes.split(",")):
        net = random_network(n)
        x = torch.as_tensor(np.random.default_rng(1).random((3, len(net.ligands))))
        for steps in (int(v) for v in args.steps.split(",")):
            model = sig.SignalingModel(net, steps=steps)
            for threads in (1, 2):
                torch.set_num_threads(threads)
                fwd, bwd = time_pycrn(model, x, args.repeats)
                base = (time_torch_sparse(model, x, steps, max(1, args.repeats // 2), args.baseline_backward_max)
                        if args.baseline else (np.nan, np.nan))
                ref_f = REFERENCE_FORWARD_MS.get(n) if steps == 100 else None
                ref_b = REFERENCE_BACKWARD_MS.get(n) if steps == 100 else None
                rows.append(dict(nodes=n, edges=net.n_edges, steps=steps, threads=threads, forward_ms=fwd,
                                 backward_ms=bwd, sparse_forward_ms=base[0], sparse_backward_ms=base[1],
                                 reference_forward_ms=ref_f, reference_backward_ms=ref_b))
                print(f"{n:6d} {net.n_edges:7d} {steps:5d} {threads:3d} | {fwd:9.2f} {bwd:7.2f} | "
                      f"{base[0]:10.2f} {base[1]:8.2f} | {fwd / base[0]:9.3f} {bwd / base[1]:9.3f} | "
                      f"{ref_f if ref_f else float('nan'):7.1f} {ref_b if ref_b else float('nan'):7.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
