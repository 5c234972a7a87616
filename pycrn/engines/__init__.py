"""Simulation engines: one module per algorithm, all of the same shape.

Each engine module opens with the paper it implements and defines ``NAME``
and either ``SOURCES`` (stochastic engines: the functions, in the numba
subset, that :mod:`pycrn.codegen` pastes into a generated module together
with the network's kernels, providing ``simulate_grid`` and, where the
method records jumps, ``simulate_events``) or ``solve`` (deterministic
engines). The method's options and traits (exact, deterministic, ...) live
on its method object in :mod:`pycrn.methods`, the one interface callers use
(:mod:`pycrn.runner`). Adding an engine is one new module, one line below and
one method class. The registry maps method names to their engines;
:mod:`hybrid_rosenbrock` is the hybrid method's engine when its option
``integrator="rosenbrock23"`` asks for it (``Hybrid.engine``).
"""

from __future__ import annotations

from types import ModuleType

from . import (
    batched,
    direct,
    direct_cr,
    extrande,
    hybrid,
    hybrid_sde,
    nrm,
    ode,
    rssa,
    rssa_cr,
    simple_tau_leaping,
    sorting_direct,
    tau_leaping,
)

ENGINES: dict[str, ModuleType] = {
    direct.NAME: direct,
    sorting_direct.NAME: sorting_direct,
    nrm.NAME: nrm,
    direct_cr.NAME: direct_cr,
    rssa.NAME: rssa,
    rssa_cr.NAME: rssa_cr,
    extrande.NAME: extrande,
    tau_leaping.NAME: tau_leaping,
    simple_tau_leaping.NAME: simple_tau_leaping,
    ode.NAME: ode,
    batched.NAME: batched,
    hybrid.NAME: hybrid,
    hybrid_sde.NAME: hybrid_sde,
}
