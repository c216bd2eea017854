"""Empirical coverage and timing of arena.ratings bootstrap intervals.

Run from the repository root:

    .venv/bin/python bench/interval_coverage.py [--trials N] [--models M] [--votes V] [--rounds R]

Each trial draws V synthetic votes (with ties whose expected score is the BT probability)
from known Elo ratings for M models, fits them with R bootstrap rounds and checks whether each
model's 95 % interval contains its centred true rating.  Prints coverage (target ~0.95), the
average interval half-width per model, the time per board fit, and a timing line for a
30-model, 1000-round board (the product target: <= 25 ms ideally, 36 boards well under 10 s).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena.ratings import bt_probability, fit_board  # noqa: E402


def simulate(
    truth: np.ndarray, votes: int, rng: np.random.Generator, tie_rate: float = 0.15
) -> tuple[np.ndarray, np.ndarray]:
    """Aggregated (wins, upper-triangular ties) for ``votes`` random pairings."""
    m = truth.size
    i = rng.integers(0, m, votes)
    j = (i + rng.integers(1, m, votes)) % m
    p = bt_probability(truth[i], truth[j])
    p_tie = 2.0 * tie_rate * np.minimum(p, 1.0 - p)
    tie = rng.random(votes) < p_tie
    win = ~tie & (rng.random(votes) < (p - p_tie / 2) / (1.0 - p_tie))
    lose = ~tie & ~win
    wins = np.zeros((m, m), np.int64)
    ties = np.zeros((m, m), np.int64)
    np.add.at(wins, (i[win], j[win]), 1)
    np.add.at(wins, (j[lose], i[lose]), 1)
    np.add.at(ties, (np.minimum(i, j)[tie], np.maximum(i, j)[tie]), 1)
    return wins, ties


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--votes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    truth = np.sort(rng.normal(1000.0, 120.0, args.models))
    centred = truth - truth.mean() + 1000.0
    hits = np.zeros(args.models)
    half = np.zeros(args.models)
    times = []
    for trial in range(args.trials):
        wins, ties = simulate(truth, args.votes, rng)
        start = time.perf_counter()
        fit = fit_board(wins, ties, rounds=args.rounds, seed=trial)
        times.append(time.perf_counter() - start)
        hits += (fit.ci_low <= centred) & (centred <= fit.ci_high)
        half += (fit.ci_high - fit.ci_low) / 2
    print(
        f"{args.trials} trials, {args.models} models, {args.votes} votes, "
        f"{args.rounds} rounds, ties ~15 % at p = 0.5"
    )
    print(f"coverage of 95 % intervals: {hits.sum() / (args.trials * args.models):.4f}")
    print("per-model coverage:", " ".join(f"{c:.2f}" for c in hits / args.trials))
    print("per-model mean half-width (Elo):", " ".join(f"{h:.1f}" for h in half / args.trials))
    print(
        f"board fit time: median {1e3 * np.median(times):.1f} ms, "
        f"mean {1e3 * np.mean(times):.1f} ms, max {1e3 * np.max(times):.1f} ms"
    )

    truth30 = rng.normal(1000.0, 120.0, 30)
    for votes in (5_000, 200_000):
        wins, ties = simulate(truth30, votes, rng)
        fit_board(wins, ties, rounds=1000)  # warm-up
        runs = []
        for seed in range(5):
            start = time.perf_counter()
            fit_board(wins, ties, rounds=1000, seed=seed)
            runs.append(time.perf_counter() - start)
        best, median = 1e3 * min(runs), 1e3 * float(np.median(runs))
        print(
            f"30-model board, {votes} votes, 1000 rounds: best {best:.1f} ms, "
            f"median {median:.1f} ms; 36 boards ~ {36 * median / 1e3:.2f} s"
        )


if __name__ == "__main__":
    main()
