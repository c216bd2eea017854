"""Bootstrap refits by chord steps, iterated only as far as the reported percentiles need.

:class:`ChordRows` advances the refits of one block of bootstrap rows a pass at a time;
:func:`refit` drives the blocks of one bootstrap.  Each row stops as soon as either

* its remaining error is below ``TOL_BOOT_ELO`` (every row ends within it of its exact MLE), or
* it cannot move any reported percentile: for every model, everywhere its value can still go
  lies clear of the order statistics that the percentile interpolates between (a "frozen"
  row; its theta may be off by more than the tolerance, but not the percentiles).

How far a row can still move is bounded by its last step times rate / (1 - rate), with rate
the contraction of the steps to come.  Chord steps contract linearly at a rate that is much
the same for every resample of a board (0.02-0.1 on 30k-3M-vote boards, up to 0.3 on 7k), so
the rate is taken as ``RATE_SAFETY`` times the largest contraction (largest step over the
previous one) seen on the board, capped at 0.9 (the rate beyond which a row is handed to exact
Newton); before one is seen, a warm-started refit uses the rate seen when its start was
fitted, and a fresh one ends rows by their last step alone until one is.  Pure numpy, with
the percentile bands in a compiled kernel (:mod:`arena.band_kernels`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from arena import btsolve
from arena.btsolve import ELO_PER_NAT, PRIOR_PRECISION, matmul

# Measured on the warm refits of the 1M-vote bench boards (7.5k-490k votes a board): with 1.5,
# the error left after a step exceeded its bound in 7 of 62 543 rows, by at most 13 % (with
# 1.0: 313 rows, by up to 78 %; the first contractions of a fresh refit are also ~1.5x smaller
# than the later ones); frozen rows changed no percentile even with bounds a quarter of these.
RATE_SAFETY = 1.5
_MAX_RATE = 0.9  # a row whose step shrinks by less is handed to exact Newton
_MIN_RATE = 0.01  # a floor for the rate (few rows seen); measured down to 0.008 (3M votes)
_CHECK_SHARE = 0.25  # bands are checked after a pass while at least this share of rows iterate


class ChordRows:
    """The chord refits of one block of bootstrap rows, advanced one pass at a time.

    Newton with one shared Hessian inverse for every row: ``delta`` (R, m) float64 is the offset
    of each row from ``theta_hat`` (nats).  The pair log-odds are d = d_hat + design @ delta with
    the pairs oriented so that d_hat >= 0, and ``e_hat`` = exp(-d_hat); so exp(-d) = e_hat *
    exp(-design @ delta) never overflows and keeps its relative precision even in float32.  The
    score residual of a pair is written as a * (1 - p) - b * p = (a * e - b) / (1 + e) (a, b:
    effective wins of each side), which has no cancellation when p is near 0 or 1.  The
    arithmetic runs in the dtype of ``a``; ``delta``, the prior term and the step stay float64.

    Resamples sit close to the point fit, so this converges linearly at a fast rate while
    skipping R batched solves per step.  ``last``: each row's largest step so far (nats; inf
    before the first); ``ratio``: the largest contraction seen; ``done``: rows that converged
    (largest step below ``stop``); ``failed``: rows that diverged or stalled (e.g. a separated
    resample), their delta left at the last good step, for exact Newton; ``active``: the rows
    the next :meth:`step` iterates (every pending row unless :func:`refit` freezes some).
    """

    def __init__(
        self,
        delta: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
        e_hat: np.ndarray,
        theta_hat: np.ndarray,
        design: np.ndarray,
        inv_hess: np.ndarray,
    ) -> None:
        self.delta = np.array(delta, dtype=np.float64)
        self.a, self.b, self.e_hat = a, b, e_hat
        # -design.T: the product is the exponent -(design @ delta), without a pass to negate.
        self.design, self.minus_design_t = design, np.ascontiguousarray(-design.T)
        # step = centred(gradient) @ inv_hess, the gradient being the data term minus
        # PRIOR_PRECISION * (theta_hat + delta); the centring (theta stays centred: rounding must
        # not move the gauge) and the prior go into the matrices, which saves four passes.
        m = inv_hess.shape[0]
        self.solve = (np.eye(m) - 1.0 / m) @ inv_hess
        self.prior_solve = PRIOR_PRECISION * self.solve
        self.prior_hat = theta_hat @ self.prior_solve
        rows = self.delta.shape[0]
        self.last = np.full(rows, np.inf)
        self.ratio = 0.0
        self.stop = btsolve.TOL_BOOT_ELO / ELO_PER_NAT
        self.done = np.zeros(rows, bool)
        self.failed = np.zeros(rows, bool)
        self.active = np.arange(rows)
        self._zero = not np.any(self.delta)  # delta = 0: exp(-d) is e_hat itself
        # Work arrays for every pass: fresh (rows, pairs) temporaries cost page faults.
        self._e = np.empty_like(a)
        self._resid = np.empty_like(a)
        self._gathered: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def rows(self) -> int:
        return self.delta.shape[0]

    def _counts(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """a[rows], b[rows], gathered again only when the active rows changed."""
        if rows.size == self.rows:
            return self.a, self.b
        got = self._gathered
        if got is None or not np.array_equal(got[0], rows):
            got = (rows, np.take(self.a, rows, axis=0), np.take(self.b, rows, axis=0))
            self._gathered = got
        return got[1], got[2]

    def step(self) -> None:
        """One chord step for every active row."""
        rows = self.active
        count = rows.size
        if count == 0:
            return
        every = count == self.rows
        a_c, b_c = self._counts(rows)
        cur = self.delta if every else self.delta[rows]
        e, resid = self._e[:count], self._resid[:count]
        if self._zero:
            e[:] = self.e_hat
            self._zero = False
        else:
            matmul(cur.astype(a_c.dtype), self.minus_design_t, out=e)
            np.exp(e, out=e)
            e *= self.e_hat
        np.multiply(a_c, e, out=resid)
        resid -= b_c
        e += 1.0
        resid /= e
        step = matmul(matmul(resid, self.design), self.solve)
        step -= matmul(cur, self.prior_solve)
        step -= self.prior_hat
        big = np.abs(step).max(axis=1)
        last = self.last[rows]
        # Divergence or stalling (e.g. a separated resample) is handed to exact Newton.
        bad = ~(big < _MAX_RATE * last) | (big > btsolve._MAX_STEP_NAT)
        if bad.any():
            step[bad] = 0.0
            big = np.where(bad, last, big)
            self.failed[rows[bad]] = True
        seen = ~bad & (last < np.inf)
        if seen.any():
            self.ratio = max(self.ratio, float((big[seen] / last[seen]).max()))
        if every:
            self.delta += step
            self.last = big
        else:
            self.delta[rows] = cur + step
            self.last[rows] = big
        finished = ~bad & (big < self.stop)
        self.done[rows[finished]] = True
        self.active = rows[~bad & ~finished]

    def settle(self, stop: float) -> None:
        """End rows whose largest step is below ``stop`` (nats); reopen those it no longer ends."""
        if stop == self.stop:  # step() ended the rows below it
            return
        if stop < self.stop:  # the rate grew: a row ended by the old stop may be too far out
            reopen = self.done & (self.last >= stop)
            self.done &= ~reopen
            self.active = np.union1d(self.active, np.flatnonzero(reopen))
        self.stop = stop
        self.done |= ~self.failed & (self.last < stop)
        self.active = self.active[self.last[self.active] >= stop]

    def pending(self) -> np.ndarray:
        return ~self.done & ~self.failed


def warm_up() -> None:
    """Compile (first run after an install, ~2 s) or load the percentile band kernel."""
    from arena import band_kernels

    band_kernels.near_percentiles(np.zeros((1, 2)), np.zeros(2), percentile_ranks(2, (50.0,)))


def percentile_ranks(rows: int, q: tuple[float, ...]) -> np.ndarray:
    """(len(q), 2) int64: the order statistics (0-based) that np.percentile's default (linear)
    interpolation reads for each q, lower and upper."""
    # The virtual index exactly as np.percentile computes it (q / 100 * (n - 1)).
    low = np.floor(np.true_divide(np.asarray(q, float), 100) * (rows - 1)).astype(np.int64)
    return np.stack([low, np.minimum(low + 1, rows - 1)], axis=1)


def refit(
    blocks: list[ChordRows],
    q: tuple[float, ...],
    run: Callable[[Callable[[ChordRows], None], list[ChordRows]], object],
    rate: float | None = None,
    max_iter: int = 40,
) -> float | None:
    """Chord steps on the blocks (the rows of one bootstrap, in order) until every row is done.

    A row is done once its remaining error is below TOL_BOOT_ELO, or frozen where it is once
    it cannot move a ``q`` percentile of any column (over all blocks' rows, as np.percentile
    reads them): every row's final value lies within its bound (last step times rate /
    (1 - rate)) of its current one, so for order statistics k0 <= k1 of a column, the k0-th
    lower end is at most the final k0-th value and the k1-th upper end at least the final k1-th;
    a row entirely below the first or above the second, for every column and q, is on the same
    side of both statistics however every row ends, and where exactly is irrelevant to them.
    The bands are checked after a pass while many rows iterate (a check costs about as much as
    a pass over a tenth of the rows; after one that froze few, not before half the rows it kept
    have ended) and whenever the rate grew, so that a row frozen too early resumes.  ``rate``:
    the contraction seen when the starting points were fitted, used until one is seen here.
    ``run(func, blocks)`` applies a step to each block (e.g. on threads).
    Rows still iterating after ``max_iter`` passes are marked failed.  Returns the largest
    contraction seen (``rate`` if none was: None if unknown).
    """
    from arena import band_kernels  # numba: compiled once, cached on disk

    total = sum(b.rows for b in blocks)
    ranks = percentile_ranks(total, q)
    checked = 0.0  # the bound factor the bands were last checked with (0: never)
    wait = _CHECK_SHARE * total  # check while at least this many rows iterate
    known = rate
    for _ in range(max_iter):
        live = [b for b in blocks if b.active.size]
        if not live:
            break
        run(ChordRows.step, live)
        seen = max(b.ratio for b in blocks)
        if seen > 0:
            known = seen if rate is None else max(seen, rate)
        if known is None:
            continue
        rho = min(_MAX_RATE, RATE_SAFETY * max(known, _MIN_RATE))
        factor = rho / (1.0 - rho)  # remaining error / last step
        for b in blocks:
            b.settle(btsolve.TOL_BOOT_ELO / ELO_PER_NAT / factor)
        grew = 0.0 < checked < factor
        iterating = sum(b.active.size for b in blocks)
        if iterating < wait and not grew:
            continue
        # With 10 % to spare: the rate creeping up a little later needs no check again.
        checked = 1.1 * factor
        near = band_kernels.near_percentiles(
            np.concatenate([b.delta.T for b in blocks], axis=1),
            np.concatenate([np.where(b.failed, np.inf, checked * b.last) for b in blocks]),
            ranks,
        )
        start = 0
        for b in blocks:
            b.active = np.flatnonzero(near[start : start + b.rows] & b.pending())
            start += b.rows
        # A check that froze few rows (wide bands: slow steps) is not repeated every pass.
        kept = sum(b.active.size for b in blocks)
        wait = max(_CHECK_SHARE * total, kept / 2 if kept > 0.9 * iterating else 0.0)
    for b in blocks:
        b.failed[b.active] = True
        b.active = b.active[:0]
    seen = max(b.ratio for b in blocks)
    return seen if seen > 0 else rate
