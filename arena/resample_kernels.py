"""Compiled inner loops of :func:`arena.resample.update` (numba; imported on first use).

Updating a bootstrap resample touches each row's cells once and then makes a few hundred to a
few thousand single-vote changes at random cells.  In numpy every such step is a pass over the
whole (rounds, cells) array; here one row is updated at a time while it sits in the cache.
Every random draw comes from the numpy Generator passed in, so results are deterministic given
its state.  ``nogil``: the two halves of a bootstrap update run on two threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_TWO32 = 4294967296.0  # rng.random() is a 53-bit integer k times 2**-53: this gives k >> 21
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


@njit(cache=True, nogil=True)
def _limit(n: int) -> int:
    """What _below rejects for this n: 2**32 mod n (Lemire's threshold)."""
    return (np.int64(1) << 32) % n


@njit(cache=True, nogil=True)
def _below(rng: np.random.Generator, n: int, limit: int) -> int:
    """A uniform integer in [0, n), exactly, for 0 < n < 2**32 (Lemire's method).

    32 random bits x give floor(x * n / 2**32); a draw whose low half falls below
    2**32 mod n is redrawn, which makes every value equally likely.  ~3 ns, against ~28 ns
    for rng.integers inside numba (which dispatches per call) and ~4 ns with a modulo.
    """
    while True:
        x = np.uint64(rng.random() * _TWO32)
        product = x * np.uint64(n)
        if (product & _LOW32) >= np.uint64(limit):
            return np.int64(product >> _SHIFT32)


@njit(cache=True, nogil=True)
def _drop(row: np.ndarray, have: int, drop: int, rng: np.random.Generator) -> None:
    """Remove ``drop`` of the row's ``have`` picks, a uniformly random subset of them.

    The picks, laid end to end in cell order, are numbered 0 .. have - 1; ``drop`` distinct
    numbers are drawn (a repeat is drawn again) and each removes the pick it numbers.
    """
    limit = _limit(have)
    chosen = np.empty(drop, np.int64)
    for k in range(drop):
        chosen[k] = _below(rng, have, limit)
    while True:
        chosen.sort()
        repeats = 0
        for k in range(1, drop):
            if chosen[k] == chosen[k - 1]:
                chosen[k] = _below(rng, have, limit)
                repeats += 1
        if repeats == 0:
            break
    k = 0
    end = 0
    for c in range(row.size):
        end += row[c]
        taken = 0
        while k < drop and chosen[k] < end:
            taken += 1
            k += 1
        row[c] -= taken


@njit(cache=True, nogil=True)
def _rebalance(
    row: np.ndarray,
    have: int,
    kept_cum: np.ndarray,
    added_cell: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Steps 2 and 3 of resample.update on a row holding ``have`` picks of kept votes.

    ``kept_cum`` is the running total of the kept votes per cell; ``added_cell`` lists the
    cell of every added vote.
    """
    kept_total = kept_cum[-1] if kept_cum.size else 0
    added_total = added_cell.size
    total = kept_total + added_total
    if total == 0:
        row[:] = 0
        return
    want = rng.binomial(total, kept_total / total) if added_total > 0 else total
    if have > want:
        _drop(row, have, have - want, rng)
    elif have < want:
        limit = _limit(kept_total)
        for _ in range(want - have):
            pick = _below(rng, kept_total, limit)
            row[np.searchsorted(kept_cum, pick, side="right")] += 1
    if total > want:
        limit = _limit(added_total)
        for _ in range(total - want):
            row[added_cell[_below(rng, added_total, limit)]] += 1


@njit(cache=True, nogil=True)
def _update_row(
    row: np.ndarray,
    old: np.ndarray,
    lost: np.ndarray,
    kept_cum: np.ndarray,
    added_cell: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """One resample, in place: see resample.update for the method.

    ``lost[c]`` of cell c's ``old[c]`` votes are gone (step 1 here, then _rebalance).
    """
    have = 0
    for c in range(row.size):
        x = row[c]
        if lost[c] > 0 and x > 0:
            x -= rng.binomial(x, lost[c] / old[c])
            row[c] = x
        have += x
    _rebalance(row, have, kept_cum, added_cell, rng)


@njit(cache=True, nogil=True)
def update_rows(
    draws: np.ndarray,
    old: np.ndarray,
    lost: np.ndarray,
    kept_cum: np.ndarray,
    added_cell: np.ndarray,
    rng: np.random.Generator,
) -> None:  # pragma: no cover - compiled; tested through arena.resample.update
    """Every row of ``draws`` (rounds, cells) updated in place (see _update_row)."""
    for r in range(draws.shape[0]):
        _update_row(draws[r], old, lost, kept_cum, added_cell, rng)


@njit(cache=True, nogil=True)
def update_offsets(
    stored: np.ndarray,
    old: np.ndarray,
    new: np.ndarray,
    lost: np.ndarray,
    kept_cum: np.ndarray,
    added_cell: np.ndarray,
    strong: np.ndarray,
    weak: np.ndarray,
    tied: np.ndarray,
    out: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    rng: np.random.Generator,
) -> bool:  # pragma: no cover - compiled; tested through arena.ratings.fit_board
    """_update_row, then each pair's wins for the fit, in one pass per row, on offsets.

    Row r of ``stored`` holds a resample of ``old`` as offsets from it; row r of ``out`` gets
    the updated resample as offsets from ``new``; row r of ``a`` and ``b`` the wins of each
    pair's ``strong`` and ``weak`` side in it, ties (``tied``) counting half to each.
    False (``out`` incomplete) when an offset does not fit in int16.
    """
    cells = old.size
    row = np.empty(cells, np.int64)
    losses = lost.max() > 0 if cells else False
    for r in range(stored.shape[0]):
        have = 0
        if losses:  # the resample back from its offsets, and step 1, in one pass
            for c in range(cells):
                x = old[c] + stored[r, c]
                if lost[c] > 0 and x > 0:
                    x -= rng.binomial(x, lost[c] / old[c])
                row[c] = x
                have += x
        else:  # branch-free: the compiler vectorises it
            for c in range(cells):
                x = old[c] + stored[r, c]
                row[c] = x
                have += x
        _rebalance(row, have, kept_cum, added_cell, rng)
        low = 0
        high = 0
        for c in range(cells):
            offset = row[c] - new[c]
            out[r, c] = offset
            low = min(low, offset)
            high = max(high, offset)
        if low < -32767 or high > 32767:
            return False
        for p in range(strong.size):
            half = 0.5 * row[tied[p]]
            a[r, p] = row[strong[p]] + half
            b[r, p] = row[weak[p]] + half
    return True
