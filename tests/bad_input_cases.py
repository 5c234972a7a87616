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

#: name -> (network text, tspan, method options). Counts near the int64 limit, growth past it, and runaways.
CASES = {
    # A reaction that would push a count past 2**63 - 1 (it wrapped to -9.2e18 before).
    "overflow_product": (f"@species B={LIMIT - 5}\n1, 0 --> 10 B", (0.0, 10.0), {}),
    # The population of the batched engine past its 2**58 molecules (this made batched crash).
    "overflow_population": ("@species B=288230376151711744\n1, 0 --> B", (0.0, 10.0), {}),
    # Exponential growth run long: past the int64 limit, or the step budget, whichever comes first.
    "autocatalysis": ("@species X=10\n1, X --> 2X", (0.0, 60.0), {"max_steps": 10**5}),
    # A huge zero-order rate: 1e17 births per unit time to t = 100 (1e19 > 2**63) within a budget.
    "huge_birth_rate": ("1e17, 0 --> B", (0.0, 100.0), {"max_steps": 10**5}),
    # A product stoichiometry of 1e9 fired 1e10 times.
    "huge_products": ("1, 0 --> 1000000000 B", (0.0, 1e12), {"max_steps": 10**5}),
}

#: Methods that take a mass-action network on the shared kernels (no compilation per model).
SHARED = {"direct", "sorting_direct", "nrm"}


def method_object(name: str, options: dict) -> methods.Method:
    """The method ``name`` with the case's options (shared kernels where the method has them)."""
    if name == "simple_tau_leaping":
        options = {**options, "dt": 0.01}
    if name in SHARED:
        options = {**options, "kernels": "shared"}
    return methods.METHODS[name](**options)


def run_case(method: str, case: str) -> dict:
    text, tspan, options = CASES[case]
    net = pycrn.parse(text)
    out = {"case": case}
    try:
        ds = pycrn.simulate(net, tspan=tspan, method=method_object(method, options), trajectories=2, seed=1,
                            threads=1)
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
