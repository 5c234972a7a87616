"""The steady-state recurrence x <- MML(A x + c) as a custom autograd function.

Forward: iterate ``steps`` times from x = 0 (LEMBAS's RNN, 150 steps by
default). Backward: instead of back-propagating through the unrolled steps,
iterate the adjoint fixed point of the steady state,

    mu <- clip(D * (g + A^T mu)),      D = MML'(A x* + c),   g = dL/dx*,

for the same number of steps from mu = 0; then dL/dc = mu and dL/dA_ij = sum_s mu_i x*_j
(over samples). At a converged steady state this is the exact gradient of
x* = MML(A x* + c) (implicit differentiation), and it equals back-propagation
through the unrolled recurrence when both have converged (tested to 1e-5).
``clip`` is LEMBAS's safeguard against a spectral radius above 1 during
training (its reference code's ``gradCliping``): the identity on
[-limit, limit] and ``limit + tanh(excess)`` beyond, with limit 1, so it is
inactive in normal operation.

On CPU the products run in fused numba kernels (:mod:`.kernels`); on other
devices the same iterations run with ``torch.sparse`` CSR products.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import torch

from . import kernels
from .activation import mml, mml_slope
from .network import SignalingNetwork

#: Adjoint clipping limit (see the module docstring).
CLIP_LIMIT = 1.0
#: Relative tolerance of the adjoint iteration: gradients to about 1e-8
#: relative are far below the noise of stochastic gradient descent.
ADJOINT_TOL = 1e-8
#: Use the numba kernels for CPU tensors (False: torch.sparse everywhere, as on a GPU).
USE_KERNELS = True


class Structure:
    """The network's index arrays, on the device and as numpy (for the CPU kernels)."""

    def __init__(self, network: SignalingNetwork):
        self.network = network
        self.n = network.n_nodes
        self.indptr, self.indices = network.csr()
        self.cptr, self.ctargets, self.cedge = network.csc()
        self.sources = network.sources
        self.targets = network.targets
        self._torch = None

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


#: Work per step (edges x padded batch) above which the multi-threaded kernels
#: are used when torch is allowed more than one thread. Below it a step takes
#: well under a millisecond, and waking threads costs more than it saves (and
#: on a busy machine a descheduled thread stalls every step).
PARALLEL_MIN_WORK = 500_000


def _threads_parallel(edges: int, columns: int) -> bool:
    return torch.get_num_threads() > 1 and edges * columns >= PARALLEL_MIN_WORK


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
    def forward(ctx, w, c, structure: Structure, steps: int, leak: float, tol: float):
        if c.device.type == "cpu" and USE_KERNELS:
            cn = _padded(c.detach().numpy())
            wn = w.detach().numpy()
            x = np.empty_like(cn)
            work = np.empty_like(cn)
            slope = np.empty_like(cn)
            step = kernels.step_parallel if _threads_parallel(wn.size, cn.shape[1]) else kernels.step_serial
            kernels.iterate_forward(step, structure.indptr, structure.indices, wn, cn, x, work, steps, leak, slope, tol)
            samples = c.shape[0]
            xt = torch.from_numpy(x[:, :samples].T.copy())
            st = torch.from_numpy(slope[:, :samples].copy())
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
            st = mml_slope(z, leak)
        ctx.structure = structure
        ctx.steps = steps
        ctx.tol = max(tol, ADJOINT_TOL) if tol > 0 else 0.0
        ctx.save_for_backward(w, xt, st)
        return xt

    @staticmethod
    def backward(ctx, grad_x):
        w, x, slope = ctx.saved_tensors
        s: Structure = ctx.structure
        if grad_x.device.type == "cpu" and USE_KERNELS:
            samples = grad_x.shape[0]
            g = _padded(grad_x.detach().numpy())
            sl = np.zeros_like(g)
            sl[:, :samples] = slope.numpy()
            mu = np.empty_like(g)
            work = np.empty_like(g)
            step = kernels.adjoint_step_parallel if _threads_parallel(w.shape[0], g.shape[1]) else kernels.adjoint_step_serial
            wt = w.detach().numpy()[s.cedge]
            kernels.iterate_adjoint(step, s.cptr, s.ctargets, wt, sl, g, mu, work, ctx.steps, CLIP_LIMIT, ctx.tol)
            mu = np.ascontiguousarray(mu[:, :samples])
            gw = np.empty(w.shape[0], dtype=g.dtype)
            kernels.edge_gradient(s.sources, s.targets, mu, np.ascontiguousarray(x.numpy().T), gw)
            return torch.from_numpy(gw), torch.from_numpy(mu.T.copy()), None, None, None, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            At = s.torch_csr(w.detach()).to_sparse_coo().t().to_sparse_csr()
        g = grad_x.T.contiguous()
        mu = torch.zeros_like(g)
        for _ in range(ctx.steps):
            new = _clip(slope * (g + At @ mu))
            change = float((new - mu).abs().sum())
            mu = new
            if change <= ctx.tol * float(new.abs().sum()):
                break
        xs = x.T
        src = torch.as_tensor(s.sources, device=mu.device)
        tgt = torch.as_tensor(s.targets, device=mu.device)
        gw = (mu[tgt] * xs[src]).sum(dim=1)
        return gw, mu.T.contiguous(), None, None, None, None


def _padded(a: np.ndarray) -> np.ndarray:
    """(samples, nodes) -> (nodes, samples padded with zeros to a multiple of the kernels' block)."""
    s, n = a.shape
    out = np.zeros((n, -(-s // kernels.BLOCK) * kernels.BLOCK), dtype=a.dtype)
    out[:, :s] = a.T
    return out


def _clip(g: torch.Tensor, limit: float = CLIP_LIMIT) -> torch.Tensor:
    over = torch.sign(g) * (limit + torch.tanh(g.abs() - limit))
    return torch.where(g.abs() > limit, over, g)


def steady_state(
    w: torch.Tensor, c: torch.Tensor, structure: Structure, steps: int = 150, leak: float = 0.01,
    tol: float = 1e-12,
) -> torch.Tensor:
    """The state after ``steps`` iterations of x <- MML(A x + c) from 0, differentiable in w and c.

    Both the forward iteration and the adjoint iteration stop early once a
    step changes the state by at most ``tol`` relative to its size (summed
    absolute values; ``tol=0``: always ``steps``), as LEMBAS's reference code
    does with an absolute threshold; the result then differs from the
    full-length iteration by about ``tol / (1 - rho)`` relative.
    """
    return SteadyState.apply(w, c, structure, int(steps), float(leak), float(tol))
