"""Run a pycrn network in the peer simulators a user would pick instead (rebop, GillesPy2).

Each adapter translates the network once (mass-action reactions as
mass-action, ``=>`` rate laws as expressions) and exposes
``run(trajectories, seed)`` (the tool's own result objects: what a user of
that tool gets, timed) and ``to_array(results)`` -> (species, trajectories,
times), untimed, on the same time grid as pycrn, to check the peers agree.
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

from pycrn import ReactionNetwork


def _expression(net: ReactionNetwork, j: int, power: str) -> str:
    """The rate law of reaction j as plain arithmetic on species and parameter names."""
    law = net.reactions[j].rate
    names = {n: n for n in law.names}
    src = law.to_source(names).replace("math.", "")
    return src.replace("**", power)


class Rebop:
    """rebop's fastest per-trajectory loop, ``Gillespie().gillespie.run``."""

    name = "rebop"

    def __init__(self, net: ReactionNetwork, tspan, npoints: int):
        import rebop

        self.tf = float(tspan[1])
        self.steps = npoints - 1
        self.params = dict(zip(net.parameter_names, net.parameter_values().tolist()))
        g = rebop.Gillespie()
        for j, r in enumerate(net.reactions):
            reactants = [n for n, nu in r.reactants for _ in range(nu)]
            products = [n for n, nu in r.products for _ in range(nu)]
            const = r.rate.constant_value()
            if r.mass_action and (const is not None or r.rate.text in self.params):
                rate = const if const is not None else self.params[r.rate.text]
                # rebop's mass action is k x (x-1) for 2X (measured: no 1/2); pycrn's is k x (x-1) / 2.
                g.add_reaction(rate / math.prod(math.factorial(nu) for _, nu in r.reactants), reactants, products)
            elif r.mass_action:
                raise ValueError("rebop adapter: mass-action rate must be a constant or a parameter")
            else:
                g.add_reaction(_expression(net, j, "^"), reactants, products)
        self.core = g.gillespie
        self.species = net.species_names
        self.core.set_init(dict(zip(net.species_names, net.initial_state().tolist())))
        self.compile_s = 0.0

    def run(self, trajectories: int, seed: int) -> list:
        """The bare loop: one (times, {species: counts}) result per trajectory, no conversion."""
        return [
            self.core.run(self.tf, self.steps, params=self.params, seed=seed + i, sparse=None, var_names=None)
            for i in range(trajectories)
        ]

    def to_array(self, results: list) -> np.ndarray:
        return np.array([[res[s] for _, res in results] for s in self.species], dtype=np.int64)


class RebopBare(Rebop):
    """rebop's loop with every result discarded: its floor, the strictest reference."""

    name = "rebop-bare"

    def run(self, trajectories: int, seed: int) -> list:
        last = None
        for i in range(trajectories):
            last = self.core.run(self.tf, self.steps, params=self.params, seed=seed + i, sparse=None, var_names=None)
        return [last]


class GillesPy2:
    """GillesPy2's C++ SSA solver (``SSACSolver``), compiled once per model."""

    name = "gillespy2"

    def __init__(self, net: ReactionNetwork, tspan, npoints: int):
        # GillesPy2 looks for the 'scons' executable on PATH (next to this Python).
        os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
        import gillespy2

        model = gillespy2.Model(name="bench")
        values = dict(zip(net.parameter_names, net.parameter_values().tolist()))
        model.add_parameter([gillespy2.Parameter(name=k, expression=v) for k, v in values.items()])
        species = {
            s.name: gillespy2.Species(name=s.name, initial_value=s.initial, mode="discrete")
            for s in net.species
        }
        model.add_species(list(species.values()))
        for j, r in enumerate(net.reactions):
            kw = dict(
                name=f"r{j}",
                reactants={species[n]: nu for n, nu in r.reactants},
                products={species[n]: nu for n, nu in r.products},
            )
            if r.mass_action and r.rate.text in values:
                kw["rate"] = model.listOfParameters[r.rate.text]
            elif r.mass_action:
                raise ValueError("gillespy2 adapter: mass-action rate must be a parameter")
            else:
                kw["propensity_function"] = _expression(net, j, "**")
            model.add_reaction(gillespy2.Reaction(**kw))
        model.timespan(np.linspace(tspan[0], tspan[1], npoints))
        self.model = model
        self.species = net.species_names
        t = time.perf_counter()
        self.solver = gillespy2.SSACSolver(model=model)
        self.compile_s = time.perf_counter() - t

    def run(self, trajectories: int, seed: int):
        return self.model.run(solver=self.solver, number_of_trajectories=trajectories, seed=seed)

    def to_array(self, results) -> np.ndarray:
        return np.array([[np.asarray(tr[s]) for tr in results] for s in self.species], dtype=np.int64)
