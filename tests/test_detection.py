"""The detector's tests on synthetic voters: honest ones pass, each kind of cheat is caught."""

from __future__ import annotations

import numpy as np
import pytest

from votes import detection

TRUTH = np.array([1150.0, 1100.0, 1060.0, 1030.0, 1000.0, 970.0, 930.0, 880.0])
PARAMS = detection.Params()


def p_win(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + 10 ** ((TRUTH[b] - TRUTH[a]) / 400.0))


def honest_outcomes(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    tie = rng.random(len(a)) < 0.1
    a_won = rng.random(len(a)) < p_win(a, b)
    return np.where(tie, 2, np.where(a_won, 0, 1))


def history(rng: np.random.Generator, n: int = 40_000) -> dict:
    """A crowd's counts on every pair, voting by TRUTH."""
    a, b = random_pairs(n, rng)
    outcome = honest_outcomes(a, b, rng)
    pairs: dict = {}
    for x, y, o in zip(a, b, outcome, strict=True):
        lo, hi = min(x, y), max(x, y)
        cell = pairs.setdefault((int(lo), int(hi)), np.zeros(3))
        cell[2 if o == 2 else (0 if (o == 0) == (x == lo) else 1)] += 1
    return {0: pairs}


def random_pairs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.integers(0, len(TRUTH), n)
    b = (a + rng.integers(1, len(TRUTH), n)) % len(TRUTH)
    return a, b


def subject(a, b, outcome, *, time_ms=None, check=None, failed=None) -> detection.Subject:  # noqa: ANN001
    n = len(a)
    return detection.Subject(
        code=np.zeros(n, dtype=int),
        model_a=np.asarray(a),
        model_b=np.asarray(b),
        outcome=np.asarray(outcome),
        counted=np.zeros(n, dtype=bool),
        time_ms=np.full(n, 9000) if time_ms is None else np.asarray(time_ms),
        clip_ms=np.full(n, 4000),
        at=np.arange(n) * 12.0,
        check=np.zeros(n, dtype=bool) if check is None else np.asarray(check),
        check_failed=np.zeros(n, dtype=bool) if failed is None else np.asarray(failed),
    )


@pytest.fixture(scope="module")
def crowd() -> dict:
    return history(np.random.default_rng(0))


def test_honest_voters_are_rarely_flagged(crowd: dict) -> None:
    rng = np.random.default_rng(1)
    flagged = 0
    for _ in range(300):
        a, b = random_pairs(40, rng)
        finding = detection.score(subject(a, b, honest_outcomes(a, b, rng)), crowd, PARAMS)
        flagged += finding.suspicion >= PARAMS.flag_at
    assert flagged <= 3  # 1 %: the bar is one in a thousand per test, corrected


def test_voting_for_one_model_whenever_it_appears_is_quarantined(crowd: dict) -> None:
    rng = np.random.default_rng(2)
    target = 5
    a, b = random_pairs(400, rng)
    keep = (a == target) | (b == target)
    a, b = a[keep][:25], b[keep][:25]
    finding = detection.score(subject(a, b, np.where(a == target, 0, 1)), crowd, PARAMS)
    assert finding.suspicion >= PARAMS.quarantine_at
    assert finding.tests["pull"]["model"] == target
    assert finding.tests["pull"]["direction"] == "for"
    assert any("pulls for" in reason for reason in finding.reasons)


def test_sinking_the_models_above_a_target_disagrees_with_the_crowd(crowd: dict) -> None:
    rng = np.random.default_rng(3)
    a, b = random_pairs(200, rng)
    # Always the weaker of the two: the opposite of the crowd.
    outcome = np.where(TRUTH[a] < TRUTH[b], 0, 1)
    finding = detection.score(subject(a, b, outcome), crowd, PARAMS)
    assert finding.tests["consensus"]["z"] > 5
    assert finding.suspicion >= PARAMS.quarantine_at


def test_always_the_same_side_is_caught(crowd: dict) -> None:
    rng = np.random.default_rng(4)
    a, b = random_pairs(60, rng)
    finding = detection.score(subject(a, b, np.zeros(60, dtype=int)), crowd, PARAMS)
    assert finding.tests["position"] == {"a": 60, "b": 0, "p": pytest.approx(1.7e-18, rel=0.1)}
    assert finding.suspicion >= PARAMS.quarantine_at


def test_votes_faster_than_the_clips_are_caught(crowd: dict) -> None:
    rng = np.random.default_rng(5)
    a, b = random_pairs(30, rng)
    finding = detection.score(
        subject(a, b, honest_outcomes(a, b, rng), time_ms=np.full(30, 3300)), crowd, PARAMS
    )
    assert finding.tests["speed"]["fast"] == 30
    assert finding.suspicion >= PARAMS.quarantine_at


def test_failed_attention_checks_flag_then_quarantine(crowd: dict) -> None:
    rng = np.random.default_rng(6)
    a, b = random_pairs(15, rng)
    outcome = honest_outcomes(a, b, rng)
    check = np.arange(15) < 5

    def failing(n: int) -> detection.Finding:
        votes = subject(a, b, outcome, check=check, failed=np.arange(15) < n)
        return detection.score(votes, crowd, PARAMS)

    assert failing(1).suspicion < PARAMS.flag_at  # one slip is forgiven
    assert PARAMS.flag_at <= failing(3).suspicion < PARAMS.quarantine_at
    assert "failed 3 of 5 attention checks" in failing(3).reasons
    assert failing(5).suspicion >= PARAMS.quarantine_at


def test_bursts_and_crowded_addresses_flag_but_do_not_quarantine(crowd: dict) -> None:
    rng = np.random.default_rng(7)
    a, b = random_pairs(20, rng)
    votes = subject(a, b, honest_outcomes(a, b, rng))
    votes.at = np.arange(20) * 2.0  # twenty votes in forty seconds
    finding = detection.score(votes, crowd, PARAMS, sessions_on_address=12)
    assert PARAMS.flag_at <= finding.suspicion < PARAMS.quarantine_at
    assert "20 votes in one minute" in finding.reasons
    assert "12 sessions share this address" in finding.reasons


def test_the_voters_own_votes_are_taken_out_of_the_history() -> None:
    # A pair seen only through this voter: with their votes removed there is no history,
    # so they cannot disagree with it.
    own = {0: {(0, 1): np.array([0.0, 30.0, 0.0])}}
    votes = subject(np.zeros(30, dtype=int), np.ones(30, dtype=int), np.ones(30, dtype=int))
    votes.counted[:] = True
    probs, chosen = detection._pair_history(votes, own)
    assert np.allclose(probs, 1 / 3) and (chosen == 1).all()


def test_honest_voters_disagree_with_the_crowd_as_often_as_their_p_values_say() -> None:
    # Twenty votes on pairs with twenty votes of history each, drawn as the test assumes:
    # a normal reference for the sum put 1.75 % of these voters below p = 1 %.
    rng = np.random.default_rng(8)
    pvalues = []
    for _ in range(4000):
        pair_history = rng.multinomial(20, [0.55, 0.35, 0.1], size=20) + detection.SMOOTHING
        probs = pair_history / pair_history.sum(axis=1, keepdims=True)
        chosen = (rng.random((20, 1)) > probs.cumsum(axis=1)).sum(axis=1)
        pvalues.append(detection.consensus_test(probs, chosen)["p"])
    assert np.mean(np.array(pvalues) < 1e-2) == pytest.approx(1e-2, abs=4e-3)


def test_picking_a_long_shot_five_times_of_five_gets_its_exact_chance() -> None:
    # Model 1 wins each of these votes with probability 0.24: five wins of five happen
    # 0.24^5 = 8e-4 of the time, doubled (two-sided) and doubled again (two models).
    # A normal reference said z = 3.7 and p = 4e-4, eight times too small.
    votes = subject(np.zeros(5, dtype=int), np.ones(5, dtype=int), np.ones(5, dtype=int))
    probs = np.tile([0.66, 0.24, 0.10], (5, 1))
    pull = detection.pull_test(votes, probs, np.ones(5, dtype=int))
    assert pull["p"] == pytest.approx(2 * 2 * 0.24**5)
    # Model 0's five losses are the same finding seen from the other side.
    assert (pull["model"], pull["direction"]) in [(1, "for"), (0, "against")]


def test_a_voters_pull_on_a_model_is_judged_by_the_exact_distribution_of_its_score() -> None:
    rng = np.random.default_rng(9)
    a, b = random_pairs(300, rng)
    votes = subject(a, b, np.where(a == 2, 0, np.where(b == 2, 1, rng.integers(0, 3, 300))))
    probs = rng.dirichlet([3.0, 3.0, 1.0], size=300)
    lo, hi, chosen = detection._chosen(votes)
    pull = detection.pull_test(votes, probs, chosen)
    assert pull["model"] == 2 and pull["direction"] == "for"
    # Monte Carlo of model 2's score under the null, as a check of the convolution.
    mine = (lo == 2) | (hi == 2)
    side = np.where(lo[mine] == 2, 0, 1)
    rows = probs[mine]
    win, tie = rows[np.arange(mine.sum()), side], rows[:, 2]
    draws = rng.random((200_000, mine.sum()))
    scores = (draws < win).sum(axis=1) + 0.5 * ((draws >= win) & (draws < win + tie)).sum(axis=1)
    models = len(np.unique(np.concatenate([lo, hi])))
    assert pull["p"] == pytest.approx(2 * models * np.mean(scores >= pull["score"]), rel=0.1)
