"""Tail probabilities of sums of discrete variables, checked against brute-force enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from votes import tails


def enumerate_sums(values: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every combination of one value per row: its sum and its probability."""
    rows = np.arange(len(values))
    picks = np.array(list(itertools.product(range(values.shape[1]), repeat=len(values))))
    return values[rows, picks].sum(axis=1), probs[rows, picks].prod(axis=1)


def fisher_values(probs: np.ndarray) -> np.ndarray:
    """-2 ln p of each outcome, p = the chance of an outcome no more likely (as detection)."""
    return -2.0 * np.log(np.einsum("nk,njk->nj", probs, probs[:, None, :] <= probs[:, :, None]))


def test_the_saddlepoint_tail_matches_enumeration_deep_into_the_tail() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([4.0, 2.0, 1.0], size=9)
    values = fisher_values(probs)
    sums, weights = enumerate_sums(values, probs)
    order = np.argsort(sums)
    sums, cdf = sums[order], np.cumsum(weights[order])
    for level in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5):
        x = sums[np.searchsorted(cdf, 1 - level)]
        exact = weights[order][sums >= x - 1e-9].sum()
        assert tails.saddlepoint_sf(values, probs, x) == pytest.approx(exact, rel=0.15)


def test_the_saddlepoint_tail_is_exact_at_the_largest_sum_and_one_below_the_least() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.6, 0.3, 0.1]])
    values = fisher_values(probs)
    top = values.max(axis=1).sum()
    assert tails.saddlepoint_sf(values, probs, top) == pytest.approx(0.1 * 0.2 * 0.1)
    assert tails.saddlepoint_sf(values, probs, top + 1) == 0.0
    assert tails.saddlepoint_sf(values, probs, 0.0) == 1.0


def test_the_saddlepoint_tail_ignores_variables_that_cannot_vary() -> None:
    probs = np.array([[0.6, 0.3, 0.1]] * 6 + [[1 / 3, 1 / 3, 1 / 3]] * 4)
    values = fisher_values(probs)  # the uniform rows score 0 whatever happens
    x = values[0].sum() * 2
    alone = tails.saddlepoint_sf(values[:6], probs[:6], x)
    assert tails.saddlepoint_sf(values, probs, x) == pytest.approx(alone)


def test_a_lattice_sum_of_identical_coins_is_binomial() -> None:
    pmf = tails.lattice_sum(np.tile([0.7, 0.3], (40, 1)))
    assert np.allclose(pmf, stats.binom.pmf(np.arange(41), 40, 0.3), rtol=1e-9, atol=0)
    upper, lower = tails.lattice_tails(pmf, 25)
    assert upper == pytest.approx(stats.binom.sf(24, 40, 0.3), rel=1e-9)
    assert lower == pytest.approx(stats.binom.cdf(25, 40, 0.3), rel=1e-9)


def test_a_lattice_sum_matches_enumeration() -> None:
    rng = np.random.default_rng(1)
    probs = rng.dirichlet([1.0, 1.0, 1.0], size=7)
    sums, weights = enumerate_sums(np.tile(np.arange(3.0), (7, 1)), probs)
    exact = np.bincount(sums.astype(int), weights=weights, minlength=15)
    assert np.allclose(tails.lattice_sum(probs), exact, rtol=1e-12, atol=0)
