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
The left eigenvector is sought first as the single largest-magnitude pair of
T^T (one ARPACK call about as costly as the right one), and only if that
pair is not lambda or its conjugate (a near tie in magnitude) by
shift-invert at lambda, then densely. Taking the closest of the three
largest pairs of T^T instead, as pycrn did before, could pair the right
eigenvector of one eigenvalue with the left eigenvector of another when
ARPACK missed the dominant one on T^T: on a ligand-screen state (dominant
-0.7835, next a pair of magnitude 0.7786) u^T v was nearly 0 and the gradient's norm
1.6e8 instead of 1.25.

The gradient is unbounded where the dominant eigenvalue is nearly defective
(u^T v -> 0); on the ligand screen's states after training its norm lay
between 0.5 and 7. ``normalize_above`` applies the LEMBAS
authors' rule (Nilsson et al. 2022, code of the ligand-screen and
macrophage scripts): a gradient with respect to the effective weights
slope_i * A_ij whose norm exceeds the threshold (their 10) is scaled to
unit norm.
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
    # A short try with a small Krylov space, then a larger one: near ties in magnitude (|lambda_2| / rho up to
    # 0.996 late in training on the ligand screen) took ARPACK up to 1.9 s with 40 vectors and 40 ms with 120.
    small, large = min(n - 1, max(2 * k + 1, 40)), min(n - 1, max(2 * k + 1, 120))
    with _one_blas_thread():
        try:
            return eigs(T, k=k, which="LM", tol=1e-8, maxiter=20, ncv=small, v0=_start(n))
        except ArpackNoConvergence:
            pass
        try:
            return eigs(T, k=k, which="LM", tol=1e-8, maxiter=50 * n, ncv=large, v0=_start(n))
        except ArpackNoConvergence as exc:
            if len(exc.eigenvalues) == 0:
                raise
            return exc.eigenvalues, exc.eigenvectors


def _left(T, lam: complex) -> np.ndarray:
    """The left eigenvector of T for ``lam`` (an eigenvector of T^T for lam, or the conjugate of one for conj(lam)).

    Tried in turn until the eigenvalue found is lam or its conjugate: the largest-magnitude pair of T^T; the pair
    nearest lam by shift-invert (as the LEMBAS authors' code does); a dense solve.
    """
    n = T.shape[0]
    TT = T.T.tocsr()
    # Agreement expected of two solves at ARPACK's tol 1e-8; another eigenvalue of nearly equal magnitude lies
    # farther off (2.6e-6 on the ligand screen).
    close = 1e-7 * max(abs(lam), 1.0)

    def matching(mus, us, anyway=False):
        dist = np.minimum(np.abs(mus - lam), np.abs(np.conj(mus) - lam))
        j = int(np.argmin(dist))
        if dist[j] > close and not anyway:
            return None
        return us[:, j] if abs(mus[j] - lam) <= abs(np.conj(mus[j]) - lam) else np.conj(us[:, j])

    if n > DENSE_MAX:
        u = matching(*_pairs(TT, 1))
        if u is not None:
            return u
        try:
            with _one_blas_thread():
                u = matching(*eigs(TT.astype(complex), k=1, sigma=lam, which="LM", tol=1e-8, maxiter=50 * n,
                                   v0=_start(n).astype(complex)))
        except (ArpackNoConvergence, RuntimeError):  # RuntimeError: SuperLU's factor is exactly singular
            u = None
        if u is not None:
            return u
    with _one_blas_thread():
        mus, us = np.linalg.eig(TT.toarray())
    return matching(mus, us, anyway=True)


def spectral_radius_and_gradient(
    network: SignalingNetwork, w: np.ndarray, slope: np.ndarray | None = None, normalize_above: float | None = None
) -> tuple[float, np.ndarray]:
    """rho(diag(slope) A(w)) and d rho / d w (slope None: rho(A)).

    Parameters
    ----------
    network, w
        The network and its edge weights.
    slope
        Per-node factors D (MML' at a state), held fixed; ``None``: D = I.
    normalize_above
        If given, a gradient with respect to the effective weights
        ``slope[target] * w`` whose Euclidean norm exceeds this is scaled to
        unit norm before the chain rule through ``slope``: the LEMBAS
        authors' guard (threshold 10) against the unbounded gradient of a
        nearly defective eigenvalue. ``None`` (default): the exact gradient.
    """
    T = _matrix(network, w, slope)
    vals, vecs = _pairs(T, 1)
    k = int(np.argmax(np.abs(vals)))
    lam, v = complex(vals[k]), vecs[:, k]
    rho = abs(lam)
    if rho < 1e-12:
        return 0.0, np.zeros_like(w)
    u = _left(T, lam)
    denom = u @ v
    effective = np.real(np.conj(lam) * (u[network.targets] * v[network.sources] / denom)) / rho
    if normalize_above is not None:
        norm = float(np.linalg.norm(effective))
        if norm > normalize_above:
            effective = effective / norm
    d = slope[network.targets] if slope is not None else 1.0
    return rho, effective * d


class _SpectralRadius(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, slope, network, normalize_above):
        s = None if slope is None else slope.detach().cpu().numpy()
        rho, grad = spectral_radius_and_gradient(network, w.detach().cpu().numpy(), s, normalize_above)
        ctx.save_for_backward(torch.as_tensor(grad, dtype=w.dtype, device=w.device))
        return torch.as_tensor(rho, dtype=w.dtype, device=w.device)

    @staticmethod
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        return grad_out * grad, None, None, None


def spectral_radius(network: SignalingNetwork, w: torch.Tensor, slope: torch.Tensor | None = None,
                    normalize_above: float | None = None) -> torch.Tensor:
    """rho(diag(slope) A(w)) as a differentiable scalar (slope is held fixed; ``normalize_above``: see
    :func:`spectral_radius_and_gradient`)."""
    return _SpectralRadius.apply(w, slope, network, normalize_above)


def scale_to_radius(network: SignalingNetwork, w: np.ndarray, target: float) -> np.ndarray:
    """w scaled so that rho(A(w)) = target (unchanged if rho is 0: an acyclic network)."""
    rho, _ = spectral_radius_and_gradient(network, w)
    return w * (target / rho) if rho > 0 else w
