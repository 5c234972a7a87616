"""The spectral-radius term of signaling training, with one BLAS thread (pycrn) and with OpenBLAS's default, idle and busy.

``pycrn.signaling.spectral`` runs ARPACK with BLAS limited to one thread
(threadpoolctl). This measures why: the spectral radius and its gradient
at a steady state of the authors' ligand-screen network (1,262 nodes, the
term computed at every mini-batch of training), once as pycrn runs it and
once with the limit lifted (OpenBLAS then uses a thread per core), the two
taking turns within each repeat (paired, as in ``bench_signaling.py``),
on an idle machine and with processes spinning (``--spinners``: one
takes the other core of a 2-core machine; two leave no core free, as when
another multi-threaded job runs).

    python benchmarks/bench_spectral_load.py [--repeats 21] [--busy] [--spinners 1,2] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from bench_signaling import interleaved, median_ms, other_core_busy, paired_ratio
from threadpoolctl import threadpool_info

from pycrn import signaling as sig
from pycrn.signaling import datasets, losses, spectral


@contextlib.contextmanager
def spinning(n: int):
    """``n`` processes spinning for the duration (``bench_signaling.other_core_busy``, ``n`` times)."""
    with contextlib.ExitStack() as stack:
        for _ in range(n):
            stack.enter_context(other_core_busy(True))
        yield


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--busy", action="store_true", help="also measure with processes spinning")
    ap.add_argument("--spinners", default="1,2", help="with --busy: comma-separated numbers of spinning processes")
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    args = ap.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ligand-screen file's duplicate edges, merged
        net, ligands, _, _ = datasets.ligand_screen()
    model = sig.SignalingModel(net, seed=0)
    with torch.no_grad():
        state = model.states(torch.as_tensor(ligands[:1]))[0]
    slope = losses.state_slope(state, model.leak).numpy()
    w = model.weights.detach().numpy()
    limited = spectral._one_blas_thread

    def run_with(limit):
        def once():
            spectral._one_blas_thread = limit
            try:
                t = time.perf_counter()
                spectral.spectral_radius_and_gradient(net, w, slope)
                return time.perf_counter() - t
            finally:
                spectral._one_blas_thread = limited

        return once

    cases = {"1 BLAS thread (pycrn)": (lambda: None, run_with(limited)),
             "OpenBLAS default threads": (lambda: None, run_with(contextlib.nullcontext))}
    blas = sorted({(lib["internal_api"], lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas"})
    print(f"{net}; BLAS libraries (api, default threads): {blas}")
    rows = []
    loads = [0] + ([int(v) for v in args.spinners.split(",")] if args.busy else [])
    for spinners in loads:
        with spinning(spinners):
            times = interleaved(cases, args.repeats)
        one, many = times["1 BLAS thread (pycrn)"], times["OpenBLAS default threads"]
        load = f"{spinners} spinning" if spinners else "idle"
        row = dict(load=load, one_thread_ms=median_ms(one), default_threads_ms=median_ms(many),
                   ratio_default_over_one=paired_ratio(many, one))
        rows.append(row)
        print(f"{row['load']:10s}: 1 BLAS thread {row['one_thread_ms']:.1f} ms, default threads "
              f"{row['default_threads_ms']:.1f} ms (paired ratio {row['ratio_default_over_one']:.2f}), "
              f"medians of {args.repeats}")
    if args.out is not None:
        args.out.write_text(json.dumps(dict(benchmark="spectral radius under load", network=str(net),
                                            blas=blas, repeats=args.repeats, rows=rows,
                                            python=sys.version.split()[0], machine=platform.machine(),
                                            numpy=np.__version__), indent=2))


if __name__ == "__main__":
    main()
