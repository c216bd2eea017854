"""Tail probabilities of sums of independent discrete variables. Pure NumPy/SciPy.

votes.detection sums one small discrete variable per vote, often over few votes and with
skewed per-vote distributions, where a normal approximation of the sum makes the far tail
(the one a suspicion of 3 to 5 reads) tens to hundreds of times too thin. Two tools:

- `lattice_sum`: the exact distribution of a sum of variables on 0, 1, ..., k, by
  convolution (the pull test's score, in half points);
- `saddlepoint_sf`: P(S >= x) for variables with arbitrary real values (the consensus
  test's -2 ln p) by the Lugannani-Rice formula, whose relative error stays small deep
  into the tail, and exact at the largest possible sum.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

# Values closer than this count as one atom (the statistics are sums of a few dozen
# logarithms at most per unit, far coarser than this).
ATOL = 1e-9


def lattice_sum(pmfs: np.ndarray) -> np.ndarray:
    """The distribution of a sum of independent variables on 0..k-1; row i is P(X_i = j).

    Returns an array of length n * (k - 1) + 1. Convolves in a balanced tree, so a few
    thousand rows cost a few milliseconds; all terms are non-negative, so the tails keep
    their relative precision (an FFT would bury them under its rounding noise).
    """
    parts = [row for row in np.asarray(pmfs, dtype=float)]
    if not parts:
        return np.ones(1)
    while len(parts) > 1:
        merged = [np.convolve(a, b) for a, b in zip(parts[::2], parts[1::2], strict=False)]
        parts = merged + parts[len(merged) * 2 :]
    return parts[0]


def lattice_tails(pmf: np.ndarray, observed: int) -> tuple[float, float]:
    """P(S >= observed) and P(S <= observed) for S with this distribution on 0, 1, ..."""
    upper = float(pmf[observed:].sum())
    lower = float(pmf[: observed + 1].sum())
    return min(upper, 1.0), min(lower, 1.0)


def _cgf(t: float, values: np.ndarray, logp: np.ndarray) -> tuple[float, float, float]:
    """K(t), K'(t), K''(t) of the sum, computed through log-sum-exp (t reaches tens)."""
    a = logp + t * values
    top = a.max(axis=1, keepdims=True)
    w = np.exp(a - top)
    total = w.sum(axis=1, keepdims=True)
    w /= total  # each row: the tilted distribution of that variable
    k0 = float((top[:, 0] + np.log(total[:, 0])).sum())
    means = (w * values).sum(axis=1)
    # The variance around each row's mean, not E[X^2] - E[X]^2, which cancels badly.
    k2 = float((w * (values - means[:, None]) ** 2).sum())
    return k0, float(means.sum()), k2


def saddlepoint_sf(values: np.ndarray, probs: np.ndarray, observed: float) -> float:
    """P(S >= observed) where S = sum_i X_i, P(X_i = values[i, j]) = probs[i, j].

    Rows are independent variables; a row may carry zero-probability padding. Uses the
    Lugannani-Rice approximation (Daniels 1987), which smooths over the atoms of a
    discrete sum much as a mid-p value does; at or beyond the largest possible sum the
    answer is exact (the probability that every variable takes its largest value).
    """
    values = np.asarray(values, dtype=float)
    probs = np.asarray(probs, dtype=float)
    live = probs > 0
    values = np.where(live, values, 0.0)
    logp = np.where(live, np.log(np.where(live, probs, 1.0)), -np.inf)
    high = np.where(live, values, -np.inf).max(axis=1)
    low = np.where(live, values, np.inf).min(axis=1)
    # Variables with a single value only shift the sum.
    fixed = high - low <= ATOL
    observed -= float(low[fixed].sum())
    values, logp, high, low = values[~fixed], logp[~fixed], high[~fixed], low[~fixed]
    if observed <= low.sum() + ATOL:
        return 1.0
    if observed >= high.sum() - ATOL * max(len(high), 1):
        if observed > high.sum() + ATOL * max(len(high), 1):
            return 0.0
        at_top = values >= high[:, None] - ATOL
        return float(np.exp(np.where(at_top, logp, -np.inf)).sum(axis=1).prod())
    _, mean, var = _cgf(0.0, values, logp)
    if abs(observed - mean) <= 1e-7 * math.sqrt(var):
        return _sf_at_mean(values, logp, var)
    t = _solve(values, logp, observed, mean)
    k0, _, k2 = _cgf(t, values, logp)
    w = math.copysign(math.sqrt(max(2.0 * (t * observed - k0), 0.0)), t)
    u = t * math.sqrt(k2)
    sf = stats.norm.sf(w) + stats.norm.pdf(w) * (1.0 / u - 1.0 / w)
    return float(min(max(sf, 0.0), 1.0))


def _solve(values: np.ndarray, logp: np.ndarray, observed: float, mean: float) -> float:
    """The saddlepoint: K'(t) = observed (K' rises from the least to the largest sum)."""
    step = 1.0 if observed > mean else -1.0
    edge = step
    while (_cgf(edge, values, logp)[1] - observed) * step < 0:
        edge *= 2.0
    return optimize.brentq(
        lambda t: _cgf(t, values, logp)[1] - observed, 0.0, edge, xtol=1e-13, rtol=1e-13
    )


def _sf_at_mean(values: np.ndarray, logp: np.ndarray, var: float) -> float:
    """Lugannani-Rice's limit at the mean: 1/2 less a skewness term."""
    p = np.exp(logp)
    centred = values - (p * values).sum(axis=1, keepdims=True)
    k3 = float((p * centred**3).sum())
    return 0.5 - k3 / (6.0 * math.sqrt(2.0 * math.pi) * var**1.5)
