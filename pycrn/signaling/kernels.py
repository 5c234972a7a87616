"""Compiled sparse kernels of the signaling RNN (numba; CPU tensors are passed as numpy views).

Layout: the batch is cut into blocks of :data:`BLOCK` = 4 samples, and a
block's states are stored node-major and flat, ``x[block, 4 * node + sample]``.
The inner loop of every sparse product then reads the 4 samples of a source
node from one cache line, with a stride the compiler knows (a run-time
stride made the kernels ~1.6x slower). Blocks are solved one after another
and each stops at its own convergence, so a sample's result depends only on
the samples in its block. Nodes are numbered in a colour order
(:func:`colour_order`), which the callers apply and undo.

Forward: one kernel fuses the sparse product, bias and MML activation of a
Jacobi step x <- MML(A x + c) (LEMBAS's recurrence), so each step reads each
edge once.

Adjoint: the linear fixed point mu = clip(D (g + A^T mu)) is solved by
Gauss–Seidel sweeps (each node uses the newest values of the others). It
has the same fixed point as the Jacobi iteration, and on random networks of
1k-19k nodes it needs about 0.55x as many sweeps for a smaller error. The
colour order makes the sweep parallel: nodes of one colour do not read each
other, so they are updated at once. :func:`jacobi_adjoint` iterates as
LEMBAS's code does instead (each iteration reads the previous one only):
where the forward recurrence has not converged within its steps, the two
differ (see :func:`jacobi_adjoint`).

Every kernel has a serial and a ``parallel`` (numba threads) variant, which
give bit-identical results: rows are summed in fixed chunks.
"""

from __future__ import annotations

import numba
import numpy as np

_OPTS = dict(cache=True, nogil=True)

#: The batch is processed in blocks of this many samples (callers pad to a multiple).
BLOCK = 4


@numba.njit(inline="always")
def _mml(z, leak):
    # Branch-free form of: leak z (z < 0), z (z < 0.5), 1 - 1/(4z): max(z, leak z) is the
    # leaky line (leak < 1), and 1 - 1/(4 max(z, 1/2)) >= it exactly where z >= 1/2.
    # States of a trained network have mixed signs, and the branches mispredicted.
    return min(max(z, leak * z), 1.0 - 0.25 / max(z, 0.5))


@numba.njit(inline="always")
def _mml_slope(z, leak):
    # The leak slope at the kink z = 0, as the authors' code (see pycrn.signaling.activation).
    if z <= 0.0:
        return leak
    if z < 0.5:
        return 1.0
    return 0.25 / (z * z)


#: Values below this are set to 0: states and adjoints decaying through
#: leaky nodes would otherwise reach subnormal numbers, which are ~100x slower.
TINY = 1e-200


@numba.njit(inline="always")
def _flush(v):
    return v if abs(v) > TINY else 0.0


@numba.njit(inline="always")
def _clip(g, limit):
    # LEMBAS's clipping: linear on [-limit, limit], beyond it limit + tanh(excess).
    if g > limit:
        return limit + np.tanh(g - limit)
    if g < -limit:
        return -limit + np.tanh(g + limit)
    return g


def _jit(parallel: bool):
    """numba.njit for one variant of a kernel made in a factory.

    numba's disk cache tells functions apart by qualified name and line, not
    by their options: without a distinct name the parallel variant silently
    loaded the serial one's cached machine code (and ran on one thread).
    """
    suffix = "parallel" if parallel else "serial"

    def decorate(fn):
        fn.__qualname__ = f"{fn.__name__}_{suffix}"
        return numba.njit(parallel=parallel, **_OPTS)(fn)

    return decorate


#: Rows are summed in this many fixed chunks, then the chunks in order, so
#: the convergence test (and so every result) is bit-identical for any number
#: of threads.
CHUNKS = 64


@numba.njit(inline="always")
def _product(indptr, indices, w, c, src, i):
    """Row i of A src + c for the 4 samples of a block (flat layout)."""
    o = 4 * i
    z0 = c[o]
    z1 = c[o + 1]
    z2 = c[o + 2]
    z3 = c[o + 3]
    for k in range(indptr[i], indptr[i + 1]):
        wk = w[k]
        j = 4 * indices[k]
        z0 += wk * src[j]
        z1 += wk * src[j + 1]
        z2 += wk * src[j + 2]
        z3 += wk * src[j + 3]
    return z0, z1, z2, z3


@numba.njit(inline="always")
def _store(dst, old, o, v0, v1, v2, v3):
    """dst[o:o+4] = v; returns (sum |v - old[o:o+4]|, sum |v|), old read first (it may be dst)."""
    change = abs(v0 - old[o]) + abs(v1 - old[o + 1]) + abs(v2 - old[o + 2]) + abs(v3 - old[o + 3])
    dst[o] = v0
    dst[o + 1] = v1
    dst[o + 2] = v2
    dst[o + 3] = v3
    return change, abs(v0) + abs(v1) + abs(v2) + abs(v3)


@numba.njit(inline="always")
def _adjoint_row(cptr, ctargets, wt, slope, g, old, new, limit, j):
    """new[4j:4j+4] = clip(slope (g + A^T old)) at node j, flushed; returns (sum |change|, sum |new|).

    ``old`` may be ``new`` (Gauss-Seidel) or another buffer (Jacobi).
    """
    o = 4 * j
    z0, z1, z2, z3 = _product(cptr, ctargets, wt, g, old, j)
    v0 = slope[o] * z0
    v1 = slope[o + 1] * z1
    v2 = slope[o + 2] * z2
    v3 = slope[o + 3] * z3
    # The clip is almost never active: one test on the largest magnitude
    # instead of four two-sided ones made the sweep ~20% faster.
    if max(max(abs(v0), abs(v1)), max(abs(v2), abs(v3))) > limit:
        v0 = _clip(v0, limit)
        v1 = _clip(v1, limit)
        v2 = _clip(v2, limit)
        v3 = _clip(v3, limit)
    return _store(new, old, o, _flush(v0), _flush(v1), _flush(v2), _flush(v3))


@numba.njit(inline="always")
def _total(part):
    """Sum the chunks' (change, size) in chunk order."""
    change = 0.0
    size = 0.0
    for ch in range(part.shape[0]):
        change += part[ch, 0]
        size += part[ch, 1]
    return change, size


def _make_forward(parallel: bool):
    @_jit(parallel)
    def forward_step(indptr, indices, w, c, src, dst, leak, part):
        """dst = MML(A src + c) for one block; returns (sum |dst - src|, sum |dst|)."""
        n = indptr.shape[0] - 1
        for ch in numba.prange(CHUNKS):
            change = 0.0
            size = 0.0
            for i in range(ch * n // CHUNKS, (ch + 1) * n // CHUNKS):
                o = 4 * i
                z0, z1, z2, z3 = _product(indptr, indices, w, c, src, i)
                v0 = _flush(_mml(z0, leak))
                v1 = _flush(_mml(z1, leak))
                v2 = _flush(_mml(z2, leak))
                v3 = _flush(_mml(z3, leak))
                dc, ds = _store(dst, src, o, v0, v1, v2, v3)
                change += dc
                size += ds
            part[ch, 0] = change
            part[ch, 1] = size
        return _total(part)

    @_jit(parallel)
    def slope_of(indptr, indices, w, c, src, slope, leak):
        """slope = MML'(A src + c) for one block (the derivative at the last step)."""
        n = indptr.shape[0] - 1
        for i in numba.prange(n):
            o = 4 * i
            z0, z1, z2, z3 = _product(indptr, indices, w, c, src, i)
            slope[o] = _mml_slope(z0, leak)
            slope[o + 1] = _mml_slope(z1, leak)
            slope[o + 2] = _mml_slope(z2, leak)
            slope[o + 3] = _mml_slope(z3, leak)

    def forward_solve(indptr, indices, w, c, x, slope, steps, leak, tol):
        work = np.empty(c.shape[1])
        part = np.empty((CHUNKS, 2))
        most = 0
        for b in range(c.shape[0]):
            cb = c[b]
            src = x[b]
            dst = work
            src[:] = 0.0
            taken = 0
            while True:
                change, size = forward_step(indptr, indices, w, cb, src, dst, leak, part)
                taken += 1
                if taken >= steps or change <= tol * size:
                    break
                src, dst = dst, src
            # dst = MML(A src + c) is the state; its slope is taken at the same pre-activation.
            slope_of(indptr, indices, w, cb, src, slope[b], leak)
            if taken % 2 == 1:
                x[b, :] = dst
            most = max(most, taken)
        return most

    # A parallel kernel called from compiled code did not reliably run on
    # several threads, so the parallel variant loops over steps in Python
    # (a few microseconds per step; see recurrent.FORWARD_PARALLEL_MIN_EDGES).
    return forward_solve if parallel else _jit(False)(forward_solve)


_forward_serial = _make_forward(False)
_forward_parallel = _make_forward(True)


def forward(indptr, indices, w, c, x, slope, steps, leak, tol, parallel=False) -> int:
    """Iterate x <- MML(A x + c) from x = 0, at most ``steps`` times per block.

    ``c``, ``x`` and ``slope`` are ``(blocks, 4 * nodes)`` (zero padding is
    inert: it stays 0). A block stops early once a step's summed absolute
    change is at most ``tol`` times its summed absolute state (``tol=0``:
    never). ``slope`` receives MML'(z) of the last step. Returns the largest
    number of steps a block took. ``parallel`` splits rows over numba's
    threads; the result is bit-identical either way.
    """
    solve = _forward_parallel if parallel else _forward_serial
    return solve(indptr, indices, w, c, x, slope, steps, leak, tol)


def _make_adjoint(parallel: bool):
    @_jit(parallel)
    def adjoint_sweep(cptr, ctargets, wt, slope, g, mu, limit, lo, hi, part):
        """mu_j <- clip(slope_j (g_j + sum_i A_ij mu_i)) for rows lo..hi-1 of one block.

        The rows must not read each other (one colour): then updating them
        in parallel is the same as one after another. Returns (sum |change|, sum |mu|).
        """
        n = hi - lo
        for ch in numba.prange(CHUNKS):
            change = 0.0
            size = 0.0
            for j in range(lo + ch * n // CHUNKS, lo + (ch + 1) * n // CHUNKS):
                dc, ds = _adjoint_row(cptr, ctargets, wt, slope, g, mu, mu, limit, j)
                change += dc
                size += ds
            part[ch, 0] = change
            part[ch, 1] = size
        return _total(part)

    def adjoint_solve(cptr, ctargets, wt, slope, g, mu, bounds, steps, limit, tol):
        part = np.empty((CHUNKS, 2))
        most = 0
        for b in range(g.shape[0]):
            m = mu[b]
            m[:] = 0.0
            taken = 0
            while True:
                change = 0.0
                size = 0.0
                for colour in range(bounds.shape[0] - 1):
                    dc, ds = adjoint_sweep(cptr, ctargets, wt, slope[b], g[b], m, limit, bounds[colour], bounds[colour + 1], part)
                    change += dc
                    size += ds
                taken += 1
                if taken >= steps or change <= tol * size:
                    break
            most = max(most, taken)
        return most

    return adjoint_solve if parallel else _jit(False)(adjoint_solve)


_adjoint_serial = _make_adjoint(False)
_adjoint_parallel = _make_adjoint(True)


def _make_jacobi_adjoint(parallel: bool):
    @_jit(parallel)
    def jacobi_step(cptr, ctargets, wt, slope, g, old, new, limit, part):
        """new = clip(slope (g + A^T old)) for one block; returns (sum |new - old|, sum |new|)."""
        n = cptr.shape[0] - 1
        for ch in numba.prange(CHUNKS):
            change = 0.0
            size = 0.0
            for j in range(ch * n // CHUNKS, (ch + 1) * n // CHUNKS):
                dc, ds = _adjoint_row(cptr, ctargets, wt, slope, g, old, new, limit, j)
                change += dc
                size += ds
            part[ch, 0] = change
            part[ch, 1] = size
        return _total(part)

    def jacobi_solve(cptr, ctargets, wt, slope, g, mu, steps, limit, tol):
        work = np.empty(g.shape[1])
        part = np.empty((CHUNKS, 2))
        most = 0
        for b in range(g.shape[0]):
            old = mu[b]
            old[:] = 0.0
            new = work
            taken = 0
            while True:
                change, size = jacobi_step(cptr, ctargets, wt, slope[b], g[b], old, new, limit, part)
                taken += 1
                old, new = new, old
                if taken >= steps or change <= tol * size:
                    break
            if taken % 2 == 1:  # the last iterate is in the work buffer
                mu[b, :] = old
            most = max(most, taken)
        return most

    return jacobi_solve if parallel else _jit(False)(jacobi_solve)


_jacobi_serial = _make_jacobi_adjoint(False)
_jacobi_parallel = _make_jacobi_adjoint(True)


def jacobi_adjoint(cptr, ctargets, wt, slope, g, mu, steps, limit, tol, parallel=False) -> int:
    """Solve mu = clip(slope * (g + A^T mu)) by Jacobi iterations from mu = 0, per block.

    Each iteration reads only the previous one, as in LEMBAS's reference code:
    after n iterations mu is the clipped sum of the first n terms of the
    Neumann series sum_k (D A^T)^k D g, which is (up to D changing along the
    forward iterations) the gradient of ``n`` unrolled forward steps, also
    where the forward recurrence has not converged. Stops as
    :func:`adjoint` does; ``parallel`` gives bit-identical results.
    """
    solve = _jacobi_parallel if parallel else _jacobi_serial
    return solve(cptr, ctargets, wt, slope, g, mu, steps, limit, tol)


def adjoint(cptr, ctargets, wt, slope, g, mu, bounds, steps, limit, tol, parallel=False) -> int:
    """Solve mu = clip(slope * (g + A^T mu)) by Gauss–Seidel sweeps from mu = 0, per block.

    ``(cptr, ctargets, wt)`` is A by source column (A^T in CSR), with nodes
    numbered so that each colour class ``bounds[c]:bounds[c + 1]`` has no
    edges inside it (:func:`colour_order`); a sweep visits the classes in
    order, and each class's nodes read the newest values of the others. A
    block stops once a sweep changes mu by at most ``tol`` relative (summed
    absolute values; ``tol=0``: never) or after ``steps`` sweeps. Returns the
    largest number of sweeps a block took. ``parallel`` splits each class
    over numba's threads; the result is bit-identical either way.
    """
    solve = _adjoint_parallel if parallel else _adjoint_serial
    return solve(cptr, ctargets, wt, slope, g, mu, bounds, steps, limit, tol)


@numba.njit(**_OPTS)
def _greedy_colours(indptr, indices):
    n = indptr.shape[0] - 1
    colour = -np.ones(n, np.int64)
    seen = -np.ones(n + 1, np.int64)
    for v in range(n):
        for k in range(indptr[v], indptr[v + 1]):
            c = colour[indices[k]]
            if c >= 0:
                seen[c] = v
        c = 0
        while seen[c] == v:
            c += 1
        colour[v] = c
    return colour


def colour_order(sources: np.ndarray, targets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A node order for parallel Gauss–Seidel: ``(order, bounds)``.

    Greedy colouring of the undirected graph (first free colour, nodes in
    index order), then nodes sorted by colour (stable). No edge joins two
    nodes of one colour, so ``order[bounds[c]:bounds[c + 1]]`` can be updated
    at once. A random network with 10 edges per node needs about 12 colours.
    """
    a = np.concatenate([sources, targets])
    b = np.concatenate([targets, sources])
    keep = a != b
    a, b = a[keep], b[keep]
    order = np.argsort(a, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, a + 1, 1)
    colour = _greedy_colours(np.cumsum(indptr), b[order].astype(np.int64))
    node_order = np.argsort(colour, kind="stable")
    bounds = np.searchsorted(colour[node_order], np.arange(colour.max() + 2 if n else 1))
    return node_order.astype(np.int64), bounds.astype(np.int64)


@numba.njit(**_OPTS)
def edge_gradient(sources, targets, mu, x, out):
    """out[k] = sum over samples of mu[target_k] * x[source_k] (dL/dw); mu, x in the block layout."""
    out[:] = 0.0
    for b in range(mu.shape[0]):
        mb = mu[b]
        xb = x[b]
        for k in range(sources.shape[0]):
            i = 4 * targets[k]
            j = 4 * sources[k]
            out[k] += mb[i] * xb[j] + mb[i + 1] * xb[j + 1] + mb[i + 2] * xb[j + 2] + mb[i + 3] * xb[j + 3]


@numba.njit(**_OPTS)
def _gather_blocks(a, order, out):
    s = a.shape[0]
    for p in range(order.shape[0]):
        node = order[p]
        for r in range(s):
            out[r // 4, 4 * p + r % 4] = a[r, node]


@numba.njit(**_OPTS)
def _scatter_blocks(a, rank, out):
    s = out.shape[0]
    for node in range(rank.shape[0]):
        p = rank[node]
        for r in range(s):
            out[r, node] = a[r // 4, 4 * p + r % 4]


def to_blocks(a: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(samples, nodes) -> (blocks, 4 * nodes) with nodes in ``order``; samples padded with zeros to a multiple of 4."""
    s, n = a.shape
    out = np.zeros((-(-s // BLOCK), BLOCK * n), dtype=np.float64)
    _gather_blocks(np.ascontiguousarray(a, dtype=np.float64), order, out)
    return out


def from_blocks(a: np.ndarray, samples: int, rank: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_blocks`: (blocks, 4 * nodes) -> (samples, nodes); ``rank`` inverts ``order``."""
    out = np.empty((samples, rank.shape[0]), dtype=np.float64)
    _scatter_blocks(a, rank, out)
    return out
