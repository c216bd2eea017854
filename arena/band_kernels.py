"""Compiled percentile bands for :func:`arena.chord.refit` (numba).

A check needs, per model, a lower bound on the k0-th smallest lower end and an upper bound on
the k1-th smallest upper end of the rows' intervals.  Exact order statistics cost ~0.5 ms for
1000 rows and 30 models (numpy's partition, or a sorted buffer whose insertions mispredict); a
histogram of each model's interval ends places them within one of 512 buckets (1/512 of the
spread, about the gap between neighbouring rows in the tails) in a fraction of that, and the
bucket's outer edge is still a valid bound.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_BUCKETS = 512


@njit(cache=True, nogil=True)
def _bounds(
    ends: np.ndarray, ranks: np.ndarray, upper: bool, finite: bool, counts: np.ndarray
) -> np.ndarray:
    """For each rank k: a value at or below (or, if ``upper``, at or above) the k-th smallest.

    Infinite ends (rows whose value is unknown) sort first or last: they are counted, not
    bucketed (``finite``: there are none).
    """
    n = ends.size
    lo = np.inf
    hi = -np.inf
    below = 0
    above = 0
    if finite:
        for x in ends:
            lo = min(lo, x)
            hi = max(hi, x)
    else:
        for x in ends:
            if x == -np.inf:
                below += 1
            elif x == np.inf:
                above += 1
            else:
                lo = min(lo, x)
                hi = max(hi, x)
    counts[:] = 0
    width = 0.0
    slack = 0.0
    if hi > lo:
        scale = _BUCKETS / (hi - lo)
        top = _BUCKETS - 1
        if finite:
            for x in ends:
                counts[min(int((x - lo) * scale), top)] += 1
        else:
            for x in ends:
                if -np.inf < x < np.inf:
                    counts[min(int((x - lo) * scale), top)] += 1
        width = (hi - lo) / _BUCKETS
        # Values are bucketed as int((x - lo) * scale) and edges recomputed with other
        # roundings: the edges move out by far more than those can differ.
        slack = 1e-12 * (abs(lo) + abs(hi))
    else:
        counts[0] = n - below - above
    out = np.empty(ranks.size)
    for q in range(ranks.size):
        k = ranks[q]
        if k < below:
            out[q] = -np.inf
        elif k >= n - above:
            out[q] = np.inf
        elif 2 * k < n:  # count up from the lowest bucket
            seen = below
            bucket = 0
            while seen + counts[bucket] <= k:
                seen += counts[bucket]
                bucket += 1
            out[q] = _edge(lo, hi, width, slack, bucket, upper)
        else:  # count down from the highest
            seen = above  # values above the current bucket
            bucket = _BUCKETS - 1
            while seen + counts[bucket] < n - k:
                seen += counts[bucket]
                bucket -= 1
            out[q] = _edge(lo, hi, width, slack, bucket, upper)
    return out


@njit(cache=True, nogil=True, inline="always")
def _edge(lo: float, hi: float, width: float, slack: float, bucket: int, upper: bool) -> float:
    if upper:
        return hi if bucket == _BUCKETS - 1 else lo + (bucket + 1) * width + slack
    return lo if bucket == 0 else lo + bucket * width - slack


@njit(cache=True, nogil=True)
def near_percentiles(values_t: np.ndarray, bounds: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Rows (R,) whose final value could be one that a percentile of some model reads.

    ``values_t`` (m, R): each row's current values, one model a line (read in one sweep);
    ``bounds`` (R,): how far each row can still move (inf: anywhere); ``ranks`` (n, 2) int64:
    the order statistics (k0, k1) each percentile interpolates between.  A row is near if,
    for some model and pair, its interval meets [k0-th lower end, k1-th upper end] (see
    chord.refit), those ends placed within a bucket, outwards.
    """
    cols, rows = values_t.shape
    pairs = ranks.shape[0]
    first = np.ascontiguousarray(ranks[:, 0])
    second = np.ascontiguousarray(ranks[:, 1])
    low = np.empty(rows)
    high = np.empty(rows)
    counts = np.empty(_BUCKETS, np.int64)
    near = np.zeros(rows, np.bool_)
    finite = np.isfinite(bounds).all()
    for c in range(cols):
        x = values_t[c]
        for r in range(rows):
            low[r] = x[r] - bounds[r]
            high[r] = x[r] + bounds[r]
        floors = _bounds(low, first, False, finite, counts)
        ceilings = _bounds(high, second, True, finite, counts)
        for r in range(rows):
            hit = False
            for q in range(pairs):
                hit |= (high[r] >= floors[q]) & (low[r] <= ceilings[q])
            near[r] |= hit
    return near
