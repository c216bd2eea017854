"""Votes needed for a converged leaderboard: active sampling (arena.sampling) vs uniform pairs.

Run from the repository root:

    .venv/bin/python bench/matchmaking.py [--seeds 3] [--models 30] [--batch 1000]

Each seed draws true Bradley-Terry ratings for the models (normal, sd 120 Elo, redrawn until
the top six are at least 15 Elo apart so that "the top 5 in the right order" is reachable) and
simulated voters who vote by those ratings (ties ~10 %: a tie has probability
2 * 0.15 * min(p, 1 - p), the rest splits so the expected score is p).  Battles are issued by
the real ``arena.sampling.pair_weights`` / ``draw_pair``, with the weights recomputed from the
current fit every ``--batch`` votes (the live server refits about once a minute), or drawn
uniformly over the pairs.  After every batch the board is refitted with ``fit_board`` and
checked for:

* width: the median 95 % interval half-width is below 15 Elo (searched with ``--rounds``
  bootstrap rounds; a crossing is confirmed with a 1000-round bootstrap, else the run goes on);
* top 5: the five best models by fitted rating are the true top five in the true order, at
  this check and the next two.

Prints, per seed and policy, the votes at which each criterion was first met, then the means
and the relative saving of the active policy.  A second table follows one mid-table model that
joins a board already holding ``--established`` votes: the votes after its arrival until it is
listed (50 games) and until its own half-width is below 15 Elo.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena import sampling  # noqa: E402
from arena.ratings import bt_probability, fit_board  # noqa: E402

TARGET_HALF_WIDTH = 15.0  # Elo
TOP = 5
LISTED = 50  # games before a model is listed (ARENA_MIN_VOTES_LISTED)
HOLD = 3  # top-5 order must hold at this many consecutive checks
TIE_RATE = 0.15


def true_ratings(models: int, sd: float, rng: np.random.Generator) -> np.ndarray:
    while True:
        truth = 1000.0 + rng.normal(0.0, sd, models)
        top = np.sort(truth)[::-1][: TOP + 1]
        if np.all(-np.diff(top) >= 15.0):
            return truth


def vote(truth: np.ndarray, a: np.ndarray, b: np.ndarray, rng: np.random.Generator):
    """Outcomes of battles (a[k], b[k]): (a wins, b wins, tie) boolean arrays."""
    p = bt_probability(truth[a], truth[b])
    p_tie = 2.0 * TIE_RATE * np.minimum(p, 1.0 - p)
    tie = rng.random(a.size) < p_tie
    a_wins = ~tie & (rng.random(a.size) < (p - p_tie / 2) / (1.0 - p_tie))
    return a_wins, ~tie & ~a_wins, tie


def battle(
    weights: dict,
    count: int,
    truth: np.ndarray,
    wins: np.ndarray,
    ties: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Issue ``count`` battles with ``draw_pair``, add their votes to the counts; returns pairs."""
    drawn = [sampling.draw_pair(weights, rng)[0] for _ in range(count)]
    a, b = np.array(drawn).T
    a_wins, b_wins, tie = vote(truth, a, b, rng)
    np.add.at(wins, (a[a_wins], b[a_wins]), 1)
    np.add.at(wins, (b[b_wins], a[b_wins]), 1)
    np.add.at(ties, (np.minimum(a, b)[tie], np.maximum(a, b)[tie]), 1)
    return np.column_stack([a, b])


def weights_from_fit(pairs: list[tuple[int, int]], fit, floor: float) -> dict:  # noqa: ANN001
    """The same inputs the live server builds from a board's fit (``matchmaking.fit_payload``)."""
    keep = np.flatnonzero(fit.fitted)
    cov = fit.covariance
    return sampling.pair_weights(
        pairs,
        ratings={int(k): float(fit.rating[k]) for k in keep},
        covariance={(int(x), int(y)): float(cov[x, y]) for x in keep for y in keep},
        votes={k: int(v) for k, v in enumerate(fit.votes)},
        floor=floor,
    )


def half_width(wins: np.ndarray, ties: np.ndarray, rounds: int, seed: int):  # noqa: ANN201
    fit = fit_board(wins, ties, rounds=rounds, seed=seed)
    return fit, float(np.nanmedian((fit.ci_high - fit.ci_low) / 2.0))


def run(
    policy: str, truth: np.ndarray, args: argparse.Namespace, seed: int
) -> tuple[int | None, int | None, float]:
    """Votes at which the width and the top-5 criteria were met (None: not by --max-votes)."""
    m = truth.size
    rng = np.random.default_rng([seed, 1 if policy == "active" else 2])
    pairs = [(a, b) for a in range(m) for b in range(a + 1, m)]
    uniform = {pair: 1.0 / len(pairs) for pair in pairs}
    order = np.argsort(-truth)[:TOP]
    wins = np.zeros((m, m), np.int64)
    ties = np.zeros((m, m), np.int64)
    weights, total, width_at, top_at, streak = uniform, 0, None, None, 0
    started = time.perf_counter()
    while total < args.max_votes and (width_at is None or top_at is None):
        battle(weights, args.batch, truth, wins, ties, rng)
        total += args.batch
        fit, median_hw = half_width(wins, ties, args.rounds, total)
        if width_at is None and median_hw < TARGET_HALF_WIDTH:
            if half_width(wins, ties, 1000, total)[1] < TARGET_HALF_WIDTH:
                width_at = total
        right = fit.fitted.all() and np.array_equal(np.argsort(-fit.rating)[:TOP], order)
        streak = streak + 1 if right else 0
        if top_at is None and streak >= HOLD:
            top_at = total - (HOLD - 1) * args.batch
        if policy == "active":
            weights = weights_from_fit(pairs, fit, args.floor)
    return width_at, top_at, time.perf_counter() - started


def newcomer(
    policy: str, truth: np.ndarray, args: argparse.Namespace, seed: int
) -> tuple[int | None, int | None]:
    """A model joins a board of the others that already has ``--established`` uniform votes.

    Returns the votes after its arrival until it is listed (50 games, counted vote by vote) and
    until its own 95 % half-width is below 15 Elo (checked after every batch; None: not by
    --max-votes).
    """
    m = truth.size
    new = int(np.argsort(truth)[m // 2])  # a mid-table newcomer: the most crowded spot
    rng = np.random.default_rng([seed, 3])
    old = [(a, b) for a in range(m) for b in range(a + 1, m) if new not in (a, b)]
    wins = np.zeros((m, m), np.int64)
    ties = np.zeros((m, m), np.int64)
    battle({pair: 1.0 / len(old) for pair in old}, args.established, truth, wins, ties, rng)
    rng = np.random.default_rng([seed, 4 if policy == "active" else 5])
    pairs = [(a, b) for a in range(m) for b in range(a + 1, m)]
    fit = fit_board(wins, ties, rounds=args.rounds, seed=seed)
    total, listed_at, narrow_at = 0, None, None
    while total < args.max_votes and narrow_at is None:
        weights = (
            weights_from_fit(pairs, fit, args.floor)
            if policy == "active"
            else {pair: 1.0 / len(pairs) for pair in pairs}
        )
        games_before = int(
            wins[new].sum() + wins[:, new].sum() + ties[new].sum() + ties[:, new].sum()
        )
        drawn = battle(weights, args.batch, truth, wins, ties, rng)
        if listed_at is None:
            games = games_before + np.cumsum((drawn == new).any(axis=1))
            if games[-1] >= LISTED:
                listed_at = total + 1 + int(np.argmax(games >= LISTED))
        total += args.batch
        fit = fit_board(wins, ties, rounds=args.rounds, seed=total)
        if fit.fitted[new] and (fit.ci_high[new] - fit.ci_low[new]) / 2 < TARGET_HALF_WIDTH:
            narrow_at = total
    return listed_at, narrow_at


def fmt(x: float | None, cap: int) -> str:
    return f">{cap:,d}" if x is None else f"{x:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1000, help="votes between refits")
    parser.add_argument("--rounds", type=int, default=200, help="bootstrap rounds per check")
    parser.add_argument("--floor", type=float, default=0.2)
    parser.add_argument("--sd", type=float, default=120.0, help="spread of true ratings, Elo")
    parser.add_argument("--max-votes", type=int, default=150_000)
    parser.add_argument(
        "--established", type=int, default=20_000, help="board votes before a newcomer joins"
    )
    args = parser.parse_args()

    print(f"{args.models} models, true ratings ~ N(1000, {args.sd:g}^2) Elo, ties ~10 %, "
          f"refit every {args.batch} votes, floor {args.floor:g}, target median 95 % "
          f"half-width < {TARGET_HALF_WIDTH:g} Elo")  # fmt: skip
    print(f"{'seed':>4} {'policy':>8} {'width<15':>10} {'top-5 order':>12} {'time':>7}")
    results: dict[str, list[tuple[int | None, int | None]]] = {"active": [], "uniform": []}
    for seed in range(args.seeds):
        truth = true_ratings(args.models, args.sd, np.random.default_rng([seed, 0]))
        for policy in ("active", "uniform"):
            width_at, top_at, secs = run(policy, truth, args, seed)
            results[policy].append((width_at, top_at))
            cells = f"{fmt(width_at, args.max_votes):>10} {fmt(top_at, args.max_votes):>12}"
            print(f"{seed:>4} {policy:>8} {cells} {secs:>6.1f}s")

    def mean(policy: str, k: int) -> float:
        values = [r[k] if r[k] is not None else args.max_votes for r in results[policy]]
        return float(np.mean(values))

    for k, label in ((0, "median half-width < 15 Elo"), (1, "top 5 in the right order")):
        act, uni = mean("active", k), mean("uniform", k)
        print(f"mean votes, {label}: active {act:,.0f}, uniform {uni:,.0f}, "
              f"saving {100 * (1 - act / uni):+.1f} %")  # fmt: skip

    print(f"\na mid-table model joins after {args.established:,} votes (batches of {args.batch}):")
    print(f"{'seed':>4} {'policy':>8} {'listed':>8} {'width<15':>10}")
    joined: dict[str, list[tuple[int | None, int | None]]] = {"active": [], "uniform": []}
    for seed in range(args.seeds):
        truth = true_ratings(args.models, args.sd, np.random.default_rng([seed, 0]))
        for policy in ("active", "uniform"):
            listed_at, narrow_at = newcomer(policy, truth, args, seed)
            joined[policy].append((listed_at, narrow_at))
            cells = f"{fmt(listed_at, args.max_votes):>8} {fmt(narrow_at, args.max_votes):>10}"
            print(f"{seed:>4} {policy:>8} {cells}")
    for k, label in ((0, "listed"), (1, "its half-width < 15 Elo")):
        values = {
            p: float(np.mean([r[k] if r[k] is not None else args.max_votes for r in joined[p]]))
            for p in joined
        }
        print(f"mean votes after arrival until {label}: active {values['active']:,.0f}, "
              f"uniform {values['uniform']:,.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
