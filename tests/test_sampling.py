"""arena.sampling: battle weights from a board's fit (pure, no database)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from arena.sampling import draw_pair, pair_weights


def all_pairs(ids: list[int]) -> list[tuple[int, int]]:
    return [(a, b) for x, a in enumerate(ids) for b in ids[x + 1 :]]


def board(
    ratings: dict[int, float], sd: float | dict[int, float] = 10.0, votes: int = 1000
) -> dict:
    """Independent ratings with the given interval sd (Elo), as pair_weights keywords."""
    sds = sd if isinstance(sd, dict) else dict.fromkeys(ratings, sd)
    return {
        "ratings": ratings,
        "covariance": {(k, k): sds[k] ** 2 for k in ratings},
        "votes": dict.fromkeys(ratings, votes),
    }


def model_share(weights: dict[tuple[int, int], float], model: int) -> float:
    return sum(w for pair, w in weights.items() if model in pair)


RATINGS = {1: 1200.0, 2: 1100.0, 3: 1000.0, 4: 950.0, 5: 900.0, 6: 800.0}


def test_weights_sum_to_one_and_respect_the_floor() -> None:
    pairs = all_pairs(list(RATINGS))
    for floor in (0.0, 0.2, 0.5, 1.0):
        weights = pair_weights(pairs, **board(RATINGS, sd={1: 40, 2: 5, 3: 8, 4: 20, 5: 3, 6: 60}),
                               floor=floor)  # fmt: skip
        assert set(weights) == set(pairs)
        assert sum(weights.values()) == pytest.approx(1.0, abs=1e-12)
        assert min(weights.values()) >= floor / len(pairs) * (1 - 1e-12)


def test_floor_one_is_uniform() -> None:
    pairs = all_pairs(list(RATINGS))
    weights = pair_weights(pairs, **board(RATINGS), floor=1.0)
    assert all(w == pytest.approx(1 / len(pairs)) for w in weights.values())


def test_unfitted_model_gets_more_weight_than_established_ones() -> None:
    ids = [1, 2, 3, 4]
    fitted = board({1: 1100.0, 2: 1000.0, 3: 900.0}, sd=8.0)
    fitted["votes"][4] = 0  # model 4 has clips but no fit yet
    weights = pair_weights(all_pairs(ids), **fitted)
    assert model_share(weights, 4) > max(model_share(weights, k) for k in (1, 2, 3))
    assert model_share(weights, 4) > 2 / len(ids)


def test_low_vote_model_is_boosted_until_listed() -> None:
    ratings = {1: 1100.0, 2: 1000.0, 3: 900.0, 4: 1000.0}
    pairs = all_pairs(list(ratings))
    before = board(ratings)
    before["votes"][4] = 20
    after = board(ratings)
    after["votes"][4] = 80
    share_before = model_share(pair_weights(pairs, **before, listed_at=50), 4)
    share_after = model_share(pair_weights(pairs, **after, listed_at=50), 4)
    assert share_before > share_after
    assert share_before > model_share(pair_weights(pairs, **before, listed_at=50), 2)


def test_missing_or_unusable_variance_counts_as_new() -> None:
    ratings = {1: 1100.0, 2: 1000.0, 3: 900.0}
    fit = board(ratings, sd=8.0)
    fit["covariance"][(3, 3)] = 1e12  # separated data: an unbounded fitted interval
    weights = pair_weights(all_pairs([1, 2, 3]), **fit)
    assert model_share(weights, 3) > model_share(weights, 1)
    assert model_share(weights, 3) > model_share(weights, 2)


def test_far_apart_pairs_with_tight_intervals_get_little_weight() -> None:
    ratings = {1: 1400.0, 2: 1000.0, 3: 1010.0, 4: 600.0}
    weights = pair_weights(all_pairs(list(ratings)), **board(ratings, sd=5.0), floor=0.2)
    active = {pair: w - 0.2 / 6 for pair, w in weights.items()}  # beyond the uniform floor
    assert active[(1, 4)] < 0.05 * active[(2, 3)]
    assert weights[(1, 4)] < 0.3 / 6  # under a third of a uniform share
    assert weights[(2, 3)] == max(weights.values())


def test_uncertain_models_get_more_weight_at_the_same_spread() -> None:
    ratings = {1: 1050.0, 2: 1000.0, 3: 950.0, 4: 1000.0}
    weights = pair_weights(
        all_pairs(list(ratings)), **board(ratings, sd={1: 10, 2: 10, 3: 10, 4: 30})
    )
    assert model_share(weights, 4) > model_share(weights, 2)


def test_pair_spelling_and_order_are_kept_and_duplicates_dropped() -> None:
    pairs = [(3, 1), (1, 2), (1, 3), (2, 3)]
    weights = pair_weights(pairs, **board({1: 1000.0, 2: 1000.0, 3: 1000.0}))
    assert list(weights) == [(3, 1), (1, 2), (2, 3)]


def test_deterministic() -> None:
    pairs = all_pairs(list(RATINGS))
    first = pair_weights(pairs, **board(RATINGS, sd={1: 40, 2: 5, 3: 8, 4: 20, 5: 3, 6: 60}))
    second = pair_weights(pairs, **board(RATINGS, sd={1: 40, 2: 5, 3: 8, 4: 20, 5: 3, 6: 60}))
    assert first == second


def test_empty_one_pair_and_no_fit() -> None:
    assert pair_weights([], ratings={}, covariance={}, votes={}) == {}
    assert pair_weights([(4, 7)], ratings={}, covariance={}, votes={}) == {(4, 7): 1.0}
    weights = pair_weights(all_pairs([1, 2, 3, 4]), ratings={}, covariance={}, votes={})
    assert all(w == pytest.approx(1 / 6) for w in weights.values())


def test_rejects_self_pairs_and_bad_floor() -> None:
    with pytest.raises(ValueError):
        pair_weights([(1, 1)], ratings={}, covariance={}, votes={})
    with pytest.raises(ValueError):
        pair_weights([(1, 2), (2, 3)], ratings={}, covariance={}, votes={}, floor=1.5)


def test_full_covariance_from_a_fit_is_used() -> None:
    from arena.ratings import fit_board

    rng = np.random.default_rng(0)
    truth = np.array([1200.0, 1100.0, 1000.0, 900.0, 800.0])
    wins = np.zeros((5, 5), np.int64)
    for _ in range(3000):
        a, b = rng.choice(5, 2, replace=False)
        p = 1 / (1 + 10 ** ((truth[b] - truth[a]) / 400))
        wins[(a, b) if rng.random() < p else (b, a)] += 1
    fit = fit_board(wins, np.zeros((5, 5), np.int64), rounds=20)
    ids = [11, 12, 13, 14, 15]
    weights = pair_weights(
        all_pairs(ids),
        ratings={ids[x]: fit.rating[x] for x in range(5)},
        covariance={(ids[x], ids[y]): fit.covariance[x, y] for x in range(5) for y in range(5)},
        votes={ids[x]: int(fit.votes[x]) for x in range(5)},
    )
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights[(11, 12)] > weights[(11, 15)]  # neighbours beat the two extremes


def test_draw_pair_follows_the_weights_and_returns_the_probability() -> None:
    weights = {(1, 2): 0.7, (1, 3): 0.2, (2, 3): 0.1}
    rng = np.random.default_rng(1)
    draws = [draw_pair(weights, rng) for _ in range(4000)]
    counts = {pair: sum(1 for d, _ in draws if d == pair) for pair in weights}
    assert counts[(1, 2)] / 4000 == pytest.approx(0.7, abs=0.03)
    assert counts[(2, 3)] / 4000 == pytest.approx(0.1, abs=0.03)
    assert all(prob == pytest.approx(weights[pair]) for pair, prob in draws)
    assert draw_pair(weights, random.Random(5)) == draw_pair(weights, random.Random(5))


def test_draw_pair_skips_zero_weights_and_rejects_empty() -> None:
    rng = random.Random(0)
    assert all(draw_pair({(1, 2): 0.0, (3, 4): 1.0}, rng)[0] == (3, 4) for _ in range(50))
    with pytest.raises(ValueError):
        draw_pair({}, rng)


def test_a_newcomer_is_capped_at_max_share_of_battles() -> None:
    ratings = {k: 1000.0 + 8.0 * (k - 15) for k in range(30)}
    fit = board(ratings, sd=8.0)
    for k in (0, 29):  # model 0 is new, model 29 unfitted with few votes
        del fit["ratings"][k], fit["covariance"][(k, k)]
        fit["votes"][k] = 3
    pairs = all_pairs(list(range(30)))
    weights = pair_weights(pairs, **fit, max_share=0.25)
    assert model_share(weights, 0) == pytest.approx(0.25, abs=1e-6)
    assert model_share(weights, 29) == pytest.approx(0.25, abs=1e-6)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert min(weights.values()) >= 0.2 / len(pairs) * (1 - 1e-12)
    uncapped = pair_weights(pairs, **fit, max_share=1.0)
    assert model_share(uncapped, 0) > 0.3
