"""Spectral radius of the steady state's transition matrix, with its gradient.

Linearising x <- MML(A x + c) at a steady state gives the transition matrix
T = D A with D = diag(MML'(z*)); the state converges only if rho(T) < 1
(seed 001, Fig. 3a). For an eigenvalue lambda of T with right eigenvector v
and left eigenvector u (u^T T = lambda u^T),

    d lambda / d A_ij = u_i D_i v_j / (u^T v),
    d rho / d A_ij = Re(conj(lambda) d lambda / d A_ij) / rho.

D is held fixed (as in LEMBAS). The largest-magnitude eigenpair comes from
ARPACK (``scipy.sparse.linalg.eigs``), the left eigenvector from a second
solve on T^T, as the paper does; small matrices use dense ``numpy.linalg.eig``.
ARPACK runs with one BLAS thread (threadpoolctl): its BLAS calls work on
blocks of n x ncv, too small to share, and OpenBLAS's threads spin while
they wait. On the ligand-screen network (1,262 nodes, 2 cores) a call took
the same time idle either way, and 1.2x (one core taken) to 1.8x (both)
as long with OpenBLAS's two threads as with one
(``benchmarks/bench_spectral_load.py``).
ARPACK starts from a fixed vector: its default random start comes from a
generator that advances with every call in the process, so the same matrix
gave eigenvalues differing in the 12th digit from call to call, and training
(chaotic over thousands of steps) then depended on what had run before.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import ArpackNoConvergence, eigs
from threadpoolctl import ThreadpoolController

from .network import SignalingNetwork

#: Matrices up to this size are solved densely.
DENSE_MAX = 200


_blas: ThreadpoolController | None = None


def _one_blas_thread():
    """A context in which BLAS runs single-threaded (the libraries are found once, at the first call)."""
    global _blas
    if _blas is None:
        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


def _matrix(network: SignalingNetwork, w: np.ndarray, slope: np.ndarray | None) -> sp.csr_matrix:
    vals = w if slope is None else w * slope[network.targets]
    return sp.csr_matrix((vals, (network.targets, network.sources)), shape=(network.n_nodes,) * 2)


def _start(n: int) -> np.ndarray:
    """ARPACK's start vector for size ``n``: fixed pseudo-random and positive (so, almost surely, not orthogonal
    to the eigenvector sought)."""
    return np.random.default_rng(n).uniform(0.5, 1.5, n)


def _pairs(T, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to k eigenpairs of largest magnitude."""
    n = T.shape[0]
    if n <= DENSE_MAX:
        with _one_blas_thread():
            vals, vecs = np.linalg.eig(T.toarray())
        order = np.argsort(-np.abs(vals))[:k]
        return vals[order], vecs[:, order]
    try:
        with _one_blas_thread():
            return eigs(T, k=k, which="LM", tol=1e-8, maxiter=50 * n, ncv=min(n - 1, max(2 * k + 1, 40)), v0=_start(n))
    except ArpackNoConvergence as exc:
        if len(exc.eigenvalues) == 0:
            raise
        return exc.eigenvalues, exc.eigenvectors


def spectral_radius_and_gradient(
    network: SignalingNetwork, w: np.ndarray, slope: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """rho(diag(slope) A(w)) and d rho / d w (slope None: rho(A))."""
    T = _matrix(network, w, slope)
    vals, vecs = _pairs(T, 1)
    k = int(np.argmax(np.abs(vals)))
    lam, v = complex(vals[k]), vecs[:, k]
    rho = abs(lam)
    if rho < 1e-12:
        return 0.0, np.zeros_like(w)
    # Left eigenvector: the eigenvector of T^T for lambda. A complex pair
    # (or -rho) has the same magnitude, so take the closest of a few; the
    # conjugate of an eigenvector for conj(lambda) belongs to lambda.
    mus, us = _pairs(T.T.tocsr(), min(3, max(1, T.shape[0] - 2)))
    dist = np.minimum(np.abs(mus - lam), np.abs(np.conj(mus) - lam))
    k = int(np.argmin(dist))
    u = us[:, k] if abs(mus[k] - lam) <= abs(np.conj(mus[k]) - lam) else np.conj(us[:, k])
    denom = u @ v
    d = slope[network.targets] if slope is not None else 1.0
    dlam = u[network.targets] * d * v[network.sources] / denom
    grad = np.real(np.conj(lam) * dlam) / rho
    return rho, grad


class _SpectralRadius(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, slope, network):
        s = None if slope is None else slope.detach().cpu().numpy()
        rho, grad = spectral_radius_and_gradient(network, w.detach().cpu().numpy(), s)
        ctx.save_for_backward(torch.as_tensor(grad, dtype=w.dtype, device=w.device))
        return torch.as_tensor(rho, dtype=w.dtype, device=w.device)

    @staticmethod
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        return grad_out * grad, None, None


def spectral_radius(network: SignalingNetwork, w: torch.Tensor, slope: torch.Tensor | None = None) -> torch.Tensor:
    """rho(diag(slope) A(w)) as a differentiable scalar (slope is held fixed)."""
    return _SpectralRadius.apply(w, slope, network)


def scale_to_radius(network: SignalingNetwork, w: np.ndarray, target: float) -> np.ndarray:
    """w scaled so that rho(A(w)) = target (unchanged if rho is 0: an acyclic network)."""
    rho, _ = spectral_radius_and_gradient(network, w)
    return w * (target / rho) if rho > 0 else w
