"""Exact multinomial resampling of vote counts, batched over bootstrap rounds (numpy only).

:func:`prepare` builds a reusable :class:`Plan` for one count vector (it depends only on the
counts, so one plan serves every bootstrap part and thread); :func:`draw` then returns
``(rounds, K)`` rows, each exactly Multinomial(sum(counts), counts / sum(counts)), and
deterministic given the generator's state.

Two methods, chosen per total N by measured cost on 1300-cell boards:

* N < ``NUMPY_MULTINOMIAL_VOTES``: independent Poisson(s * c_k) by guided table inversion from
  53-bit uniforms (given their sum S they are Multinomial(S, p)); rows with S > N are redrawn and
  the N - S missing votes are added as iid categorical draws with probabilities p.  Cost grows
  with N (the tables span ~18.5 sd per cell; the top-up is ~1.5 sqrt(N) votes per row).
* larger N: numpy's ``Generator.multinomial`` (conditional binomials, cost independent of N).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

SLACK_SD = 1.5  # Poisson stage aims this many sd below the total; the rest is topped up
GUIDE_PER_SD = 8.0  # guide bins per sd of the widest Poisson: most draws need no search
NUMPY_MULTINOMIAL_VOTES = 1_200_000  # from here numpy's multinomial is cheaper (wall, 2 cores)
_LOOKUP_MAX_VOTES = 1 << 24  # top-up draws gather from an N-entry cell table up to this N


@dataclass(frozen=True)
class Plan:
    """Precomputed tables for :func:`draw` (see :func:`prepare`)."""

    counts: np.ndarray  # int64 (K,)
    total: int
    tables: tuple | None  # Poisson inversion tables (Poisson method only)
    lookup: np.ndarray | None  # cell of each vote (int32, N entries) or cumulative counts


def poisson_tables(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Inversion tables for independent Poisson(lam_k) draws from 53-bit uniforms.

    One table per distinct lam (cells with equal counts share it), covering x in
    [lo, hi] = [lam - 8.5 sd - 5, lam + 10 sd + 10] (clipped at 0): the Poisson mass outside is
    below 1e-16, the resolution of a double uniform, so this is exact inversion to machine
    precision.  ``thr`` holds ceil(cdf * 2**53), set to 2**53 at hi so that no search leaves the
    window; a uniform u53 (an integer below 2**53, exactly the one behind ``rng.random()``)
    draws x = min{x : u53 < thr[x]}.  Row t of ``guide`` has 2**bits + 1 columns: column b holds
    the flat index of the answer for the smallest u53 of bin b (a lower bound for every u53 in
    the bin, usually the answer), so column b + 1 is an upper bound; the last column is the
    window end.  Per cell: ``base`` is its guide row offset and x = flat index - ``offset``.
    """
    uniq, inverse = np.unique(lam, return_inverse=True)
    sd = np.sqrt(uniq)
    lo = np.maximum(0, np.floor(uniq - 8.5 * sd - 5.0)).astype(np.int64)
    hi = np.ceil(uniq + 10.0 * sd + 10.0).astype(np.int64)
    width = hi - lo + 1
    start = np.concatenate([[0], np.cumsum(width)])
    table = np.repeat(np.arange(uniq.size), width)
    x = np.arange(start[-1]) - start[table] + lo[table]
    low = int(lo.min())
    log_fact = gammaln(np.arange(low, int(hi.max()) + 1) + 1.0)
    pmf = np.exp(x * np.log(uniq)[table] - uniq[table] - log_fact[x - low])
    cum = np.cumsum(pmf)
    before = np.concatenate([[0.0], cum[start[1:-1] - 1]])
    cdf = (cum - before[table]) / (cum[start[1:] - 1] - before)[table]
    thr = np.ceil(cdf * 2.0**53).astype(np.int64)
    thr[start[1:] - 1] = 1 << 53
    bits = int(np.clip(np.ceil(np.log2(GUIDE_PER_SD * max(float(sd.max()), 1.0))), 4, 10))
    bins = 1 << bits
    # guide[t, b] = start_t + #{x : thr[x] <= b * 2**(53 - bits)}: a cumulative histogram of
    # level = ceil(thr / bin width) (level == bins only where thr == 2**53).
    level = (thr + ((1 << (53 - bits)) - 1)) >> (53 - bits)
    hist = np.bincount(table * (bins + 1) + level, minlength=uniq.size * (bins + 1))
    guide = np.cumsum(hist.reshape(uniq.size, bins + 1), axis=1) + start[:-1, None]
    guide[:, bins] = start[1:] - 1
    return thr, start[inverse] - lo[inverse], guide.ravel(), inverse * (bins + 1), bits


def poisson(tables: tuple, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """(rounds, K) independent Poisson draws by guided table inversion (see poisson_tables)."""
    thr, offset, guide, base, bits = tables
    u53 = rng.bit_generator.random_raw((rounds, base.size))
    np.right_shift(u53, np.uint64(11), out=u53)
    u53 = u53.view(np.int64)
    idx = u53 >> (53 - bits)
    idx += base
    pos = guide[idx]
    # Most draws land on their guide entry and most others on the next one (a bin straddling
    # one cdf step); bisect the few left within (guide[b], guide[b + 1]].
    behind = np.flatnonzero(thr[pos] <= u53)
    if behind.size:
        u = u53.ravel()[behind]
        nxt = pos.ravel()[behind] + 1
        far = np.flatnonzero(thr[nxt] <= u)
        if far.size:
            u = u[far]
            low = nxt[far] + 1
            high = guide[idx.ravel()[behind[far]] + 1]
            for _ in range(int((high - low).max()).bit_length()):
                mid = (low + high) >> 1
                above = thr[mid] > u
                high = np.where(above, mid, high)
                low = np.where(above, low, mid + 1)
            nxt[far] = low
        pos.ravel()[behind] = nxt
    pos -= offset
    return pos


def prepare(counts: np.ndarray) -> Plan:
    """A :class:`Plan` for resampling the whole positive ``counts`` (K,) (see multinomial)."""
    counts = np.asarray(counts)
    if np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError("counts must be whole and non-negative")
    counts = counts.astype(np.int64)
    total = int(counts.sum())
    tables = lookup = None
    if 0 < total < NUMPY_MULTINOMIAL_VOTES:
        scale = 1.0 - SLACK_SD / np.sqrt(total)
        if scale > 0.0:
            tables = poisson_tables(scale * counts)
        if total <= _LOOKUP_MAX_VOTES:
            lookup = np.repeat(np.arange(counts.size, dtype=np.int32), counts)
        else:
            lookup = np.cumsum(counts)
    return Plan(counts, total, tables, lookup)


def draw(plan: Plan, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """(rounds, K) int64 rows, each exactly Multinomial(total, counts / total)."""
    k, total = plan.counts.size, plan.total
    if total == 0:
        return np.zeros((rounds, k), np.int64)
    if plan.lookup is None:
        return rng.multinomial(total, plan.counts / total, size=rounds)
    if plan.tables is not None:
        draws = poisson(plan.tables, rounds, rng)
        todo = np.flatnonzero(draws.sum(axis=1) > total)
        while todo.size:
            draws[todo] = poisson(plan.tables, todo.size, rng)
            todo = todo[draws[todo].sum(axis=1) > total]
    else:
        draws = np.zeros((rounds, k), np.int64)
    deficit = total - draws.sum(axis=1)
    extra = np.repeat(np.arange(rounds, dtype=np.int64) * k, deficit)
    pick = rng.integers(0, total, extra.size)
    if plan.lookup.dtype == np.int32:
        extra += plan.lookup[pick]
    else:
        extra += np.searchsorted(plan.lookup, pick, side="right")
    draws += np.bincount(extra, minlength=rounds * k).reshape(rounds, k)
    return draws


def multinomial(counts: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """(rounds, K) exact Multinomial(sum(counts), counts / sum) draws: draw(prepare(counts)).

    Empty cells are left out of the plan (they can never be drawn) and stay zero.
    """
    counts = np.asarray(counts)
    live = np.flatnonzero(counts)
    if live.size == counts.size:
        return draw(prepare(counts), rounds, rng)
    draws = np.zeros((rounds, counts.size), np.int64)
    draws[:, live] = draw(prepare(counts[live]), rounds, rng)
    return draws


def update(
    draws: np.ndarray, old: np.ndarray, new: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Rows of exact Multinomial(sum(old), old / sum) draws -> rows for ``new`` counts.

    Each row is a resample of the old votes: sum(old) picks, each a uniformly random old vote.
    The new counts keep some old votes (cell by cell, min(old, new)), lose the rest, and add
    votes.  A row is turned into sum(new) picks of the new votes, exactly:

    1. a pick of a lost vote goes: in a cell that lost r of its c votes, Binomial(x, r / c) of
       its x picks (which of the cell's votes a pick hit is uniform given the counts);
    2. the row's remaining picks are iid over the kept votes; of the new total, the number that
       falls on kept votes is Binomial(sum(new), kept / sum(new)): a random subset of the
       remaining picks is dropped to reach it, or iid picks of kept votes are added;
    3. the rest are iid picks of the added votes.

    The result has the distribution of a fresh draw, and the cost grows with the number of
    votes added and removed, not with the total.  Returns a new int32 array.
    """
    from arena import resample_kernels  # numba: compiled on first use, cached on disk

    old = np.asarray(old, dtype=np.int64)
    new = np.asarray(new, dtype=np.int64)
    if old.shape != new.shape or draws.shape[1] != old.size or np.any(new < 0):
        raise ValueError("draws, old and new must describe the same non-negative cells")
    lost = np.maximum(old - new, 0)
    added = np.maximum(new - old, 0)
    out = np.array(draws, dtype=np.int32, order="C")
    resample_kernels.update_rows(
        out,
        old,
        lost,
        np.cumsum(old - lost),
        np.repeat(np.arange(old.size, dtype=np.int64), added),
        rng,
    )
    return out


def update_is_cheaper(old: np.ndarray, new: np.ndarray) -> bool:
    """Whether :func:`update` beats a fresh draw: its picks per row against the cells."""
    changed = int(np.abs(np.asarray(new, np.int64) - np.asarray(old, np.int64)).sum())
    return changed <= 3 * old.size and 2 * changed <= int(np.sum(old))


def warm_up() -> None:
    """Compile (first run after an install, ~10 s) or load (~0.5 s) the update kernels."""
    from arena import resample_kernels

    update(np.zeros((1, 2), np.int32), np.array([1, 1]), np.array([2, 1]), np.random.default_rng())
    one, cells = np.zeros(1, np.int64), np.array([1, 1, 1], np.int64)
    for dtype in (np.float32, np.float64):
        a, b = np.empty((1, 1), dtype), np.empty((1, 1), dtype)
        resample_kernels.update_offsets(
            np.zeros((1, 3), np.int16), cells, cells, one.repeat(3), np.cumsum(cells), one[:0],
            one, one + 1, one + 2, np.zeros((1, 3), np.int16), a, b, np.random.default_rng(),
        )  # fmt: skip
