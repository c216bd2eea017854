"""Battle sampling weights: which pair of models the next voter should judge.

Pure maths: numpy only, no Django.  The live server (``arena.matchmaking``) and the
simulation in ``bench/matchmaking.py`` call the same two functions.

Contract of :func:`pair_weights`:

* ``pairs`` are the *eligible* pairs of model ids (retired models and models without two
  comparable clips are left out by the caller; a pair not given is never drawn).  A pair is an
  unordered comparison: ``(a, b)`` and ``(b, a)`` are the same pair, and the first spelling
  given is the key returned.
* ``ratings`` are Elo points and ``covariance`` Elo^2, as produced by
  ``arena.ratings.fit_board`` for one board (``BoardFit.rating`` / ``BoardFit.covariance``).
  ``covariance`` maps ``(model_a, model_b)`` to the covariance of their fitted ratings (either
  order may be given; a missing or non-finite off-diagonal entry counts as 0).  ``votes`` maps
  a model id to its games on the board.
* A model with no finite rating, no finite positive variance, or a variance above
  ``prior_sd**2`` is treated as *new*: rating = the mean of the known ratings, variance
  ``prior_sd**2``, uncorrelated with the others.
* The result maps every distinct pair to its probability of being drawn; the probabilities
  sum to 1 and each is at least ``floor / len(pairs)`` (uniform exploration, so every
  eligible pair keeps being sampled).  The same inputs always give the same weights.

The rule.  Treat the ratings as Gaussian with covariance S (Elo^2).  One more vote on pair
(i, j), with d = e_i - e_j, adds w * d d^T to the information, where
w = p (1 - p) (ln 10 / 400)^2 per Elo^2 is the Bradley-Terry curvature of one vote (p is the
win probability, moderated for the uncertainty of the pair's difference).  By
Sherman-Morrison every model's variance then drops by

    red_k = w * (S d)_k^2 / (1 + w * d^T S d)            (Elo^2, all pairs at once)

and the pair's gain is the drop in the sum of log variances, sum_k -log(1 - red_k / S_kk):
the log of the geometric mean of the interval widths, which counts every model's *relative*
progress equally.  The plain sum of variances (A-optimality) spends most votes on the few
least certain models; a pure median target would starve the extremes (the top of the board
included); the log treats all models alike and, like the median, is not pulled by outliers.
A new model's first votes cut its variance by a large fraction, so the rule samples new
models heavily by itself; models below ``listed_at`` votes get their pairs' gain multiplied
by ``1 + new_boost`` on top, so that they reach the listing threshold quickly.  The active
part (``1 - floor``) is shared in proportion to the gains, except that no model may appear in
more than ``max_share`` of the battles (a newcomer would otherwise fill most battles until the
next refit, a pattern voters could notice and use to tell the models apart).

What it buys (``bench/matchmaking.py``, 30 models, sd 120 Elo): a few per cent fewer votes
for the median interval width, the top five settled in fewer votes, and a newcomer listed and
narrowed several times faster than under uniform pairs.  The width saving is small because a
vote's information p (1 - p) varies little between the pairs of such a board (0.25 at equal
strength, ~0.22 at 120 Elo apart): no rule that keeps sampling every model can do much better.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

Pair = tuple[int, int]

ELO_SCALE = np.log(10.0) / 400.0  # natural log-odds per Elo point
DEFAULT_PRIOR_SD = 200.0  # Elo: the spread of a new model's rating before any vote


class _Random(Protocol):
    def random(self) -> float: ...


def _unique_pairs(pairs: Sequence[Pair]) -> list[Pair]:
    seen: set[Pair] = set()
    out: list[Pair] = []
    for a, b in pairs:
        if a == b:
            raise ValueError(f"a model cannot meet itself: {(a, b)!r}")
        key = (a, b) if a < b else (b, a)
        if key not in seen:
            seen.add(key)
            out.append((a, b))
    return out


def _lookup(covariance: Mapping[Pair, float], a: int, b: int) -> float:
    value = covariance.get((a, b))
    if value is None:
        value = covariance.get((b, a))
    return float("nan") if value is None else float(value)


def _prior(
    models: list[int],
    ratings: Mapping[int, float],
    covariance: Mapping[Pair, float],
    prior_sd: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ratings in Elo, covariance in Elo^2, new-model mask) for ``models`` in order."""
    m = len(models)
    rating = np.array([float(ratings.get(k, np.nan)) for k in models])
    var = np.array([_lookup(covariance, k, k) for k in models])
    known = np.isfinite(rating) & np.isfinite(var) & (var > 0) & (var <= prior_sd**2)
    ids = [models[x] for x in np.flatnonzero(known)]
    block = np.array([[_lookup(covariance, a, b) for b in ids] for a in ids], float)
    block = block.reshape(len(ids), len(ids))
    block = np.where(np.isfinite(block), block, np.where(np.isfinite(block.T), block.T, 0.0))
    cov = np.zeros((m, m))
    cov[np.ix_(known, known)] = (block + block.T) / 2
    centre = rating[known].mean() if known.any() else 0.0
    rating[~known] = centre
    cov[~known, ~known] = prior_sd**2
    return rating, cov, ~known


def _cap_models(
    share: np.ndarray, i: np.ndarray, j: np.ndarray, m: int, floor: float, cap: float
) -> np.ndarray:
    """Scale the active shares so that no model is in more than ``cap`` of the battles.

    A model's battle share is floor * (its pairs) / P + (1 - floor) * (its active share).
    The cap is raised to twice a model's uniform share where that is higher (small boards).
    The pairs of a model over the cap are scaled down to it; the freed share goes to the pairs
    of uncapped models in proportion to their gains, until no model is over.
    """
    if floor >= 1.0 or cap >= 1.0:
        return share
    uniform = (np.bincount(i, minlength=m) + np.bincount(j, minlength=m)) / i.size
    cap = np.maximum(cap, 2.0 * uniform)  # small boards: never below twice the uniform share
    fixed = floor * uniform
    room = np.maximum(cap - fixed, 0.0) / (1.0 - floor)  # active share a model may take
    capped = np.zeros(m, bool)
    for _ in range(4 * m):
        load = np.bincount(i, share, m) + np.bincount(j, share, m)
        over = load > room * (1 + 1e-9)
        if not over.any():
            break
        capped |= over
        scale = np.where(over, room / np.maximum(load, 1e-300), 1.0)
        share = share * np.minimum(scale[i], scale[j])
        free = ~(capped[i] | capped[j])
        if not free.any() or share[free].sum() <= 0:
            return share / share.sum()  # nowhere to put the rest: the cap cannot hold
        share[free] *= 1.0 + (1.0 - share.sum()) / share[free].sum()
    return share


def pair_weights(
    pairs: Sequence[Pair],
    *,
    ratings: Mapping[int, float],
    covariance: Mapping[Pair, float],
    votes: Mapping[int, int],
    listed_at: int = 50,
    floor: float = 0.2,
    new_boost: float = 1.0,
    prior_sd: float = DEFAULT_PRIOR_SD,
    max_share: float = 0.25,
) -> dict[Pair, float]:
    """Probability of drawing each eligible pair next; see the module docstring.

    ``listed_at``: games below which a model counts as unlisted and gets the ``new_boost``.
    ``floor`` in [0, 1]: the share spread uniformly over all pairs.  ``prior_sd``: Elo.
    ``max_share``: the largest fraction of battles one model should appear in (a newcomer
    would otherwise take most battles for a refit interval, which voters would notice); never
    below twice the model's uniform share, and never by cutting into the floor.
    """
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"floor must lie in [0, 1], got {floor}")
    if new_boost < 0:
        raise ValueError(f"new_boost must be non-negative, got {new_boost}")
    unique = _unique_pairs(pairs)
    if len(unique) <= 1:
        return {pair: 1.0 for pair in unique}
    models = sorted({k for pair in unique for k in pair})
    index = {k: x for x, k in enumerate(models)}
    rating, cov, _ = _prior(models, ratings, covariance, prior_sd)
    i = np.array([index[a] for a, _ in unique])
    j = np.array([index[b] for _, b in unique])

    s_d = cov[:, i] - cov[:, j]  # (M, P): S d for every pair, Elo^2
    spread = np.maximum(s_d[i, np.arange(i.size)] - s_d[j, np.arange(i.size)], 0.0)  # d^T S d
    # Expected win probability under the uncertainty of the difference (probit approximation).
    logit = ELO_SCALE * (rating[i] - rating[j]) / np.sqrt(1.0 + np.pi * ELO_SCALE**2 * spread / 8)
    p = 1.0 / (1.0 + np.exp(-logit))
    w = p * (1.0 - p) * ELO_SCALE**2  # one vote's information, 1/Elo^2
    red = w * s_d**2 / (1.0 + w * spread)  # (M, P) variance drops, Elo^2
    var = np.maximum(np.diag(cov), 1e-12)[:, None]
    gain = -np.log1p(-np.minimum(red / var, 1.0 - 1e-12)).sum(axis=0)

    few = np.array([int(votes.get(k, 0)) < listed_at for k in models])
    gain *= 1.0 + new_boost * (few[i] | few[j])
    total = gain.sum()
    share = gain / total if total > 0 and np.isfinite(total) else np.full(i.size, 1.0 / i.size)
    share = _cap_models(share, i, j, len(models), floor, max_share)
    prob = floor / i.size + (1.0 - floor) * share
    prob /= prob.sum()
    return {pair: float(x) for pair, x in zip(unique, prob, strict=True)}


def draw_pair(weights: Mapping[Pair, float], rng: _Random) -> tuple[Pair, float]:
    """Draw one pair with probability proportional to its weight; returns (pair, probability).

    ``rng`` is anything with a ``random()`` method returning a float in [0, 1) (a
    ``numpy.random.Generator``, ``random.Random`` or ``random.SystemRandom``).  The probability
    returned is the pair's normalised weight, the value a battle stores.
    """
    pairs = [pair for pair, w in weights.items() if w > 0]
    if not pairs:
        raise ValueError("no pair has a positive weight")
    cumulative = np.cumsum([weights[pair] for pair in pairs]).tolist()
    total = cumulative[-1]
    k = min(bisect.bisect_right(cumulative, rng.random() * total), len(pairs) - 1)
    return pairs[k], weights[pairs[k]] / total
