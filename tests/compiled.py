"""Checks on what numba compiled in this process."""

from __future__ import annotations

import numba

from pycrn import codegen


def assert_compiled_once(engine: str, allowed: frozenset[str] = frozenset()) -> int:
    """Every kernel of the loaded ``engine`` modules was compiled for one signature (``allowed`` for two).

    A second signature is a second compilation, seconds each on a first call: numba
    specialises a callee on literal arguments (``0``, ``True``) and on literal-typed counters
    seen during type inference. Returns the number of modules checked.
    """
    # Module names are pycrn_<engine>_<digest>; "direct" must not take in "direct_cr".
    modules = [m for m in codegen._modules.values() if m.__name__.rsplit("_", 1)[0] == f"pycrn_{engine}"]
    for module in modules:
        for name in dir(module):
            f = getattr(module, name)
            if isinstance(f, numba.core.registry.CPUDispatcher):
                limit = 2 if name in allowed else 1
                assert len(f.signatures) <= limit, f"{engine}.{name} compiled for {f.signatures}"
    return len(modules)
