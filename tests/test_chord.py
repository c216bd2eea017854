"""Tests for arena.chord: bootstrap refits that stop rows which cannot move a percentile."""

from __future__ import annotations

import numpy as np
import pytest

from arena import band_kernels, btsolve, chord
from arena.ratings import BoardFit, fit_board
from tests.test_ratings import _simulate

TRUTH30 = np.random.default_rng(3).normal(1000.0, 120.0, 30)


def _converged(wins: np.ndarray, ties: np.ndarray, **kwargs: object) -> BoardFit:
    """The same fit (same resamples) with every row refitted to 1e-5 Elo and none frozen."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(btsolve, "TOL_BOOT_ELO", 1e-5)
        patch.setattr(chord, "_CHECK_SHARE", np.inf)
        return fit_board(wins, ties, **kwargs)  # type: ignore[arg-type]


def _boards() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    boards = {}
    for votes in (300, 5_000, 200_000):
        wins, ties, _ = _simulate(TRUTH30, votes, seed=votes)
        boards[f"30 models, {votes} votes"] = (wins, ties)
    wins, ties, _ = _simulate(np.linspace(900.0, 1100.0, 3), 20_000, seed=4)
    boards["3 models"] = (wins, ties)
    wins, ties, _ = _simulate(np.linspace(900.0, 1100.0, 5), 40, seed=5)
    boards["5 models, 40 votes"] = (wins, ties)
    wins, ties, _ = _simulate(TRUTH30, 5_000, seed=6)
    wins[:, 0] = 0  # model 0 never loses: float64 refits, some handed to exact Newton
    ties[0, :] = 0
    ties[:, 0] = 0
    boards["30 models, one unbeaten"] = (wins, ties)
    return boards


BOARDS = _boards()
# Where some resamples are nearly separated (10 votes a pair), steps shrink by up to 0.9 a pass
# and rows end, as they always did, once a step is below TOL_BOOT_ELO: up to ~9x that away.
SLOW = {"30 models, 300 votes", "5 models, 40 votes"}


@pytest.mark.parametrize("name", list(BOARDS))
def test_intervals_match_fully_converged_refits_fresh_and_warm_started(name: str) -> None:
    wins, ties = BOARDS[name]
    tol = btsolve.TOL_BOOT_ELO * (9 if name in SLOW else 1)
    more_wins, more_ties, _ = _simulate(np.resize(TRUTH30, wins.shape[0]), 200, seed=9)
    previous = None
    for extra in (0, 1, 2):  # fresh, then twice warm-started from the previous bootstrap
        wins, ties = wins + extra * more_wins, ties + extra * more_ties
        fit = fit_board(wins, ties, rounds=600, previous=previous)
        exact = _converged(wins, ties, rounds=600, previous=previous)
        ok = fit.fitted
        np.testing.assert_allclose(fit.ci_low[ok], exact.ci_low[ok], rtol=0, atol=tol)
        np.testing.assert_allclose(fit.ci_high[ok], exact.ci_high[ok], rtol=0, atol=tol)
        previous = fit.replicates


def _boot(fit: BoardFit) -> np.ndarray:
    assert fit.replicates is not None
    theta = fit.replicates.theta
    return btsolve.ELO_PER_NAT * (theta - theta.mean(axis=1, keepdims=True))


def test_a_frozen_row_is_on_the_same_side_of_every_percentile_as_its_converged_refit() -> None:
    wins, ties = BOARDS["30 models, 5000 votes"]
    first = fit_board(wins, ties, rounds=1000)
    more_wins, more_ties, _ = _simulate(TRUTH30, 100, seed=8)
    for previous in (None, first.replicates):
        fit = fit_board(wins + more_wins, ties + more_ties, rounds=1000, previous=previous)
        exact = _converged(wins + more_wins, ties + more_ties, rounds=1000, previous=previous)
        got, want = _boot(fit), _boot(exact)
        frozen = np.abs(got - want).max(axis=1) > btsolve.TOL_BOOT_ELO
        assert frozen.mean() > 0.2  # most of the saving: rows far from every percentile
        # Clear of the two order statistics each percentile reads, and on the same side of them
        # as where the converged refit ends.
        order_got, order_want = np.sort(got, axis=0), np.sort(want, axis=0)
        for k0, k1 in chord.percentile_ranks(got.shape[0], (2.5, 97.5)):
            below = got[frozen] < order_got[k0]
            assert np.all(below | (got[frozen] > order_got[k1]))
            assert np.array_equal(below, want[frozen] < order_want[k0])
            assert np.array_equal(~below, want[frozen] > order_want[k1])


def test_stored_thetas_of_frozen_rows_only_serve_as_the_next_start() -> None:
    wins, ties = BOARDS["30 models, 200000 votes"]
    first = fit_board(wins, ties, rounds=1000)
    assert first.replicates is not None and 0 < (first.replicates.rate or 0) < 0.2
    again = fit_board(wins, ties, rounds=1000, previous=first.replicates)
    # Same counts, same resamples: every row's first step from its stored theta is its whole
    # remaining error, so the intervals are those of converged refits again.
    exact = _converged(wins, ties, rounds=1000, previous=first.replicates)
    np.testing.assert_allclose(again.ci_low, exact.ci_low, rtol=0, atol=btsolve.TOL_BOOT_ELO)
    np.testing.assert_allclose(again.ci_high, exact.ci_high, rtol=0, atol=btsolve.TOL_BOOT_ELO)


def _near_exact(values: np.ndarray, bounds: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """The bands with exact order statistics (numpy), the kernel's reference."""
    low = values - bounds[:, None]
    high = values + bounds[:, None]
    near = np.zeros(values.shape[0], bool)
    for k0, k1 in ranks:
        floor, ceiling = np.sort(low, axis=0)[k0], np.sort(high, axis=0)[k1]
        near |= ((high >= floor) & (low <= ceiling)).any(axis=1)
    return near


@pytest.mark.parametrize("rows", [1, 2, 3, 40, 999, 1000])
def test_band_kernel_keeps_every_row_an_exact_band_keeps_and_few_more(rows: int) -> None:
    rng = np.random.default_rng(rows)
    ranks = chord.percentile_ranks(rows, (2.5, 97.5))
    extra = 0
    for trial in range(12):
        values = rng.normal(size=(rows, 30))
        if trial % 3 == 0:
            values = np.round(values, 1)  # ties
        bounds = rng.random(rows) * 0.05 * (trial % 4)
        bounds[rng.random(rows) < 0.01 * (trial % 2)] = np.inf  # failed rows: unknown values
        exact = _near_exact(values, bounds, ranks)
        got = band_kernels.near_percentiles(np.ascontiguousarray(values.T), bounds, ranks)
        assert np.all(got[exact])
        extra += int(got.sum() - exact.sum())
    assert extra <= 0.1 * rows * 12


def test_percentile_ranks_are_the_order_statistics_np_percentile_reads() -> None:
    for rows in range(1, 2100):
        values = np.arange(rows, dtype=float) ** 1.5
        for (k0, k1), value in zip(
            chord.percentile_ranks(rows, (2.5, 97.5)),
            np.percentile(values, [2.5, 97.5]),
            strict=True,
        ):
            assert values[k0] <= value <= values[k1]
