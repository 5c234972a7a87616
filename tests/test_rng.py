"""Per-trajectory random streams."""

from __future__ import annotations

import inspect
import textwrap

import numba
import numpy as np
import pytest
from scipy import stats

from pycrn.engines import rng


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**64 + 17, None])
@pytest.mark.parametrize("start", [0, 1000])
def test_seed_states_equal_numpy_spawned_children(seed, start):
    ss = np.random.SeedSequence(seed)
    ours = rng.seed_states(ss, 40, start=start)
    ref = np.array(
        [np.random.SeedSequence(ss.entropy, spawn_key=(start + k,)).generate_state(4, np.uint64) for k in range(40)]
    )
    np.testing.assert_array_equal(ours, ref)
    if start == 0:
        children = ss.spawn(40)
        np.testing.assert_array_equal(ours, [c.generate_state(4, np.uint64) for c in children])


# Compile the pasted sources the way pycrn.codegen does, in a fresh namespace.
_DRAW = """
def draw(state, n, kind):
    out = np.empty(n)
    for i in range(n):
        out[i] = rng_uniform(state) if kind == 0 else rng_exponential(state)
    return out
"""
namespace: dict = {}
exec(  # noqa: S102
    "import math\nimport numpy as np\n"
    + "".join(f if isinstance(f, str) else textwrap.dedent(inspect.getsource(f)) for f in rng.SOURCES)
    + _DRAW,
    namespace,
)
for _name in ["rng_next", "rng_uniform", "rng_exponential", "draw"]:
    namespace[_name] = numba.njit(namespace[_name])
_draw = namespace["draw"]


def test_xoshiro256pp_reference_output():
    # Reference: the xoshiro256++ C code of Blackman & Vigna with s = {1, 2, 3, 4}.
    s = np.array([1, 2, 3, 4], dtype=np.uint64)
    nxt = namespace["rng_next"]
    got = [int(nxt(s)) for _ in range(3)]
    assert got == [41943041, 58720359, 3588806011781223]


def test_uniform_and_exponential_distributions():
    state = rng.seed_states(2024, 1)[0].copy()
    u = _draw(state, 200_000, 0)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    e = _draw(state, 200_000, 1)
    assert e.min() > 0.0
    assert stats.kstest(e, "expon").pvalue > 1e-3
