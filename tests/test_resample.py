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
