"""Runs the engine-edge cases of tests/test_bad_input.py in a process of its own.

``python tests/bad_input_cases.py METHOD CASE [CASE ...]`` runs each case with
``METHOD`` and prints one JSON line per case: ``{"case", "outcome", "type",
"message", "min", "max"}``. The test runs it in a subprocess because these
are the inputs that crashed the interpreter (segmentation faults in
``batched``) or hung it before; a crash shows as a lost process, with the
case named on stderr.
"""

from __future__ import annotations

import json
import sys

import numpy as np

import pycrn
from pycrn import methods

LIMIT = 2**63 - 1

#: Births and autocatalysis in one network, so that each method compiles it once; a case switches
#: its reactions on by their rate constants.
GROWTH = "@parameters kb=0 kx=0\n@species B=0 X=0\nkb, 0 --> B\nkx, X --> 2X"
#: Lotka-Volterra at 1e5 molecules (batches of hundreds of reactions): an ordinary run, prey growth
#: alone (a runaway), prey at the int64 limit.
LV = "@parameters kb=1 kp=1e-5 kd=1\n@species R=100000 F=100000\nkb, R --> 2R\nkp, R + F --> 2F\nkd, F --> 0"

#: name -> (network text, u0, params, tspan, method options).
CASES = {
    # A birth that would push a count past 2**63 - 1 (it wrapped to -9.2e18 before).
    "overflow_product": (GROWTH, {"B": LIMIT}, {"kb": 1.0}, (0.0, 10.0), {}),
    # The population of the batched engine past its 2**58 molecules (populations near there made batched crash).
    "overflow_population": (GROWTH, {"B": 2**58}, {"kb": 1.0}, (0.0, 10.0), {}),
    # Exponential growth run long: past the int64 limit, or the step budget, whichever comes first.
    "autocatalysis": (GROWTH, {"X": 10}, {"kx": 1.0}, (0.0, 60.0), {"max_steps": 10**5}),
    # A huge zero-order rate: 1e17 births per unit time to t = 100 (1e19 > 2**63) within a budget.
    "huge_birth_rate": (GROWTH, {}, {"kb": 1e17}, (0.0, 100.0), {"max_steps": 10**5}),
    # A product stoichiometry of 1e9 fired 1e10 times.
    "huge_products": ("1, 0 --> 1000000000 B", {}, {}, (0.0, 1e12), {"max_steps": 10**5}),
    "ordinary": (LV, {}, {}, (0.0, 0.5), {}),
    "lv_runaway": (LV, {"F": 0}, {"kp": 0.0, "kd": 0.0}, (0.0, 60.0), {"max_steps": 10**5}),
    "lv_overflow": (LV, {"R": LIMIT - 1, "F": 0}, {"kp": 0.0}, (0.0, 10.0), {}),
}

#: Methods that take a mass-action network on the shared kernels (no compilation per model).
SHARED = {"direct", "sorting_direct", "nrm", "direct_cr"}


def method_object(name: str, options: dict) -> methods.Method:
    """The method ``name`` with the case's options (shared kernels where the method has them)."""
    if name == "simple_tau_leaping":
        options = {**options, "dt": 0.01}
    if name in SHARED:
        options = {**options, "kernels": "shared"}
    return methods.METHODS[name](**options)


def run_case(method: str, case: str) -> dict:
    text, u0, params, tspan, options = CASES[case]
    net = pycrn.parse(text)
    out = {"case": case}
    try:
        ds = pycrn.simulate(net, u0=u0, params=params, tspan=tspan, method=method_object(method, options),
                            trajectories=2, seed=1, threads=1)
    except (pycrn.ModelError, pycrn.SimulationError) as exc:
        return {**out, "outcome": "error", "type": type(exc).__name__, "message": str(exc)}
    values = np.stack([ds[s].values for s in net.species_names])
    return {**out, "outcome": "dataset", "min": int(values.min()), "max": int(values.max())}


def main(argv: list[str]) -> None:
    method, cases = argv[0], argv[1:]
    for case in cases:
        sys.stderr.write(f"running {case} with {method}\n")
        sys.stderr.flush()
        print(json.dumps(run_case(method, case)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
