"""Timing of arena.ratings.fit_board on product-sized boards.

Run from the repository root:

    .venv/bin/python bench/ratings_fit.py [--repeats N] [--profile] [--boards FILE.npz]

Times 30-model boards (5 000 and 200 000 votes, 1000 bootstrap rounds), projects the total
for 36 such boards, and times small / separated boards.  ``--profile`` prints a cProfile
summary of the 30-model fits.  ``--boards`` also times saved real boards: an .npz holding
``<name>__wins`` and ``<name>__ties`` matrices (best of ``--repeats``, seed 0; total and max).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interval_coverage import simulate  # noqa: E402  (bench/ is sys.path[0])

from arena.ratings import fit_board  # noqa: E402


def timed(wins: np.ndarray, ties: np.ndarray, repeats: int, rounds: int = 1000) -> list[float]:
    fit_board(wins, ties, rounds=rounds)  # warm-up
    runs = []
    for seed in range(repeats):
        start = time.perf_counter()
        fit_board(wins, ties, rounds=rounds, seed=seed)
        runs.append(1e3 * (time.perf_counter() - start))
    return runs


def time_saved_boards(path: Path, repeats: int) -> None:
    saved = np.load(path)
    names = sorted(key.removesuffix("__wins") for key in saved.files if key.endswith("__wins"))
    best = []
    for name in names:
        wins, ties = saved[f"{name}__wins"], saved[f"{name}__ties"]
        best.append(min(timed(wins, ties, repeats)))
        print(f"{name:>48}: {int(wins.sum() + np.triu(ties).sum()):>9} votes, {best[-1]:6.1f} ms")
    print(f"{len(names)} saved boards: total {sum(best):.0f} ms, max {max(best):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--boards", type=Path, help="time the boards saved in this .npz")
    args = parser.parse_args()
    if args.boards is not None:
        time_saved_boards(args.boards, args.repeats)

    rng = np.random.default_rng(2024)
    truth30 = rng.normal(1000.0, 120.0, 30)
    boards = {votes: simulate(truth30, votes, rng) for votes in (5_000, 200_000)}
    for votes, (wins, ties) in boards.items():
        runs = timed(wins, ties, args.repeats)
        med = float(np.median(runs))
        print(
            f"30 models, {votes:>7} votes, 1000 rounds: best {min(runs):6.1f} ms, "
            f"median {med:6.1f} ms, max {max(runs):6.1f} ms; 36 boards ~ {36 * med / 1e3:.2f} s"
        )

    small = {
        "2 models, 10 votes": (np.array([[0, 6], [4, 0]]), np.array([[0, 2], [0, 0]])),
        "3 models, unbeaten": (np.array([[0, 12, 9], [0, 0, 5], [0, 4, 0]]), np.zeros((3, 3))),
        "5 models, 40 votes": simulate(np.linspace(900, 1100, 5), 40, rng),
        "30 models, 300 votes": simulate(truth30, 300, rng),
    }
    unbeaten_wins, unbeaten_ties = simulate(truth30, 5_000, rng)
    unbeaten_wins[:, 0] = 0  # model 0 never loses
    unbeaten_ties[0, :] = 0
    small["30 models, 5000 votes, one unbeaten"] = (unbeaten_wins, unbeaten_ties)
    for name, (wins, ties) in small.items():
        runs = timed(wins, ties, args.repeats)
        fit = fit_board(wins, ties)
        finite = bool(np.all(np.isfinite(fit.ci_high[fit.fitted])))
        print(
            f"{name:>36}: median {np.median(runs):6.1f} ms, max {max(runs):6.1f} ms, "
            f"finite={finite}"
        )

    if args.profile:
        for votes, (wins, ties) in boards.items():
            prof = cProfile.Profile()
            prof.enable()
            for seed in range(5):
                fit_board(wins, ties, rounds=1000, seed=seed)
            prof.disable()
            print(f"--- profile, {votes} votes, 5 fits")
            pstats.Stats(prof).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
