"""Behavioural tests for arena.ratings (pure maths; run with -p no:django)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from arena.btsolve import TOL_BOOT_ELO
from arena.ratings import ELO_PER_NAT, BoardFit, bt_probability, fit_board, online_elo


def _simulate(
    truth: np.ndarray, votes: int, seed: int, tie_rate: float = 0.15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (wins, upper-triangular ties, per-vote rows (i, j, score_i)) drawn from truth."""
    rng = np.random.default_rng(seed)
    m = truth.size
    i = rng.integers(0, m, votes)
    j = (i + rng.integers(1, m, votes)) % m
    # Ties are drawn so that the expected score stays exactly the BT probability, which is
    # what "a tie is half a win" assumes; rating-blind ties would shrink the true spread.
    p = bt_probability(truth[i], truth[j])
    p_tie = 2.0 * tie_rate * np.minimum(p, 1.0 - p)
    tie = rng.random(votes) < p_tie
    win = ~tie & (rng.random(votes) < (p - p_tie / 2) / (1.0 - p_tie))
    score = np.where(tie, 0.5, win.astype(float))
    wins = np.zeros((m, m), np.int64)
    ties = np.zeros((m, m), np.int64)
    np.add.at(wins, (i[score == 1], j[score == 1]), 1)
    np.add.at(wins, (j[score == 0], i[score == 0]), 1)
    np.add.at(ties, (np.minimum(i, j)[tie], np.maximum(i, j)[tie]), 1)
    return wins, ties, np.column_stack([i, j, score])


def _aggregate(rows: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    wins = np.zeros((m, m), np.int64)
    ties = np.zeros((m, m), np.int64)
    for i, j, s in rows:
        i, j = int(i), int(j)
        if s == 0.5:
            ties[min(i, j), max(i, j)] += 1
        elif s == 1:
            wins[i, j] += 1
        else:
            wins[j, i] += 1
    return wins, ties


def _per_vote_mle(rows: np.ndarray, m: int) -> np.ndarray:
    """Independent reference: logistic regression on individual votes, ties as target 0.5."""
    i, j, y = rows[:, 0].astype(int), rows[:, 1].astype(int), rows[:, 2]

    def nll(x: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.concatenate([[0.0], x])  # pin model 0 to fix the gauge
        d = theta[i] - theta[j]
        loss = np.sum(np.logaddexp(0.0, -d) * y + np.logaddexp(0.0, d) * (1 - y))
        resid = y - 1.0 / (1.0 + np.exp(-d))
        grad = -(np.bincount(i, resid, m) - np.bincount(j, resid, m))
        return float(loss), grad[1:]

    res = minimize(nll, np.zeros(m - 1), jac=True, method="BFGS", options={"gtol": 1e-9})
    elo = ELO_PER_NAT * np.concatenate([[0.0], res.x])
    return elo - elo.mean() + 1000.0


TRUTH10 = np.linspace(800.0, 1200.0, 10)


def test_fit_matches_independent_per_vote_mle_with_ties() -> None:
    wins, ties, rows = _simulate(TRUTH10, 3000, seed=1, tie_rate=0.25)
    fit = fit_board(wins, ties, rounds=20)
    reference = _per_vote_mle(rows, 10)
    assert np.max(np.abs(fit.rating - reference)) < 0.5
    assert fit.rating.mean() == pytest.approx(1000.0)


def test_fit_recovers_known_ratings_from_many_synthetic_votes() -> None:
    wins, ties, _ = _simulate(TRUTH10, 20_000, seed=2)
    fit = fit_board(wins, ties, rounds=200)
    assert np.max(np.abs(fit.rating - (TRUTH10 - TRUTH10.mean() + 1000.0))) < 25.0
    assert np.all(fit.fitted) and fit.disconnected == []


def test_intervals_contain_point_estimate_and_shrink_with_more_votes() -> None:
    small = fit_board(*_simulate(TRUTH10, 2000, seed=3)[:2], rounds=300)
    large = fit_board(*_simulate(TRUTH10, 20_000, seed=3)[:2], rounds=300)
    for fit in (small, large):
        assert np.all(fit.ci_low <= fit.rating) and np.all(fit.rating <= fit.ci_high)
    assert np.all(large.ci_high - large.ci_low < small.ci_high - small.ci_low)


def test_bootstrap_is_deterministic_given_seed() -> None:
    wins, ties, _ = _simulate(TRUTH10, 3000, seed=4)
    a, b = fit_board(wins, ties, rounds=100, seed=7), fit_board(wins, ties, rounds=100, seed=7)
    c = fit_board(wins, ties, rounds=100, seed=8)
    np.testing.assert_array_equal(a.ci_low, b.ci_low)
    np.testing.assert_array_equal(a.ci_high, b.ci_high)
    assert not np.array_equal(a.ci_low, c.ci_low)


def test_result_is_independent_of_vote_order() -> None:
    _, _, rows = _simulate(TRUTH10, 2000, seed=5)
    shuffled = rows[np.random.default_rng(0).permutation(len(rows))]
    a = fit_board(*_aggregate(rows, 10), rounds=100)
    b = fit_board(*_aggregate(shuffled, 10), rounds=100)
    np.testing.assert_array_equal(a.rating, b.rating)
    np.testing.assert_array_equal(a.ci_low, b.ci_low)
    np.testing.assert_array_equal(a.ci_high, b.ci_high)


def test_symmetric_and_upper_triangular_ties_give_same_fit() -> None:
    wins, ties, _ = _simulate(TRUTH10, 2000, seed=6)
    a = fit_board(wins, ties, rounds=50)
    b = fit_board(wins, ties + ties.T, rounds=50)
    np.testing.assert_array_equal(a.rating, b.rating)
    np.testing.assert_array_equal(a.ci_high, b.ci_high)


def test_bootstrap_resample_has_multinomial_moments() -> None:
    from arena.ratings import _resample

    counts = np.array([1.0, 5.0, 20.0, 300.0, 2.0])
    n = counts.sum()
    draws = _resample(counts, 40_000, np.random.default_rng(0))
    assert np.all(draws.sum(axis=1) == n)
    p = counts / n
    np.testing.assert_allclose(draws.mean(axis=0), counts, rtol=0.03)
    np.testing.assert_allclose(draws.var(axis=0), n * p * (1 - p), rtol=0.05)
    np.testing.assert_allclose(np.cov(draws[:, 2], draws[:, 3])[0, 1], -n * p[2] * p[3], rtol=0.1)


def test_rank_counts_models_whose_interval_lies_entirely_above() -> None:
    wins, ties, _ = _simulate(np.array([600.0, 1000.0, 1010.0, 1400.0]), 4000, seed=8)
    fit = fit_board(wins, ties, rounds=200)
    expected = [1 + int(np.sum(fit.ci_low > fit.ci_high[k])) for k in range(4)]
    assert fit.rank.tolist() == expected
    assert fit.rank[3] == 1 and fit.rank[0] == 4 and fit.rank[1] == fit.rank[2] == 2


def test_win_rate_counts_ties_as_half_and_votes_count_games() -> None:
    wins = np.array([[0, 3, 1], [1, 0, 2], [0, 0, 0]])
    ties = np.array([[0, 2, 0], [0, 0, 0], [0, 0, 0]])
    fit = fit_board(wins, ties, rounds=10)
    assert fit.votes.tolist() == [7, 8, 3]
    np.testing.assert_allclose(fit.win_rate, [(4 + 1) / 7, (3 + 1) / 8, 0.0])


def test_disconnected_models_are_reported_not_fitted() -> None:
    wins = np.zeros((5, 5), np.int64)
    wins[0, 1], wins[1, 0], wins[1, 2], wins[2, 1] = 10, 8, 6, 7
    wins[3, 4], wins[4, 3] = 2, 1  # a separate, smaller island
    fit = fit_board(wins, np.zeros_like(wins), rounds=50)
    assert fit.disconnected == [3, 4]
    assert fit.fitted.tolist() == [True, True, True, False, False]
    assert np.all(np.isnan(fit.rating[3:])) and fit.rank[3:].tolist() == [0, 0]
    assert fit.rating[:3].mean() == pytest.approx(1000.0)
    assert fit.covariance is not None and np.isnan(fit.covariance[3, 3])


def test_unbeaten_model_gets_a_large_but_finite_rating() -> None:
    wins = np.array([[0, 12, 9], [0, 0, 5], [0, 4, 0]])
    fit = fit_board(wins, np.zeros((3, 3), np.int64), rounds=200)
    assert np.all(np.isfinite(fit.rating)) and np.all(np.isfinite(fit.ci_high))
    assert fit.rating[0] > fit.rating[1] + 500 and fit.rank[0] == 1


def test_small_and_empty_boards() -> None:
    two = fit_board(np.array([[0, 6], [4, 0]]), np.array([[0, 2], [0, 0]]), rounds=100)
    expected = ELO_PER_NAT * np.log(7 / 5)  # (6 + 1) / (4 + 1) effective wins
    assert two.rating[0] - two.rating[1] == pytest.approx(expected, abs=0.01)
    empty = fit_board(np.zeros((3, 3)), np.zeros((3, 3)))
    assert isinstance(empty, BoardFit) and not empty.fitted.any() and empty.covariance is None
    assert np.all(np.isnan(empty.rating)) and empty.rank.tolist() == [0, 0, 0]
    single = fit_board(np.zeros((1, 1)), np.zeros((1, 1)))
    assert single.disconnected == [] and np.isnan(single.rating[0])


def test_covariance_is_centred_and_matches_bootstrap_spread() -> None:
    # Without ties: a tie's score varies less than a decisive vote, so with ties the vote
    # bootstrap is legitimately narrower than the Bernoulli Fisher information suggests.
    wins, ties, _ = _simulate(TRUTH10, 20_000, seed=9, tie_rate=0.0)
    fit = fit_board(wins, ties, rounds=1000)
    assert fit.covariance is not None
    np.testing.assert_allclose(fit.covariance.sum(axis=1), 0.0, atol=1e-6)
    half_width = (fit.ci_high - fit.ci_low) / 2
    np.testing.assert_allclose(half_width, 1.96 * np.sqrt(np.diag(fit.covariance)), rtol=0.1)


@pytest.mark.parametrize(
    ("wins", "ties", "message"),
    [
        (np.array([[0, -1], [0, 0]]), np.zeros((2, 2)), "negative"),
        (np.array([[0, np.nan], [0, 0]]), np.zeros((2, 2)), "NaN"),
        (np.zeros((2, 3)), np.zeros((2, 3)), "square"),
        (np.zeros((2, 2)), np.zeros((3, 3)), "shapes differ"),
        (np.array([[0, 1.5], [0, 0]]), np.zeros((2, 2)), "whole"),
        (np.array([[1, 0], [0, 0]]), np.zeros((2, 2)), "diagonal"),
        (np.zeros((3, 3)), np.array([[0, 1, 0], [0, 0, 0], [2, 0, 0]]), "symmetric or upper"),
    ],
)
def test_invalid_counts_raise_value_error(wins: np.ndarray, ties: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_board(wins, ties, rounds=10)


def test_bt_probability_and_online_elo() -> None:
    assert bt_probability(1400.0, 1000.0) == pytest.approx(10 / 11)
    assert bt_probability(1000.0, 1000.0) == pytest.approx(0.5)
    final = online_elo([(0, 1, 1.0), (0, 1, 0.5), (1, 2, 0.0)], k=4)
    assert final.shape == (3,) and final.sum() == pytest.approx(3000.0)
    assert final[0] > 1000.0 > final[1] and final[2] > 1000.0
    assert online_elo([], n_models=2).tolist() == [1000.0, 1000.0]


def test_bootstrap_resample_is_exact_for_many_votes_and_for_few() -> None:
    from scipy.stats import binom, chi2

    from arena.ratings import _resample

    rng = np.random.default_rng(11)
    counts = rng.integers(1, 9000, 60).astype(float)  # ~270k votes: many redrawn/topped-up rows
    n = int(counts.sum())
    draws = _resample(counts, 20_000, np.random.default_rng(1))
    assert np.all(draws.sum(axis=1) == n) and draws.min() >= 0
    p = counts / n
    np.testing.assert_allclose(draws.mean(axis=0), counts, rtol=2e-3)
    np.testing.assert_allclose(draws.var(axis=0), n * p * (1 - p), rtol=0.06)
    # The marginal of one cell is Binomial(n, p_k): chi-square over its bulk.
    k = int(np.argmax(counts))
    values, seen = np.unique(draws[:, k], return_counts=True)
    expected = binom.pmf(values, n, p[k]) * draws.shape[0]
    bulk = expected > 20
    stat = np.sum((seen[bulk] - expected[bulk]) ** 2 / expected[bulk])
    assert chi2.sf(stat, bulk.sum() - 1) > 1e-3

    few = _resample(np.array([2.0, 1.0]), 30_000, np.random.default_rng(2))
    assert np.all(few.sum(axis=1) == 3)
    share = np.bincount(few[:, 0], minlength=4) / few.shape[0]
    np.testing.assert_allclose(share, binom.pmf(np.arange(4), 3, 2 / 3), atol=0.01)


def test_resample_is_deterministic_given_generator_seed() -> None:
    from arena.ratings import _resample

    counts = np.array([3.0, 50.0, 700.0, 1.0])
    a = _resample(counts, 500, np.random.default_rng(5))
    b = _resample(counts, 500, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("votes", [300, 5000, 200_000])
def test_float32_bootstrap_matches_float64_within_a_hundredth_elo(
    votes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import arena.ratings as ratings

    truth = np.random.default_rng(3).normal(1000.0, 120.0, 30)
    wins, ties, _ = _simulate(truth, votes, seed=votes)
    fast = fit_board(wins, ties, rounds=300, seed=1)
    monkeypatch.setattr(ratings, "_F32_MAX_COND", -1.0)  # force float64 everywhere
    exact = fit_board(wins, ties, rounds=300, seed=1)
    np.testing.assert_array_equal(fast.rating, exact.rating)
    np.testing.assert_allclose(fast.ci_low, exact.ci_low, atol=0.01)
    np.testing.assert_allclose(fast.ci_high, exact.ci_high, atol=0.01)


def test_board_with_an_unbeaten_model_among_many() -> None:
    truth = np.linspace(800.0, 1200.0, 12)
    wins, ties, _ = _simulate(truth, 3000, seed=12)
    wins[:, 11] = 0  # model 11 never loses and never ties
    ties[:, 11] = 0
    ties[11, :] = 0
    fit = fit_board(wins, ties, rounds=300)
    assert np.all(np.isfinite(fit.rating)) and np.all(np.isfinite(fit.ci_low))
    assert np.all(np.isfinite(fit.ci_high)) and fit.rank[11] == 1
    assert np.all(fit.ci_low <= fit.rating) and np.all(fit.rating <= fit.ci_high)


def test_updated_bootstrap_gives_the_fresh_fit_and_equivalent_intervals() -> None:
    wins, ties, _ = _simulate(TRUTH10, 20_000, seed=11)
    more_wins, more_ties, _ = _simulate(TRUTH10, 300, seed=12)
    first = fit_board(wins, ties, rounds=2000)
    assert first.replicates is not None
    fresh = fit_board(wins + more_wins, ties + more_ties, rounds=2000)
    updated = fit_board(wins + more_wins, ties + more_ties, rounds=2000, previous=first.replicates)
    np.testing.assert_array_equal(updated.rating, fresh.rating)
    np.testing.assert_array_equal(updated.rank >= 1, fresh.rank >= 1)
    # Percentiles of 2000 other (equally valid) resamples: Monte Carlo noise, ~3 % of the width.
    width = fresh.ci_high - fresh.ci_low
    assert np.all(np.abs(updated.ci_low - fresh.ci_low) < 0.12 * width)
    assert np.all(np.abs(updated.ci_high - fresh.ci_high) < 0.12 * width)
    rep = updated.replicates
    assert rep is not None and rep.cells.sum() == (wins + more_wins + ties + more_ties).sum()
    assert np.all(rep.draws.sum(axis=1) == rep.cells.sum())
    # Updating and refitting again (the same resamples) moves no interval beyond the refits'
    # tolerance: rows near a percentile are converged refits, the others cannot move one.
    again = fit_board(wins + more_wins, ties + more_ties, rounds=2000, previous=rep)
    np.testing.assert_allclose(again.ci_low, updated.ci_low, rtol=0, atol=TOL_BOOT_ELO)
    np.testing.assert_allclose(again.ci_high, updated.ci_high, rtol=0, atol=TOL_BOOT_ELO)


def test_previous_bootstrap_of_other_models_or_rounds_is_not_used() -> None:
    wins, ties, _ = _simulate(TRUTH10, 5000, seed=13)
    other = fit_board(wins[:9, :9], ties[:9, :9], rounds=300)
    seeded = fit_board(wins, ties, rounds=300)
    for previous in (other.replicates, fit_board(wins, ties, rounds=200).replicates):
        result = fit_board(wins, ties, rounds=300, previous=previous)
        np.testing.assert_array_equal(result.ci_low, seeded.ci_low)
        np.testing.assert_array_equal(result.ci_high, seeded.ci_high)
