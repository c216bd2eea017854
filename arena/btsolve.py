"""Solvers for the Bradley–Terry log-likelihood of aggregated pair counts (numpy only).

:func:`newton` is exact damped Newton, one system per row (:mod:`arena.chord` refits many
bootstrap resamples at once with the point fit's Hessian inverse shared by every row).
Strengths are natural log-odds (nats), centred; :data:`ELO_PER_NAT` converts.
"""

from __future__ import annotations

import numpy as np

ELO_PER_NAT = 400.0 / np.log(10.0)  # Elo points per unit of natural log-odds
PRIOR_PRECISION = 1e-5  # 1/nat^2: 4e-5 of one virtual tie's curvature
TOL_ELO = 1e-4  # point fits (exact Newton) stop when the largest step is below this
# A bootstrap refit (chord steps, arena.chord) ends a row once its remaining error, bounded
# from its last step and the contraction rate, is below this; rows that cannot move a reported
# percentile end earlier.  The intervals then lie within ~4e-3 Elo of fully converged refits
# (bench/refit_accuracy.py; 7.5k-490k-vote and small boards), below the 0.01 Elo they are
# shown in and the ~0.5 Elo Monte Carlo error of 1000 rounds.
TOL_BOOT_ELO = 1e-2
_MAX_STEP_NAT = 2.0  # damping: Newton on near-separated data can overshoot wildly


def pair_design(m: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(P, m) incidence matrix: differences and gradients become BLAS products, not gathers."""
    design = np.zeros((len(i), m))
    design[np.arange(len(i)), i] = 1.0
    design[np.arange(len(i)), j] = -1.0
    return design


def hessians(w: np.ndarray, i: np.ndarray, j: np.ndarray, m: int) -> np.ndarray:
    """(R, m, m) negative log-posterior Hessians for pair weights w = n p (1 - p), shape (R, P)."""
    h = np.zeros((w.shape[0], m * m))
    h[:, i * m + j] = -w
    h[:, j * m + i] = -w
    h = h.reshape(-1, m, m)
    diag = np.arange(m)
    h[:, diag, diag] = -h.sum(axis=2) + PRIOR_PRECISION
    # Adding 1/m along the all-ones direction only fixes the gauge (gradients are centred).
    return h + 1.0 / m


def gradient(
    theta: np.ndarray, a: np.ndarray, n: np.ndarray, design: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log-posterior gradient in nats and win probabilities, for each row of theta."""
    p = 1.0 / (1.0 + np.exp(-(theta @ design.T)))
    return (a - n * p) @ design - PRIOR_PRECISION * theta, p


def newton(
    theta: np.ndarray, a: np.ndarray, n: np.ndarray, i: np.ndarray, j: np.ndarray, max_iter: int
) -> np.ndarray:
    """Exact damped Newton for every row (replicate) of ``theta`` (R, m) at once; returns nats."""
    design = pair_design(theta.shape[1], i, j)
    theta = theta.copy()
    active = np.arange(theta.shape[0])
    for _ in range(max_iter):
        if active.size == 0:
            break
        grad, p = gradient(theta[active], a[active], n[active], design)
        hess = hessians(n[active] * p * (1.0 - p), i, j, theta.shape[1])
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        big = np.abs(step).max(axis=1, keepdims=True)
        step *= np.minimum(1.0, _MAX_STEP_NAT / np.maximum(big, 1e-300))
        theta[active] += step - step.mean(axis=1, keepdims=True)
        active = active[big[:, 0] * ELO_PER_NAT >= TOL_ELO]
    return theta


_BLAS_WORK = 200_000  # largest m * n * k per product that OpenBLAS keeps on one thread (~262k)


def matmul(x: np.ndarray, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x @ y for a tall x, as a stack of products small enough to stay single-threaded.

    OpenBLAS hands a product to its thread pool once m * n * k exceeds 262144; for these
    (1000, 30) x (30, 435) products that costs more than it gains, and on a busy 2-core
    machine a threaded call sometimes waits ~10 ms for a worker instead of taking ~0.3 ms.
    numpy loops over the stack in C.  ``out``: a C-contiguous (rows, y columns) array.
    """
    rows = x.shape[0]
    block = max(1, _BLAS_WORK // max(1, x.shape[1] * y.shape[1]))
    full = rows - rows % block
    if out is None:
        out = np.empty((rows, y.shape[1]), np.result_type(x, y))
    if full:
        np.matmul(x[:full].reshape(-1, block, x.shape[1]), y,
                  out=out[:full].reshape(-1, block, y.shape[1]))  # fmt: skip
    if rows > full:
        np.matmul(x[full:], y, out=out[full:])
    return out
