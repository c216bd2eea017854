"""Bradley–Terry leaderboards on the Elo scale, with a vote bootstrap.

Pure maths: numpy and scipy only, no Django.  Units and contracts:

* Ratings are Elo points: P(i beats j) = 1 / (1 + 10 ** ((R_j - R_i) / 400)), centred so that
  the mean rating of the fitted models is exactly ``BASE_RATING`` (1000).
* A tie and a "both bad" vote each count as half a win for both sides.
* ``rating`` is the maximum-likelihood fit on the aggregated counts, under a Gaussian prior
  (precision ``PRIOR_PRECISION`` per model, in 1/nat^2) so weak that it moves a well-identified
  fit by far less than 0.01 Elo; it only exists to keep separated data (a model that never
  loses) finite.
* ``ci_low``/``ci_high`` are the 2.5 % and 97.5 % percentiles of a bootstrap over votes: each
  round draws a multinomial resample of the vote counts over the cells (ordered-pair wins and
  pair ties) with the same total, and refits the exact MLE.  Deterministic given ``seed``.
* Everything depends only on the counts, never on vote order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import pdtr

BASE_RATING = 1000.0
ELO_PER_NAT = 400.0 / np.log(10.0)  # Elo points per unit of natural log-odds
PRIOR_PRECISION = 1e-5  # 1/nat^2: 4e-5 of one virtual tie's curvature
TOL_ELO = 1e-4  # bootstrap/point fits stop when the largest step is below this
_MAX_STEP_NAT = 2.0  # damping: Newton on near-separated data can overshoot wildly
_GUIDE = 256  # guide-table resolution for the vectorised Poisson inversion


@dataclass(frozen=True)
class BoardFit:
    """Result of :func:`fit_board` for M models (indices follow the input matrices).

    ``rating``/``ci_low``/``ci_high`` are Elo points (NaN where not fitted); ``rank`` is
    1 + the number of fitted models whose ci_low is above this model's ci_high (0 where not
    fitted); ``votes`` is games played; ``win_rate`` is (wins + 0.5 * ties) / games (NaN with no
    games); ``disconnected`` lists models with games that lie outside the main component (the
    component with the most votes) and so are not fitted; ``covariance`` is the asymptotic
    covariance of the centred fitted ratings in Elo^2 from the observed Fisher information (NaN
    rows/columns where not fitted), or None when nothing was fitted.
    """

    rating: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rank: np.ndarray
    votes: np.ndarray
    win_rate: np.ndarray
    fitted: np.ndarray
    disconnected: list[int]
    covariance: np.ndarray | None


def bt_probability(r_i: float | np.ndarray, r_j: float | np.ndarray) -> float | np.ndarray:
    """Probability that a model rated ``r_i`` beats one rated ``r_j`` (Elo points)."""
    return 1.0 / (1.0 + 10.0 ** ((np.asarray(r_j) - np.asarray(r_i)) / 400.0))


def online_elo(
    records: Iterable[tuple[int, int, float]],
    k: float = 4.0,
    *,
    n_models: int | None = None,
    initial: float = BASE_RATING,
) -> np.ndarray:
    """Sequential Elo over ``(i, j, score_i)`` records in vote order (score 1, 0.5 or 0).

    A secondary, order-dependent view; the leaderboard uses :func:`fit_board`.  Returns final
    ratings in Elo points, one per model (``n_models`` or 1 + the largest index seen).
    """
    rows = [(int(i), int(j), float(s)) for i, j, s in records]
    size = (
        n_models if n_models is not None else 1 + max((max(i, j) for i, j, _ in rows), default=-1)
    )
    ratings = np.full(size, float(initial))
    for i, j, score in rows:
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"score must lie in [0, 1], got {score}")
        delta = k * (score - float(bt_probability(ratings[i], ratings[j])))
        ratings[i] += delta
        ratings[j] -= delta
    return ratings


def _as_counts(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square M x M matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    if np.any(arr < 0):
        raise ValueError(f"{name} contains negative counts")
    if np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must hold whole vote counts")
    if np.any(np.diag(arr) != 0):
        raise ValueError(f"{name} must have a zero diagonal (a model never meets itself)")
    return arr


def _validate(wins: np.ndarray, ties: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return float (wins, upper-triangular ties); ties may be symmetric or upper-triangular."""
    w = _as_counts(wins, "wins")
    t = _as_counts(ties, "ties")
    if w.shape != t.shape:
        raise ValueError(f"wins {w.shape} and ties {t.shape} shapes differ")
    if np.array_equal(t, t.T):
        return w, np.triu(t)
    if not np.any(np.tril(t)):
        return w, t
    raise ValueError("ties must be symmetric or upper-triangular")


def _pair_design(m: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(P, m) incidence matrix: differences and gradients become BLAS products, not gathers."""
    design = np.zeros((len(i), m))
    design[np.arange(len(i)), i] = 1.0
    design[np.arange(len(i)), j] = -1.0
    return design


def _hessians(w: np.ndarray, i: np.ndarray, j: np.ndarray, m: int) -> np.ndarray:
    """(R, m, m) negative log-posterior Hessians for pair weights w = n p (1 - p), shape (R, P)."""
    h = np.zeros((w.shape[0], m * m))
    h[:, i * m + j] = -w
    h[:, j * m + i] = -w
    h = h.reshape(-1, m, m)
    diag = np.arange(m)
    h[:, diag, diag] = -h.sum(axis=2) + PRIOR_PRECISION
    # Adding 1/m along the all-ones direction only fixes the gauge (gradients are centred).
    return h + 1.0 / m


def _gradient(
    theta: np.ndarray, a: np.ndarray, n: np.ndarray, design: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log-posterior gradient in nats and win probabilities, for each row of theta."""
    p = 1.0 / (1.0 + np.exp(-(theta @ design.T)))
    return (a - n * p) @ design - PRIOR_PRECISION * theta, p


def _newton(
    theta: np.ndarray, a: np.ndarray, n: np.ndarray, i: np.ndarray, j: np.ndarray, max_iter: int
) -> np.ndarray:
    """Exact damped Newton for every row (replicate) of ``theta`` (R, m) at once; returns nats."""
    design = _pair_design(theta.shape[1], i, j)
    theta = theta.copy()
    active = np.arange(theta.shape[0])
    for _ in range(max_iter):
        if active.size == 0:
            break
        grad, p = _gradient(theta[active], a[active], n[active], design)
        hess = _hessians(n[active] * p * (1.0 - p), i, j, theta.shape[1])
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        big = np.abs(step).max(axis=1, keepdims=True)
        step *= np.minimum(1.0, _MAX_STEP_NAT / np.maximum(big, 1e-300))
        theta[active] += step - step.mean(axis=1, keepdims=True)
        active = active[big[:, 0] * ELO_PER_NAT >= TOL_ELO]
    return theta


def _chord(
    theta: np.ndarray,
    a: np.ndarray,
    n: np.ndarray,
    design: np.ndarray,
    inv_hess: np.ndarray,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Newton with one shared Hessian inverse: resamples sit close to the point fit, so this
    converges linearly at a fast rate while skipping R batched solves per step.

    Returns (theta, indices of rows that did not converge) so those can get exact Newton.
    """
    theta = theta.copy()
    active = np.arange(theta.shape[0])
    failed: list[np.ndarray] = []
    last = np.full(theta.shape[0], np.inf)
    for _ in range(max_iter):
        if active.size == 0:
            break
        grad, _ = _gradient(theta[active], a[active], n[active], design)
        step = grad @ inv_hess
        big = np.abs(step).max(axis=1)
        # Divergence or stalling (e.g. a separated resample) is handed to exact Newton.
        bad = ~(big < 0.9 * last[active]) | (big > _MAX_STEP_NAT)
        failed.append(active[bad])
        theta[active[~bad]] += step[~bad]
        last[active] = big
        active = active[~bad & (big * ELO_PER_NAT >= TOL_ELO)]
    return theta, np.concatenate([*failed, active])


def _resample(counts: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """Exact Multinomial(sum(counts), counts / sum) draws, shape (rounds, K).

    numpy's multinomial costs ~10 ns per vote per round.  Instead draw Poisson(s * c_k) by
    vectorised table inversion (given their sum S, independent Poissons are multinomial), then
    top up with n - S categorical draws; rows with S > n (rare by the choice of s) are redrawn
    directly.  Both pieces are exact, so the sum is exactly multinomial.
    """
    total = int(counts.sum())
    k = counts.size
    scale = max(0.0, 1.0 - 3.0 / np.sqrt(total))
    lam = scale * counts
    top = np.ceil(lam + 12.0 * np.sqrt(lam) + 25.0).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(top + 1)])
    cell = np.repeat(np.arange(k), top + 1)
    values = np.arange(start[-1]) - start[cell]
    cdf = pdtr(values, lam[cell])
    cdf[start[1:] - 1] = 1.0  # the tail beyond 12 sd is below float resolution
    # guide[c, b] = first table slot of cell c with cdf >= b / G: a start never past the answer.
    guide = np.searchsorted(cdf + cell, np.arange(k)[:, None] + np.arange(_GUIDE) / _GUIDE)
    guide = np.maximum(guide, start[:-1, None])  # bin 0 would otherwise hit the previous cell
    u = rng.random((rounds, k))
    bins = (u * _GUIDE).astype(np.int64)
    bins += np.arange(0, k * _GUIDE, _GUIDE)
    pos = guide.ravel()[bins]  # one flat gather: far cheaper than 2-D fancy indexing
    behind = np.flatnonzero(cdf[pos] < u)
    while behind.size:
        pos.flat[behind] += 1
        behind = behind[cdf[pos.flat[behind]] < u.flat[behind]]
    draws = pos - start[:-1]
    deficit = total - draws.sum(axis=1)
    for r in np.flatnonzero(deficit < 0):
        draws[r] = rng.multinomial(total, counts / total)
        deficit[r] = 0
    extra = np.repeat(np.arange(rounds) * k, deficit)
    extra += np.repeat(np.arange(k), counts.astype(np.int64))[rng.integers(0, total, extra.size)]
    draws += np.bincount(extra, minlength=rounds * k).reshape(rounds, k)
    return draws


def _percentile_rank(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return 1 + (low[None, :] > high[:, None]).sum(axis=1)


def fit_board(wins: np.ndarray, ties: np.ndarray, *, rounds: int = 1000, seed: int = 0) -> BoardFit:
    """Fit one leaderboard from aggregated vote counts.

    ``wins[i, j]``: votes in which model i beat model j (M x M whole non-negative counts, zero
    diagonal).  ``ties[i, j]``: ties plus both-bad votes between i and j, given either as a
    symmetric matrix (each vote stored at [i, j] and [j, i]) or as an upper-triangular one (each
    vote stored once, at i < j); anything else raises ValueError, as do negative, NaN,
    fractional or mis-shaped counts.  ``rounds`` >= 1 bootstrap rounds, deterministic in
    ``seed``.  See the module docstring for the statistical contract.
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    w, t = _validate(wins, ties)
    size = w.shape[0]
    games = w + w.T + t + t.T
    votes = games.sum(axis=1).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = (w.sum(axis=1) + 0.5 * (t + t.T).sum(axis=1)) / votes
    nan = np.full(size, np.nan)
    present = votes > 0
    if not present.any():
        return BoardFit(nan, nan.copy(), nan.copy(), np.zeros(size, np.int64), votes,
                        win_rate, np.zeros(size, bool), [], None)  # fmt: skip

    _, label = connected_components(coo_matrix(games > 0), directed=False)
    weight = np.bincount(label, weights=votes)
    main = label == int(np.argmax(weight))
    idx = np.flatnonzero(main)
    m = idx.size
    sub_w, sub_t = w[np.ix_(idx, idx)], t[np.ix_(idx, idx)]
    i, j = np.triu_indices(m, 1)
    beats, loses, tied = sub_w[i, j], sub_w[j, i], sub_t[i, j]
    played = beats + loses + tied > 0
    i, j, beats, loses, tied = i[played], j[played], beats[played], loses[played], tied[played]
    pairs = i.size
    a = beats + 0.5 * tied
    n = beats + loses + tied

    theta_hat = _newton(np.zeros((1, m)), a[None], n[None], i, j, max_iter=500)
    design = _pair_design(m, i, j)
    _, p_hat = _gradient(theta_hat, a[None], n[None], design)
    inv_hess = np.linalg.inv(_hessians(n * p_hat * (1.0 - p_hat), i, j, m)[0])
    centre = np.eye(m) - 1.0 / m
    cov_sub = ELO_PER_NAT**2 * centre @ inv_hess @ centre

    # Cells: ordered-pair wins both ways and pair ties; empty cells can never be drawn.
    counts = np.concatenate([beats, loses, tied])
    nonzero = np.flatnonzero(counts)
    draws = np.zeros((rounds, 3 * pairs))
    draws[:, nonzero] = _resample(counts[nonzero], rounds, np.random.default_rng(seed))
    draws = draws.reshape(rounds, 3, pairs)
    boot_a = draws[:, 0] + 0.5 * draws[:, 2]
    boot_n = draws.sum(axis=1)
    start = np.repeat(theta_hat, rounds, axis=0)
    theta, stragglers = _chord(start, boot_a, boot_n, design, inv_hess, max_iter=40)
    if stragglers.size:
        theta[stragglers] = _newton(
            theta_hat.repeat(stragglers.size, axis=0), boot_a[stragglers], boot_n[stragglers],
            i, j, max_iter=500,
        )  # fmt: skip
    boot = BASE_RATING + ELO_PER_NAT * (theta - theta.mean(axis=1, keepdims=True))
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)

    rating, ci_low, ci_high = nan.copy(), nan.copy(), nan.copy()
    rating[idx] = BASE_RATING + ELO_PER_NAT * (theta_hat[0] - theta_hat[0].mean())
    ci_low[idx], ci_high[idx] = low, high
    rank = np.zeros(size, np.int64)
    rank[idx] = _percentile_rank(low, high)
    covariance = np.full((size, size), np.nan)
    covariance[np.ix_(idx, idx)] = cov_sub
    disconnected = [int(x) for x in np.flatnonzero(present & ~main)]
    return BoardFit(rating, ci_low, ci_high, rank, votes, win_rate, main, disconnected, covariance)
