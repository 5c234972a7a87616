"""Signaling RNN: pycrn against the LEMBAS authors' own code, side by side, idle and with the other core busy.

Random prior-knowledge networks of 1,000 to 19,000 nodes with 10 edges per
node (5% ligands, 5% TFs, 20% inhibitory edges), batch 3, float64, CPU. Both
sides get the same network, the same weights, biases and scales (copied from
the pycrn model into the reference model by node and edge names), and the
same input, in the same process. Medians of ``--repeats`` timings after
warm-up calls (numba's compilation is paid once per machine and cached; the
first call is reported apart), the variants taking turns within each repeat
(pycrn with 1 and 2 threads, the reference), so that the ratios are paired:
each is the median over repeats of the ratio of two timings taken moments
apart (this VM's speed drifts by tens of percent over minutes, which
separate blocks of timings would attribute to one side), of

* **forward**: pycrn ``SignalingModel(x)``; the reference ``model(X)`` (its
  ``bionetworkFunction`` with numpy/scipy, LEMBAS ``Model/bionetwork.py``);
* **backward**: ``loss.backward()`` of the same MSE loss on both.

Two kinds of work:

* ``same``: both sides exactly ``steps`` forward steps and ``steps`` adjoint
  iterations (pycrn with ``tol=0``; the reference's convergence test, the
  only thing that would stop it early, is disabled for the timing by giving
  its module a numpy whose plain ``sum`` (no axis) returns infinity: the
  reference's code is imported from ``--reference``, never copied);
* ``own``: each side with its own stopping rule (pycrn relative 1e-12
  forward and 1e-8 adjoint; the reference absolute 1e-6 on both).

pycrn runs with 1 and 2 torch threads ("2" lets pycrn choose serial or
threaded kernels by measured speed, see ``pycrn.signaling.threads``); the
reference is single-threaded numpy/scipy. With ``--busy`` every measurement
is repeated while a second process spins on the other core. The outputs of
the two sides are compared (max |difference|) on every row.

    python benchmarks/bench_signaling.py --reference PATH/Artificial-Signaling-Network/Model \\
        [--sizes 1000,5000,19000] [--steps 100] [--repeats 7] [--busy]

Without ``--reference`` only pycrn is timed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import multiprocessing as mp
import statistics
import sys
import time
import types

import numpy as np

# isort: off
# pycrn.signaling before torch, as its docs advise on shared machines: it sets OMP_WAIT_POLICY=PASSIVE (unless
# set) before torch's OpenMP runtime starts, so that torch's idle threads sleep instead of spinning.
from pycrn import signaling as sig
from pycrn.signaling.network import ACTIVATION, INHIBITION
import torch
# isort: on


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
    nodes = np.array([f"n{i:05d}" for i in range(n)])
    return sig.SignalingNetwork(tuple(nodes), pairs[:, 0], pairs[:, 1], mode, tuple(range(k)), tuple(range(n - k, n)))


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def other_core_busy(busy: bool):
    """A process spinning on a core for the duration (nothing when ``busy`` is false)."""
    if not busy:
        yield
        return
    proc = mp.get_context("spawn").Process(target=_spin, daemon=True)
    proc.start()
    time.sleep(0.5)
    try:
        yield
    finally:
        proc.terminate()
        proc.join()


#: Untimed calls before each timing: compilation or cache load, and for pycrn with 2 threads the
#: first calls in which it times its serial and threaded kernels to choose between them.
WARMUP = 10


def forward_timer(fn):
    """A call of ``fn`` that returns its duration in seconds."""

    def once():
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    return once


def backward_timer(forward, params):
    """A call that runs ``forward()`` and returns the duration of ``loss.backward()`` alone (an MSE loss)."""

    def once():
        for p in params:
            p.grad = None
        y = forward()
        loss = torch.nn.functional.mse_loss(y, torch.full_like(y, 0.5))
        t = time.perf_counter()
        loss.backward()
        return time.perf_counter() - t

    return once


def interleaved(cases: dict, repeats: int) -> dict:
    """Seconds of each case's ``run()`` per repeat, the cases taking turns (after a warm-up of each).

    ``cases``: label -> (setup, run); ``setup()`` (untimed: torch's thread count) precedes every call.
    Taking turns, with the order rotated each repeat, gives every case the same share of the shared
    machine's drifts (its speed moves by tens of percent over minutes), so that the ratio of two cases
    measured in the same repeat is a paired comparison.
    """
    for setup, run in cases.values():
        for _ in range(WARMUP):
            setup()
            run()
    labels = list(cases)
    times: dict = {label: [] for label in labels}
    for r in range(repeats):
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            setup, run = cases[label]
            setup()
            times[label].append(run())
    return times


def median_ms(seconds: list) -> float:
    return 1e3 * statistics.median(seconds)


def paired_ratio(a: list, b: list) -> float:
    """The median over repeats of ``a / b`` measured in the same repeat."""
    return statistics.median(x / y for x, y in zip(a, b))


# -- the reference implementation (imported from a path) ------------------------------------------------


def load_reference(path: str) -> types.ModuleType:
    sys.path.insert(0, path)
    return importlib.import_module("bionetwork")


class _NoStopNumpy(types.ModuleType):
    """numpy, except that ``sum(x)`` without an axis is +inf: the reference's convergence tests never pass."""

    def __init__(self):
        super().__init__("numpy")

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def sum(a, *args, **kwargs):
        return np.inf if not args and not kwargs else np.sum(a, *args, **kwargs)


@contextlib.contextmanager
def reference_fixed_steps(ref: types.ModuleType | None, fixed: bool):
    if ref is None or not fixed:
        yield
        return
    original = ref.numpy
    ref.numpy = _NoStopNumpy()
    try:
        yield
    finally:
        ref.numpy = original


def reference_network(ref: types.ModuleType, net: sig.SignalingNetwork) -> types.SimpleNamespace:
    """The authors' edge list for pycrn's network (their ``makeNetworkList``): ``network_list``, ``node_names``,
    ``mode``, and pycrn's index of each of their nodes (``nodes``) and edges (``edges``)."""
    names = list(net.nodes)
    codes = np.where(net.mode == ACTIVATION, 1.0, np.where(net.mode == INHIBITION, -1.0, 0.1))
    network_list, node_names, weights = ref.makeNetworkList([names[i] for i in net.sources],
                                                            [names[i] for i in net.targets], codes)
    index = {name: i for i, name in enumerate(names)}
    nodes = np.array([index[n] for n in node_names])
    edge = {(int(s), int(t)): k for k, (s, t) in enumerate(zip(net.sources, net.targets))}
    edges = np.array([edge[(int(nodes[s]), int(nodes[t]))] for t, s in zip(network_list[0], network_list[1])])
    return types.SimpleNamespace(network_list=network_list, node_names=node_names,
                                 mode=np.array([[weights == 1], [weights == -1]]).squeeze(), nodes=nodes, edges=edges)


def reference_model(ref: types.ModuleType, model: sig.SignalingModel, steps: int):
    """The authors' model for the same network, with pycrn's parameters copied in by name."""
    net = model.network
    names = list(net.nodes)
    their = reference_network(ref, net)
    params = ref.trainingParameters(iterations=steps, clipping=1, leak=model.leak)
    lig = [names[i] for i in net.ligands]
    tfs = [names[i] for i in net.tfs]
    r = ref.model(their.network_list, their.node_names, their.mode, 1.0, 1.0, lig, tfs, params, "MML", torch.double)
    with torch.no_grad():
        r.network.weights.copy_(model.weights.detach()[their.edges])
        r.network.bias.copy_(model.bias.detach()[their.nodes].unsqueeze(1))
        r.inputLayer.weights.copy_(model.input_scale)
        r.projectionLayer.weights.copy_(model.output_scale)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,5000,19000")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--reference", default=None, help="the folder of the authors' bionetwork.py (their Model/)")
    ap.add_argument("--busy", action="store_true", help="also measure with a process spinning on the other core")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    ref = load_reference(args.reference) if args.reference else None
    t = time.perf_counter()
    warm = random_network(200)
    sig.SignalingModel(warm)(torch.zeros(3, len(warm.ligands), dtype=torch.float64)).sum().backward()
    print(f"first call (numba compile or cache load, in this process): {time.perf_counter() - t:.2f} s")
    print("ms, medians; ratios: medians of the ratios measured in the same repeat (pycrn / reference, and pycrn "
          "with 2 threads / with 1)")
    print(f"{'load':>5s} {'work':>4s} {'nodes':>6s} {'thr':>3s} | {'pycrn fwd':>9s} {'bwd':>7s} | "
          f"{'ref fwd':>8s} {'bwd':>7s} | {'fwd ratio':>9s} {'bwd ratio':>9s} | {'2 / 1 thr':>11s} | {'max |dy|':>8s}")
    rows = []
    one, two = (lambda: torch.set_num_threads(1)), (lambda: torch.set_num_threads(2))
    for busy in ([False, True] if args.busy else [False]):
        with other_core_busy(busy):
            for n in (int(v) for v in args.sizes.split(",")):
                net = random_network(n)
                x = torch.as_tensor(np.random.default_rng(1).random((3, len(net.ligands))))
                for work in ("same", "own"):
                    model = sig.SignalingModel(net, steps=args.steps, tol=0.0 if work == "same" else 1e-12)
                    params = list(model.parameters())
                    cases = {
                        "fwd1": (one, forward_timer(lambda m=model, x=x: m(x).detach())),
                        "fwd2": (two, forward_timer(lambda m=model, x=x: m(x).detach())),
                        "bwd1": (one, backward_timer(lambda m=model, x=x: m(x), params)),
                        "bwd2": (two, backward_timer(lambda m=model, x=x: m(x), params)),
                    }
                    r = reference_model(ref, model, args.steps) if ref is not None else None
                    if r is not None:
                        # The reference is single-threaded numpy/scipy; torch gets one thread for its few ops.
                        cases["ref_fwd"] = (one, forward_timer(lambda r=r, x=x: r(x)[0].detach()))
                        cases["ref_bwd"] = (one, backward_timer(lambda r=r, x=x: r(x)[0], list(r.parameters())))
                    with reference_fixed_steps(ref, r is not None and work == "same"):
                        times = interleaved(cases, args.repeats)
                        y_ref = r(x)[0].detach().numpy() if r is not None else None
                    nan = [float("nan")] * args.repeats
                    r_fwd, r_bwd = times.get("ref_fwd", nan), times.get("ref_bwd", nan)
                    for threads in (1, 2):
                        torch.set_num_threads(threads)
                        fwd, bwd = times[f"fwd{threads}"], times[f"bwd{threads}"]
                        diff = float(np.abs(model(x).detach().numpy() - y_ref).max()) if y_ref is not None else np.nan
                        row = dict(busy=busy, work=work, nodes=n, edges=net.n_edges, steps=args.steps, threads=threads,
                                   forward_ms=median_ms(fwd), backward_ms=median_ms(bwd),
                                   reference_forward_ms=median_ms(r_fwd), reference_backward_ms=median_ms(r_bwd),
                                   forward_ratio=paired_ratio(fwd, r_fwd), backward_ratio=paired_ratio(bwd, r_bwd),
                                   forward_vs_one_thread=paired_ratio(fwd, times["fwd1"]),
                                   backward_vs_one_thread=paired_ratio(bwd, times["bwd1"]),
                                   max_abs_output_difference=diff)
                        rows.append(row)
                        print(f"{'busy' if busy else 'idle':>5s} {work:>4s} {n:6d} {threads:3d} | "
                              f"{row['forward_ms']:9.2f} {row['backward_ms']:7.2f} | "
                              f"{row['reference_forward_ms']:8.2f} {row['reference_backward_ms']:7.2f} | "
                              f"{row['forward_ratio']:9.3f} {row['backward_ratio']:9.3f} | "
                              f"{row['forward_vs_one_thread']:5.2f} {row['backward_vs_one_thread']:5.2f} | {diff:8.1e}",
                              flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
