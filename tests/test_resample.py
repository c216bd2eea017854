"""Tests for arena.resample: exact Multinomial(N, counts / N) rows by either method."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom, chi2

from arena import resample


@pytest.fixture(params=["poisson", "numpy"])
def method(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "numpy":
        monkeypatch.setattr(resample, "NUMPY_MULTINOMIAL_VOTES", 0)
    else:
        monkeypatch.setattr(resample, "NUMPY_MULTINOMIAL_VOTES", 1 << 62)
    return str(request.param)


def test_rows_have_multinomial_moments_and_binomial_marginals(method: str) -> None:
    counts = np.random.default_rng(11).integers(1, 9000, 60)  # ~270k votes
    n = int(counts.sum())
    draws = resample.multinomial(counts, 20_000, np.random.default_rng(1))
    assert draws.shape == (20_000, 60) and draws.dtype == np.int64
    assert np.all(draws.sum(axis=1) == n) and draws.min() >= 0
    p = counts / n
    np.testing.assert_allclose(draws.mean(axis=0), counts, rtol=2e-3)
    np.testing.assert_allclose(draws.var(axis=0), n * p * (1 - p), rtol=0.06)
    k = int(np.argmax(counts))
    values, seen = np.unique(draws[:, k], return_counts=True)
    expected = binom.pmf(values, n, p[k]) * draws.shape[0]
    bulk = expected > 20
    stat = np.sum((seen[bulk] - expected[bulk]) ** 2 / expected[bulk])
    assert chi2.sf(stat, bulk.sum() - 1) > 1e-3


def test_small_totals_and_covariance(method: str) -> None:
    few = resample.multinomial(np.array([2, 1]), 30_000, np.random.default_rng(2))
    assert np.all(few.sum(axis=1) == 3)
    share = np.bincount(few[:, 0], minlength=4) / few.shape[0]
    np.testing.assert_allclose(share, binom.pmf(np.arange(4), 3, 2 / 3), atol=0.01)
    counts = np.array([1, 5, 20, 300, 2])
    n, p = counts.sum(), counts / counts.sum()
    draws = resample.multinomial(counts, 40_000, np.random.default_rng(0))
    np.testing.assert_allclose(np.cov(draws[:, 2], draws[:, 3])[0, 1], -n * p[2] * p[3], rtol=0.1)


def test_poisson_tables_resolve_every_uniform_exactly() -> None:
    # Draws from the guided search must equal a plain search of the threshold table.
    lam = np.array([0.3, 4.0, 55.0, 3000.0, 3000.0])
    tables = resample.poisson_tables(lam)
    thr, offset, _, base, _ = tables
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    got = resample.poisson(tables, 2000, rng)
    rng.bit_generator.state = state
    u53 = (rng.bit_generator.random_raw((2000, lam.size)) >> np.uint64(11)).astype(np.int64)
    starts = offset + np.maximum(0, np.floor(lam - 8.5 * np.sqrt(lam) - 5.0)).astype(np.int64)
    for c in range(lam.size):
        end = starts[c] + np.argmax(thr[starts[c] :] == 1 << 53) + 1
        ref = np.searchsorted(thr[starts[c] : end], u53[:, c], side="right") + starts[c]
        np.testing.assert_array_equal(got[:, c], ref - offset[c])
    assert base.size == lam.size


def test_zero_total_and_determinism() -> None:
    assert resample.multinomial(np.zeros(4), 3, np.random.default_rng(0)).tolist() == [[0] * 4] * 3
    counts = np.array([3, 50, 700, 1])
    a = resample.multinomial(counts, 500, np.random.default_rng(5))
    b = resample.multinomial(counts, 500, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    plan = resample.prepare(counts)
    np.testing.assert_array_equal(resample.draw(plan, 500, np.random.default_rng(5)), a)
    with pytest.raises(ValueError, match="whole and non-negative"):
        resample.prepare(np.array([1.5, 2.0]))


def _moments_match(draws: np.ndarray, counts: np.ndarray) -> None:
    n = int(counts.sum())
    p = counts / n
    assert np.all(draws.sum(axis=1) == n) and draws.min() >= 0
    assert np.all(draws[:, counts == 0] == 0)
    live = counts > 0
    se = np.sqrt(n * p * (1 - p) / draws.shape[0])
    assert np.all(np.abs(draws.mean(axis=0) - counts)[live] < 5 * se[live])
    np.testing.assert_allclose(draws.var(axis=0)[live], (n * p * (1 - p))[live], rtol=0.08)


@pytest.mark.parametrize(
    "change",
    ["added", "removed", "both", "new cells", "emptied cells"],
)
def test_update_turns_resamples_of_old_counts_into_exact_resamples_of_new(change: str) -> None:
    rng = np.random.default_rng(21)
    old = rng.integers(20, 400, 40)
    new = old.copy()
    if change in ("added", "both"):
        new[:25] += rng.integers(0, 30, 25)
    if change in ("removed", "both"):
        new[10:30] -= rng.integers(0, 20, 20)
    if change == "new cells":
        old[:5] = 0
        new[:5] = rng.integers(5, 50, 5)
    if change == "emptied cells":
        new[:5] = 0
    before = resample.multinomial(old, 20_000, np.random.default_rng(1))
    after = resample.update(before, old, new, np.random.default_rng(2))
    assert after.shape == before.shape
    _moments_match(after, new)
    # A cell's marginal is Binomial(N, p) exactly, not just in its first two moments.
    k = int(np.argmax(new))
    n = int(new.sum())
    values, seen = np.unique(after[:, k], return_counts=True)
    expected = binom.pmf(values, n, new[k] / n) * after.shape[0]
    bulk = expected > 20
    stat = np.sum((seen[bulk] - expected[bulk]) ** 2 / expected[bulk])
    assert chi2.sf(stat, bulk.sum() - 1) > 1e-3
    # The covariance of two cells is the multinomial's, -N p_i p_j.
    i, j = int(np.argsort(new)[-1]), int(np.argsort(new)[-2])
    cov = np.cov(after[:, i], after[:, j])[0, 1]
    se = np.sqrt(after[:, i].var() * after[:, j].var() / after.shape[0])
    assert abs(cov + n * new[i] * new[j] / n**2) < 4 * se


def test_update_keeps_most_of_each_resample_and_is_deterministic() -> None:
    old = np.random.default_rng(3).integers(100, 2000, 300)
    new = old + np.random.default_rng(4).integers(0, 3, 300)
    before = resample.multinomial(old, 200, np.random.default_rng(1))
    one = resample.update(before, old, new, np.random.default_rng(9))
    two = resample.update(before, old, new, np.random.default_rng(9))
    np.testing.assert_array_equal(one, two)
    assert np.abs(one - before).sum(axis=1).max() < 0.05 * old.sum()
    assert resample.update_is_cheaper(old, new)
    assert not resample.update_is_cheaper(old, old * 3)


def test_update_to_no_votes_and_from_no_votes() -> None:
    old = np.array([3, 0, 5])
    before = resample.multinomial(old, 50, np.random.default_rng(0))
    assert not resample.update(before, old, np.zeros(3, np.int64), np.random.default_rng(1)).any()
    empty = np.zeros((50, 3), np.int64)
    grown = resample.update(empty, np.zeros(3, np.int64), old, np.random.default_rng(1))
    assert np.all(grown.sum(axis=1) == 8) and not grown[:, 1].any()
    with pytest.raises(ValueError):
        resample.update(before, old, np.array([1, -1, 2]), np.random.default_rng(1))


def test_uniform_integers_of_the_update_kernel_are_uniform() -> None:
    from arena import resample_kernels

    rng = np.random.default_rng(5)
    for n in (1, 7, 1000, 3 * 2**30):  # 3 * 2**30: a third of the 32-bit draws are rejected
        limit = resample_kernels._limit(n)
        values = np.array([resample_kernels._below(rng, n, limit) for _ in range(60_000)])
        assert values.min() >= 0 and values.max() < n
        bins = min(n, 7)
        seen = np.bincount(values * bins // n, minlength=bins)
        if bins > 1:
            expected = np.full(bins, values.size / bins)
            if n % bins:  # unequal bin widths
                edges = (np.arange(bins + 1) * n + bins - 1) // bins
                expected = np.diff(edges) / n * values.size
            assert chi2.sf(np.sum((seen - expected) ** 2 / expected), bins - 1) > 1e-3
