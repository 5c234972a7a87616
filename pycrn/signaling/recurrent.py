"""The steady-state recurrence x <- MML(A x + c) as a custom autograd function.

Forward: iterate ``steps`` times from x = 0 (LEMBAS's RNN, 150 steps by
default). Backward: instead of back-propagating through the unrolled steps,
iterate the adjoint fixed point of the steady state,

    mu <- clip(D * (g + A^T mu)),      D = MML'(A x* + c),   g = dL/dx*,

from mu = 0, for at most the same number of steps; then dL/dc = mu and
dL/dA_ij = sum_s mu_i x*_j (over samples). At a converged steady state this
is the exact gradient of x* = MML(A x* + c) (implicit differentiation), and
it equals back-propagation through the unrolled recurrence when both have
converged (tested to 1e-5).
``clip`` is LEMBAS's safeguard against a spectral radius above 1 during
training (its reference code's ``gradCliping``): the identity on
[-limit, limit] and ``limit + tanh(excess)`` beyond, with limit 1 by
default (5 in the authors' ligand-screen script). Adjoints are usually far
below it; a training state with rho(D A) near 1 can reach it (a largest
bias gradient of 1.09 was seen on the ligand screen).

On CPU the products run in fused numba kernels (:mod:`.kernels`), and the
adjoint iteration is Gauss–Seidel (each node uses the others' newest values:
the same fixed point in about half the sweeps), or Jacobi as in the authors'
code (``adjoint="jacobi"``; where the two differ: :func:`steady_state`); on
other devices the Jacobi iterations run with ``torch.sparse`` CSR products.
"""

from __future__ import annotations

import contextlib
import warnings

import numba
import numpy as np
import torch

from . import kernels, threads
from .activation import mml, mml_slope
from .network import SignalingNetwork

#: Adjoint clipping limit (see the module docstring).
CLIP_LIMIT = 1.0
#: How the adjoint fixed point is iterated on CPU (see :func:`steady_state`).
ADJOINTS = ("gauss-seidel", "jacobi")
#: Relative tolerance of the adjoint iteration: gradients to about 1e-8
#: relative are far below the noise of stochastic gradient descent.
ADJOINT_TOL = 1e-8
#: Use the numba kernels for CPU tensors (False: torch.sparse everywhere, as on a GPU).
USE_KERNELS = True


class Structure:
    """The network's index arrays: A in CSR for torch.sparse, and the CPU kernels' :class:`KernelLayout`."""

    def __init__(self, network: SignalingNetwork):
        self.network = network
        self.n = network.n_nodes
        self.indptr, self.indices = network.csr()
        self.sources = network.sources
        self.targets = network.targets
        self._torch = None
        self._layout = None

    @property
    def layout(self) -> KernelLayout:
        """The CPU kernels' index arrays, nodes in colour order (computed on first use)."""
        if self._layout is None:
            self._layout = KernelLayout(self.network)
        return self._layout

    def torch_csr(self, w: torch.Tensor) -> torch.Tensor:
        """A as a torch sparse CSR tensor with values w."""
        if self._torch is None:
            self._torch = (
                torch.as_tensor(self.indptr, device=w.device),
                torch.as_tensor(self.indices, device=w.device),
            )
        indptr, indices = self._torch
        with warnings.catch_warnings():
            # "Sparse CSR tensor support is in beta state": the products used here are stable.
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(indptr, indices, w, size=(self.n, self.n), check_invariants=False)


class KernelLayout:
    """Index arrays of A for :mod:`.kernels`, with nodes renumbered in :func:`kernels.colour_order`.

    ``order[p]`` is the node at position p, ``rank`` the inverse. ``indptr,
    indices`` is A by target row and ``cptr, ctargets`` A by source column in
    positions; ``fedge`` and ``cedge`` give each stored entry's edge (index
    into the weight vector); ``sources, targets`` are the edges' positions.
    """

    def __init__(self, network: SignalingNetwork):
        n = network.n_nodes
        self.order, self.bounds = kernels.colour_order(network.sources, network.targets, n)
        self.rank = np.empty(n, dtype=np.int64)
        self.rank[self.order] = np.arange(n)
        self.sources = self.rank[network.sources]
        self.targets = self.rank[network.targets]
        self.indptr, self.indices, self.fedge = _compressed(self.targets, self.sources, n)
        self.cptr, self.ctargets, self.cedge = _compressed(self.sources, self.targets, n)


def _compressed(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, column of each entry, edge of each entry) of the edges grouped by row, columns ascending."""
    edge = np.lexsort((cols, rows))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, rows + 1, 1)
    return np.cumsum(indptr), cols[edge].astype(np.int64), edge.astype(np.int64)


#: Work per step (edges x padded batch) above which :func:`training_threads`
#: keeps torch's threads for training (below it torch's thread pool costs more
#: than it saves).
PARALLEL_MIN_WORK = 500_000
#: Edges from which the kernels run multi-threaded when torch is allowed more
#: than one thread (results are bit-identical either way). Measured with 2
#: threads, batch 3: the forward step gains from 10,000 edges on (1.35x at
#: 10k, 1.6x at 50k-100k); the adjoint sweep, one parallel pass per colour
#: class, loses below 100,000 edges (1.9x slower at 10k) and gains above.
FORWARD_PARALLEL_MIN_EDGES = 10_000
ADJOINT_PARALLEL_MIN_EDGES = 100_000


#: Serial or threaded kernel variant per problem, by measured speed (see :mod:`.threads`).
CHOOSER = threads.Chooser()


def _run_kernel(name: str, problem: tuple, edges: int, minimum: int, call):
    """``call(parallel)``: serial below ``minimum`` edges or with one thread allowed; otherwise the
    variant that ran faster lately on this ``problem`` (numba then gets torch's thread count).

    ``problem`` must tell apart calls of different cost (structure, batch blocks, steps, tolerance):
    timings of different problems are not comparable.
    """
    count = min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)
    if count <= 1 or edges < minimum:
        return call(False)

    def timed(parallel: bool):
        if parallel:
            numba.set_num_threads(count)
        return call(parallel)

    return CHOOSER.run((name, count, *problem), timed)


@contextlib.contextmanager
def training_threads(edges: int, batch: int, threads: int | None = None):
    """torch's thread count for a training loop: ``threads``, or 1 for small problems.

    The tensors of a small model are tiny, and torch's thread pool then costs
    more than it saves: measured on the macrophage network (5,732 edges,
    batch 5), an epoch took 0.69 s with 2 threads and 0.17 s with 1.
    """
    previous = torch.get_num_threads()
    if threads is None:
        threads = previous if edges * (-(-batch // kernels.BLOCK) * kernels.BLOCK) >= PARALLEL_MIN_WORK else 1
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class SteadyState(torch.autograd.Function):
    """``x = SteadyState.apply(w, c, structure, steps, leak)``: c and x are (samples, nodes)."""

    @staticmethod
    def forward(ctx, w, c, structure: Structure, steps: int, leak: float, tol: float,
                adjoint: str = "gauss-seidel", clip: float = CLIP_LIMIT):
        if c.device.type == "cpu" and USE_KERNELS:
            lay = structure.layout
            cn = kernels.to_blocks(c.detach().numpy(), lay.order)
            x = np.empty_like(cn)
            slope = np.empty_like(cn)
            wf = w.detach().numpy()[lay.fedge]
            _run_kernel("forward", (id(structure), cn.shape[0], steps, tol), w.shape[0], FORWARD_PARALLEL_MIN_EDGES,
                        lambda parallel: kernels.forward(lay.indptr, lay.indices, wf, cn, x, slope, steps, leak, tol,
                                                         parallel=parallel))
            xt = torch.from_numpy(kernels.from_blocks(x, c.shape[0], lay.rank))
            # The backward pass works in the kernels' layout: keep x and the slope in it.
            xs = torch.from_numpy(x)
            st = torch.from_numpy(slope)
        else:
            A = structure.torch_csr(w.detach())
            ct = c.detach().T.contiguous()
            xcur = torch.zeros_like(ct)
            z = ct
            for _ in range(steps):
                z = A @ xcur + ct
                xnew = mml(z, leak)
                change = float((xnew - xcur).abs().sum())
                xcur = xnew
                if change <= tol * float(xnew.abs().sum()):
                    break
            xt = xcur.T.contiguous()
            xs = xt
            st = mml_slope(z, leak)
        ctx.structure = structure
        ctx.steps = steps
        ctx.tol = max(tol, ADJOINT_TOL) if tol > 0 else 0.0
        ctx.adjoint = adjoint
        ctx.clip = clip
        ctx.save_for_backward(w, xs, st)
        return xt

    @staticmethod
    def backward(ctx, grad_x):
        w, x, slope = ctx.saved_tensors
        s: Structure = ctx.structure
        if grad_x.device.type == "cpu" and USE_KERNELS:
            lay = s.layout
            g = kernels.to_blocks(grad_x.detach().numpy(), lay.order)
            mu = np.empty_like(g)
            wn = w.detach().numpy()
            wc, sn = wn[lay.cedge], slope.numpy()
            if ctx.adjoint == "jacobi":
                # A Jacobi iteration reads only the previous iterate, like a forward step: no colouring, one
                # parallel pass per iteration, so it gets the forward step's threshold (above it the chooser
                # times both variants).
                _run_kernel("jacobi adjoint", (id(s), g.shape[0], ctx.steps, ctx.tol), w.shape[0],
                            FORWARD_PARALLEL_MIN_EDGES,
                            lambda parallel: kernels.jacobi_adjoint(lay.cptr, lay.ctargets, wc, sn, g, mu, ctx.steps,
                                                                    ctx.clip, ctx.tol, parallel=parallel))
            else:
                _run_kernel("adjoint", (id(s), g.shape[0], ctx.steps, ctx.tol), w.shape[0],
                            ADJOINT_PARALLEL_MIN_EDGES,
                            lambda parallel: kernels.adjoint(lay.cptr, lay.ctargets, wc, sn, g, mu, lay.bounds,
                                                             ctx.steps, ctx.clip, ctx.tol, parallel=parallel))
            gw = np.empty(w.shape[0], dtype=np.float64)
            kernels.edge_gradient(lay.sources, lay.targets, mu, x.numpy(), gw)
            grad_c = kernels.from_blocks(mu, grad_x.shape[0], lay.rank)
            return torch.from_numpy(gw), torch.from_numpy(grad_c), None, None, None, None, None, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            At = s.torch_csr(w.detach()).to_sparse_coo().t().to_sparse_csr()
        g = grad_x.T.contiguous()
        mu = torch.zeros_like(g)
        for _ in range(ctx.steps):
            new = _clip(slope * (g + At @ mu), ctx.clip)
            change = float((new - mu).abs().sum())
            mu = new
            if change <= ctx.tol * float(new.abs().sum()):
                break
        xs = x.T
        src = torch.as_tensor(s.sources, device=mu.device)
        tgt = torch.as_tensor(s.targets, device=mu.device)
        gw = (mu[tgt] * xs[src]).sum(dim=1)
        return gw, mu.T.contiguous(), None, None, None, None, None, None


def _clip(g: torch.Tensor, limit: float = CLIP_LIMIT) -> torch.Tensor:
    over = torch.sign(g) * (limit + torch.tanh(g.abs() - limit))
    return torch.where(g.abs() > limit, over, g)


def steady_state(
    w: torch.Tensor, c: torch.Tensor, structure: Structure, steps: int = 150, leak: float = 0.01,
    tol: float = 1e-12, adjoint: str = "gauss-seidel", clip: float = CLIP_LIMIT,
) -> torch.Tensor:
    """The state after ``steps`` iterations of x <- MML(A x + c) from 0, differentiable in w and c.

    Both the forward iteration and the adjoint iteration stop early once a
    step changes the state by at most ``tol`` relative to its size (summed
    absolute values; ``tol=0``: always ``steps``), as LEMBAS's reference code
    does with an absolute threshold; the result then differs from the
    full-length iteration by about ``tol / (1 - rho)`` relative.

    ``adjoint`` chooses how the backward pass iterates
    mu <- clip(D (g + A^T mu)) on CPU, for at most ``steps`` iterations:
    ``"gauss-seidel"`` (default) converges in about half the iterations, to
    the gradient of the fixed point; ``"jacobi"`` is LEMBAS's iteration,
    whose n-th iterate is the truncated series sum_{k<n} (D A^T)^k D g. The
    two agree where the forward recurrence has converged. Where it has not
    within ``steps`` (a state with rho(D A) near 1: the state after
    ``steps`` steps is not the fixed point), Jacobi's truncated series is
    close to the gradient of the computed ``steps``-step state, while
    Gauss–Seidel goes on towards the fixed point's gradient, amplified by
    up to 1 / (1 - rho(D A)). On other devices the iteration is always
    Jacobi. ``clip`` is the clipping limit (LEMBAS: 1, and 5 in their
    ligand-screen script).
    """
    if adjoint not in ADJOINTS:
        raise ValueError(f"adjoint must be one of {ADJOINTS}, got {adjoint!r}")
    if not clip > 0:
        raise ValueError(f"clip must be a positive limit, got {clip!r}")
    return SteadyState.apply(w, c, structure, int(steps), float(leak), float(tol), adjoint, float(clip))
