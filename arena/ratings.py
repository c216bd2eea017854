"""Bradley–Terry leaderboards on the Elo scale, with a vote bootstrap.

Pure maths: numpy and scipy (and numba kernels for updating a bootstrap), no Django.  Units and
contracts:

* Ratings are Elo points: P(i beats j) = 1 / (1 + 10 ** ((R_j - R_i) / 400)), centred so that
  the mean rating of the fitted models is exactly ``BASE_RATING`` (1000).
* A tie and a "both bad" vote each count as half a win for both sides.
* ``rating`` is the maximum-likelihood fit on the aggregated counts, under a Gaussian prior
  (precision ``PRIOR_PRECISION`` per model, in 1/nat^2) so weak that it moves a well-identified
  fit by far less than 0.01 Elo; it only exists to keep separated data (a model that never
  loses) finite.
* ``ci_low``/``ci_high`` are the 2.5 % and 97.5 % percentiles of a bootstrap over votes: each
  round draws a multinomial resample of the vote counts over the cells (ordered-pair wins and
  pair ties) with the same total, and refits the exact MLE.  Deterministic given ``seed``;
  or, given an earlier fit's ``previous`` replicates, those resamples updated exactly to the
  new counts (the same distribution, without drawing 1000 resamples afresh).
* Everything depends only on the counts, never on vote order (intervals from an updated
  bootstrap also on the earlier draws, within Monte Carlo noise).
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from arena import btsolve, chord, resample
from arena.btsolve import ELO_PER_NAT, PRIOR_PRECISION  # noqa: F401  (public names)

_T = TypeVar("_T")
_R = TypeVar("_R")

BASE_RATING = 1000.0
_F32_MAX_COND = 1e4  # bootstrap fits run in float32 unless the fit is this badly conditioned
_PERCENTILES = (2.5, 97.5)  # ci_low, ci_high


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
    replicates: Replicates | None = None


@dataclass(frozen=True)
class Replicates:
    """The bootstrap behind a fit, kept so that the next fit can update it (see fit_board).

    ``models`` are the fitted models' indices in the input matrices; ``cells`` the counts that
    were resampled, for the pairs i < j of those models in ``np.triu_indices`` order: wins of the
    lower index, wins of the higher, ties; ``theta`` (rounds, fitted models) the refitted
    log-strengths in nats, centred: each within TOL_BOOT_ELO of its resample's MLE, except in
    rows that could not move a reported percentile and stopped earlier (see chord.refit; they
    only serve as where the next refit starts); ``rate`` the largest chord contraction seen in
    that refit (the next refit bounds its first steps with it); ``centre`` (1, fitted models)
    the point fit the thetas were refitted from.  The resamples themselves (``draws``:
    (rounds, cells), one resample per row) are kept as int16 offsets from ``cells`` when they
    fit (a resampled cell strays ~sqrt(count) from its count: they do below ~3e7 votes a
    cell), which halves the memory a kept board takes (2.6 MB for 1000 rounds of 30 models).
    """

    models: np.ndarray
    cells: np.ndarray
    stored: np.ndarray
    theta: np.ndarray
    rate: float | None = None
    centre: np.ndarray | None = None

    @classmethod
    def keep(
        cls,
        models: np.ndarray,
        cells: np.ndarray,
        draws: np.ndarray,
        theta: np.ndarray,
        rate: float | None = None,
        centre: np.ndarray | None = None,
    ) -> Replicates:
        offsets = draws - cells.astype(np.int32)
        if offsets.size and np.abs(offsets).max() <= np.iinfo(np.int16).max:
            return cls(models, cells, offsets.astype(np.int16), theta, rate, centre)
        return cls(models, cells, draws, theta, rate, centre)

    @property
    def rounds(self) -> int:
        return self.stored.shape[0]

    def resamples(self, rows: slice = slice(None)) -> np.ndarray:
        """(rows, cells) int32 resampled counts."""
        part = self.stored[rows]
        if part.dtype == np.int16:
            return part + self.cells.astype(np.int32)
        return part

    @property
    def draws(self) -> np.ndarray:
        return self.resamples()


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


_resample = resample.multinomial  # exact Multinomial(sum, counts / sum) rows


_MIN_PART_ROUNDS = 100  # bootstrap rounds are split in two parts from 200 rounds on ...
_MIN_SPLIT_DRAWS = 100_000  # ... when the resample has at least this many cell draws
_POOL: tuple[int, ThreadPoolExecutor] | None = None
_POOL_PREFIX = "ratings"


def parallel_map(func: Callable[[_T], _R], jobs: Iterable[_T]) -> list[_R]:
    """``[func(job) for job in jobs]``, on two threads when there are two jobs and cores.

    numpy releases the GIL in the large random fills, gathers, ufuncs and products that make
    up a fit, so two jobs take ~0.55x the time of one thread on 2 cores.  Called from one of
    its own threads (a board fitted in parallel splitting its bootstrap), it runs the jobs in
    that thread.  The pool is created per process (a forked worker must not inherit its
    parent's threads).
    """
    global _POOL
    jobs = list(jobs)
    inside = threading.current_thread().name.startswith(_POOL_PREFIX)
    # os.cpu_count() reads /sys (~6 us): last, as a bootstrap refit calls this every pass.
    if len(jobs) < 2 or inside or (os.cpu_count() or 1) < 2:
        return [func(job) for job in jobs]
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=2, thread_name_prefix=_POOL_PREFIX))
    return list(_POOL[1].map(func, jobs))


class _OffsetOverflow(Exception):
    """An updated resample strays more than int16 from its counts."""


def _percentile_rank(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return 1 + (low[None, :] > high[:, None]).sum(axis=1)


def fit_board(
    wins: np.ndarray,
    ties: np.ndarray,
    *,
    rounds: int = 1000,
    seed: int = 0,
    previous: Replicates | None = None,
) -> BoardFit:
    """Fit one leaderboard from aggregated vote counts.

    ``wins[i, j]``: votes in which model i beat model j (M x M whole non-negative counts, zero
    diagonal).  ``ties[i, j]``: ties plus both-bad votes between i and j, given either as a
    symmetric matrix (each vote stored at [i, j] and [j, i]) or as an upper-triangular one (each
    vote stored once, at i < j); anything else raises ValueError, as do negative, NaN,
    fractional or mis-shaped counts.  ``rounds`` >= 1 bootstrap rounds, deterministic in
    ``seed``.  See the module docstring for the statistical contract.

    ``previous`` is the ``replicates`` of an earlier fit of the same board (same matrix
    indices for the same models).  When the same models are fitted and the counts changed by
    few votes, its resamples are updated to the new counts (:func:`resample.update`: each row
    is again an exact multinomial resample, now of the new counts) and its refits warm-start
    the new ones, instead of drawing and fitting afresh.  The intervals then follow from the
    earlier draws rather than from ``seed`` alone; anything else is unchanged.
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

    if np.count_nonzero(games) == size * (size - 1):  # every pair met: one component
        label = np.zeros(size, np.int64)
    else:
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
    a = beats + 0.5 * tied
    n = beats + loses + tied

    theta_hat = btsolve.newton(np.zeros((1, m)), a[None], n[None], i, j, max_iter=500)
    # Orient every pair so that its first model is the stronger one: d_hat >= 0 below.
    flip = theta_hat[0, i] < theta_hat[0, j]
    i, j = np.where(flip, j, i), np.where(flip, i, j)
    beats, loses = np.where(flip, loses, beats), np.where(flip, beats, loses)
    a = beats + 0.5 * tied
    design = btsolve.pair_design(m, i, j)
    _, p_hat = btsolve.gradient(theta_hat, a[None], n[None], design)
    inv_hess = np.linalg.inv(btsolve.hessians(n * p_hat * (1.0 - p_hat), i, j, m)[0])
    centre = np.eye(m) - 1.0 / m
    cov_sub = ELO_PER_NAT**2 * centre @ inv_hess @ centre

    # Resampled cells, laid out over every pair of the fitted models (see Replicates); the
    # fits read them oriented like the pairs above.
    everyone = np.triu_indices(m, 1)
    span = everyone[0].size
    canon = np.concatenate([sub_w[everyone], sub_w[everyone[::-1]], sub_t[everyone]]).astype(
        np.int64
    )
    column = np.flatnonzero(played)
    strong = np.where(flip, column + span, column)
    weak = np.where(flip, column, column + span)
    tie_col = column + 2 * span
    reuse = (
        previous is not None
        and np.array_equal(previous.models, idx)
        and previous.stored.shape == (rounds, canon.size)
        and resample.update_is_cheaper(previous.cells, canon)
    )
    if reuse:
        assert previous is not None
        plan = nonzero = None
        seed_seq = np.random.SeedSequence([seed, zlib.crc32(canon.tobytes())])
    else:
        nonzero = np.flatnonzero(canon)  # empty cells can never be drawn
        plan = resample.prepare(canon[nonzero])  # shared by both bootstrap parts
        seed_seq = np.random.SeedSequence(seed)
    # Resampled fits run in float32 (exp and the products cost a third of float64's); they agree
    # with float64 to ~1e-5 Elo.  cond ~ (largest per-model curvature) / (smallest centred
    # curvature) is ~10 for ordinary boards; near separation (an unbeaten model, ~1e5-1e6) the
    # float32 rounding noise of the other models' gradients leaks into the flat direction above
    # the convergence tolerance, so such boards stay in float64.
    load = np.bincount(i, n, m) + np.bincount(j, n, m)
    cond = float(np.linalg.norm(cov_sub, 2) / ELO_PER_NAT**2 * load.max())
    dtype = np.float32 if cond <= _F32_MAX_COND and n.sum() < 2**24 else np.float64
    e_hat = np.exp(theta_hat[0, j] - theta_hat[0, i]).astype(dtype)
    design_dt = design.astype(dtype)
    if reuse:
        from arena import resample_kernels  # numba: compiled once, cached on disk

        assert previous is not None
        before = previous.stored
        if before.dtype != np.int16:
            before = before - previous.cells
        lost = np.maximum(previous.cells - canon, 0)
        kept_cum = np.cumsum(previous.cells - lost)
        added_cell = np.repeat(np.arange(canon.size), np.maximum(canon - previous.cells, 0))
        stored = np.empty((rounds, canon.size), np.int16)
        previous_hat = theta_hat if previous.centre is None else previous.centre
    else:
        kept = np.empty((rounds, canon.size), np.int32)

    def resampled(part: tuple[slice, np.random.SeedSequence]) -> chord.ChordRows:
        """A part's resamples (drawn, or updated from the previous ones), ready to refit."""
        rows, seq = part
        rng = np.random.default_rng(seq)
        size = rows.stop - rows.start
        if reuse:
            # resample.update and the oriented wins in one compiled pass per row, on offsets.
            assert previous is not None
            boot_a = np.empty((size, column.size), dtype)
            boot_b = np.empty_like(boot_a)
            fits = resample_kernels.update_offsets(
                before[rows], previous.cells, canon, lost, kept_cum, added_cell,
                strong, weak, tie_col, stored[rows], boot_a, boot_b, rng,
            )  # fmt: skip
            if not fits:
                raise _OffsetOverflow
            # Each resample keeps its offset from the point fit: the new votes move the point
            # fit and the resamples alike (a third less to refit than from the old thetas).
            start = previous.theta[rows] - previous_hat
        else:
            draws = np.zeros((size, canon.size), np.int64)
            draws[:, nonzero] = resample.draw(plan, size, rng)
            kept[rows] = draws
            start = np.zeros((size, m))
            half_tie = 0.5 * draws[:, tie_col].astype(dtype)
            boot_a = draws[:, strong].astype(dtype) + half_tie
            boot_b = draws[:, weak].astype(dtype) + half_tie
        return chord.ChordRows(start, boot_a, boot_b, e_hat, theta_hat, design_dt, inv_hess)

    def exact(block: chord.ChordRows) -> np.ndarray:
        """The part's refitted thetas, rows the chord gave up on refitted by exact Newton."""
        theta = theta_hat + block.delta
        failed = np.flatnonzero(block.failed)
        if failed.size:
            fa = block.a[failed].astype(np.float64)
            # From the chord's last good point: closer than the point fit where it was slow.
            theta[failed] = btsolve.newton(
                theta[failed], fa, fa + block.b[failed], i, j, max_iter=500
            )
        return theta

    # Rounds are split into fixed parts with their own spawned streams, so the result depends
    # only on (counts, rounds, seed), however many threads run the parts.
    # Small boards stay on one thread: their time is Python overhead, which threads only add to.
    cells = canon.size if reuse else nonzero.size
    parts = 2 if rounds >= 2 * _MIN_PART_ROUNDS and cells * rounds >= _MIN_SPLIT_DRAWS else 1
    bounds = np.linspace(0, rounds, parts + 1).astype(np.int64)
    rows = [slice(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    jobs = list(zip(rows, seed_seq.spawn(parts), strict=True))
    try:
        blocks = parallel_map(resampled, jobs)
    except _OffsetOverflow:  # a cell of > ~3e7 votes: draw afresh, kept as int32
        return fit_board(wins, ties, rounds=rounds, seed=seed)
    # Only the percentiles are reported: rows that cannot move one stop early (chord.refit).
    rate = chord.refit(
        blocks, _PERCENTILES, parallel_map, rate=previous.rate if reuse and previous else None
    )
    theta = np.concatenate(parallel_map(exact, blocks))
    boot = BASE_RATING + ELO_PER_NAT * (theta - theta.mean(axis=1, keepdims=True))
    low, high = np.percentile(boot, _PERCENTILES, axis=0)

    rating, ci_low, ci_high = nan.copy(), nan.copy(), nan.copy()
    rating[idx] = BASE_RATING + ELO_PER_NAT * (theta_hat[0] - theta_hat[0].mean())
    ci_low[idx], ci_high[idx] = low, high
    rank = np.zeros(size, np.int64)
    rank[idx] = _percentile_rank(low, high)
    covariance = np.full((size, size), np.nan)
    covariance[np.ix_(idx, idx)] = cov_sub
    disconnected = [int(x) for x in np.flatnonzero(present & ~main)]
    replicates = (
        Replicates(idx, canon, stored, theta, rate, theta_hat)
        if reuse
        else Replicates.keep(idx, canon, kept, theta, rate, theta_hat)
    )
    return BoardFit(
        rating, ci_low, ci_high, rank, votes, win_rate, main, disconnected, covariance, replicates
    )
