"""Data-driven propensity kernels: one compiled module per engine, shared by every network.

The generated kernels of :mod:`pycrn.codegen` unroll a network into numba
source, so compilation grows with the network (minutes for a few hundred
reactions). For networks that are pure mass action with rate constants that
do not change during a run, these kernels read the network from flat arrays
instead (``net``, built by :mod:`pycrn.network_arrays`), so one compiled
module serves every such network of any size, and a new network costs no
compilation at all once the module is in numba's disk cache.

``net`` is one int64 array: ``net[0]`` is the number of reactions,
``net[1]`` the number of species and ``net[2:13]`` the offsets in ``net``
of ten parts (and of the end): ``reactant_ptr, reactant_species,
reactant_order, change_ptr, change_species, change_delta, dependent_ptr,
dependent_index, reader_ptr, reader_index``. Reaction ``j``'s reactants
are entries ``reactant_ptr[j]:reactant_ptr[j+1]`` (species index and
stoichiometry), its net changes likewise, the reactions whose propensity it
changes are ``dependent_index[dependent_ptr[j]:dependent_ptr[j+1]]``, and
the reactions that read species ``i`` are
``reader_index[reader_ptr[i]:reader_ptr[i+1]]``. (One array
rather than a tuple of eight: numba counts references to each array passed
to a function, and eight per reaction fired cost more than the propensities.)
 The ``p`` these
kernels receive holds one number per reaction: its rate constant divided by
the factorials of its reactant stoichiometries, so that the propensity is
``p[j]`` times the falling factorials ``x (x-1) ... (x-nu+1)``, the same
combinatorial law as the generated kernels.

Rate constants are checked finite and non-negative before a run, counts
are non-negative, so every propensity is valid by construction and the
kernels never return NaN for a bad propensity.
"""

from __future__ import annotations

#: Names the shared module defines in place of a network's generated constants.
CONSTANTS = """\
NUM_EVENTS = 0
NUM_STATE_EVENTS = 0
TIME_EVENT = np.zeros(0, dtype=np.bool_)
INITIAL_VALUE = np.zeros(0, dtype=np.bool_)
"""


#: Position in ``net`` of the offset of each part.
_RP, _RS, _RO, _CP, _CS, _CD, _DP, _DI, _SP, _SI, _END = range(2, 13)


def num_reactions(net):
    """The number of reactions of the network in ``net``."""
    return net[0]


def dependency_arrays(net):
    """The dependency graph in CSR form: ``(ptr, idx)``, dependents of j in ``idx[ptr[j]:ptr[j+1]]``."""
    return net[net[_DP]:net[_DI]], net[net[_DI]:net[_SP]]


def _propensity(net, j, x, p):
    v = p[j]
    ptr = net[_RP] + j
    species = net[_RS]
    order = net[_RO]
    for q in range(net[ptr], net[ptr + 1]):
        xi = float(x[net[species + q]])
        nu = net[order + q]
        if nu == 1:
            v *= xi
        else:
            for m in range(nu):
                v *= xi - m
    return v


def rates(net, x, p, t, a):
    """Fill every propensity; return their sum."""
    total = 0.0
    for j in range(a.shape[0]):
        v = _propensity(net, j, x, p)
        a[j] = v
        total += v
    return total


def fire(net, j, x, p, t, a, total):
    """Apply reaction ``j``; recompute its dependents' propensities; return the new total.

    NaN (nothing applied) if a count would pass ``COUNT_LIMIT``.
    """
    cp = net[_CP] + j
    cs = net[_CS]
    cd = net[_CD]
    for q in range(net[cp], net[cp + 1]):
        d = net[cd + q]
        # Checked before any change: a count never wraps around (the caller reports the overflow).
        if d > 0 and x[net[cs + q]] > COUNT_LIMIT - d:  # noqa: F821
            return np.nan  # noqa: F821
    for q in range(net[cp], net[cp + 1]):
        x[net[cs + q]] += net[cd + q]
    dp = net[_DP] + j
    deps = net[_DI]
    for q in range(net[dp], net[dp + 1]):
        k = net[deps + q]
        v = _propensity(net, k, x, p)
        total += v - a[k]
        a[k] = v
    return total


def kernel_constants(p, out):
    """The per-reaction constants the propensities read, from the run's parameters: here they are already.

    (An engine module for a network with events computes them from its parameters instead, see
    :func:`pycrn.codegen.rate_constant_source`, since an event may reassign a parameter.)
    """
    for j in range(out.shape[0]):
        out[j] = p[j]


def event_times(p, out):
    """No events: the shared kernels serve networks without them."""
    return


def event_triggers(x, p, t, out):
    """No events."""
    return


def apply_event(e, x, p, t):
    """No events."""
    return 0


#: The propensities read from the network arrays.
ARRAY_KERNELS = (
    "_RP, _RS, _RO, _CP, _CS, _CD, _DP, _DI, _SP, _SI, _END = range(2, 13)\n",
    num_reactions, dependency_arrays, _propensity, rates, fire,
)
#: What a network without events and with its rate constants computed before the run adds.
NO_EVENTS = (CONSTANTS, kernel_constants, event_times, event_triggers, apply_event)
SOURCES = (*NO_EVENTS, *ARRAY_KERNELS)
