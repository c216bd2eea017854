"""Timing of arena.ratings.fit_board on product-sized boards.

Run from the repository root:

    .venv/bin/python bench/ratings_fit.py [--repeats N] [--profile] [--boards FILE.npz]
    .venv/bin/python bench/ratings_fit.py --incremental 1000000 10000000 [--repeats N]

Times 30-model boards (5 000 and 200 000 votes, 1000 bootstrap rounds), projects the total
for 36 such boards, and times small / separated boards.  ``--profile`` prints a cProfile
summary of the 30-model fits.  ``--boards`` also times saved real boards: an .npz holding
``<name>__wins`` and ``<name>__ties`` matrices (best of ``--repeats``, seed 0; total and max).

``--incremental`` replays what leaderboards.recompute does, on one thread: the 36 boards of a
synthetic history of that many votes (2 arenas x 2 modes x (overall + 8 categories), as
votes.synthetic draws them), fitted afresh, then twice refitted with ``previous=`` after
10 000 more votes each time; it prints the CPU seconds of each round of 36 fits and of the
bootstrap refits in them (chord.refit), as ranges over ``--repeats``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interval_coverage import simulate  # noqa: E402  (bench/ is sys.path[0])

from arena import chord, resample  # noqa: E402
from arena.ratings import fit_board  # noqa: E402

_CATEGORIES = 8


def history_boards(votes: int, models: np.ndarray, seed: int) -> dict[tuple[int, int], tuple]:
    """(wins, ties) per board for ``votes`` synthetic votes (votes.synthetic's proportions).

    Boards are keyed (arena * 2 + mode, category or -1 for overall).  Prompts (1000, fixed by
    the model strengths' generator) are a fifth image-to-video and have one or two categories;
    40 % of votes are in the audio arena, 15 % ties or both bad, the rest Bradley-Terry.
    """
    catalogue = np.random.default_rng(0)
    prompt_mode = (catalogue.random(1000) < 0.2).astype(np.int64)
    first, second = catalogue.integers(0, _CATEGORIES, (2, 1000))
    prompt_mask = (1 << first) | np.where(second % 2 == 1, 1 << second, 0)
    rng = np.random.default_rng(seed)
    prompt = rng.integers(0, 1000, votes)
    a = rng.integers(0, models.size, votes)
    b = (a + rng.integers(1, models.size, votes)) % models.size
    p_a = 1.0 / (1.0 + 10.0 ** ((models[b] - models[a]) / 400.0))
    tie = rng.random(votes) < 0.15
    a_wins = ~tie & (rng.random(votes) < p_a)
    code = (rng.random(votes) >= 0.4) * 2 + prompt_mode[prompt]
    mask = prompt_mask[prompt]
    boards = {}
    for c in range(4):
        for category in range(-1, _CATEGORIES):
            on = code == c
            if category >= 0:
                on &= ((mask >> category) & 1).astype(bool)
            wins = np.zeros((models.size, models.size), np.int64)
            ties = np.zeros_like(wins)
            np.add.at(wins, (a[on & a_wins], b[on & a_wins]), 1)
            np.add.at(wins, (b[on & ~a_wins & ~tie], a[on & ~a_wins & ~tie]), 1)
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            np.add.at(ties, (lo[on & tie], hi[on & tie]), 1)
            boards[(c, category)] = (wins, ties)
    return boards


def time_incremental(votes: int, repeats: int) -> None:
    models = np.random.default_rng(1).normal(1000.0, 120.0, 30)
    history = history_boards(votes, models, seed=2)
    more = [history_boards(10_000, models, seed=3 + k) for k in range(2)]
    resample.warm_up()
    chord.warm_up()
    spent = [0.0]
    refit = chord.refit

    def timed_refit(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        started = time.thread_time()
        try:
            return refit(*args, **kwargs)
        finally:
            spent[0] += time.thread_time() - started

    chord.refit = timed_refit
    rounds: dict[str, list[tuple[float, float]]] = {"fresh": [], "1st": [], "2nd": []}

    def run() -> None:
        for _ in range(repeats):
            previous = dict.fromkeys(history)
            counts = dict(history)
            for name, extra in zip(rounds, [None, *more], strict=True):
                if extra is not None:
                    counts = {k: (w + extra[k][0], t + extra[k][1]) for k, (w, t) in counts.items()}
                spent[0], started = 0.0, time.thread_time()
                for key, (wins, ties) in counts.items():
                    fit = fit_board(wins, ties, rounds=1000, previous=previous[key])
                    previous[key] = fit.replicates
                rounds[name].append((time.thread_time() - started, spent[0]))

    # Boards are fitted on the ratings threads in a recompute, where a bootstrap's parts run
    # one after the other (parallel_map): the same here, on a thread of that name.
    worker = threading.Thread(target=run, name="ratings-bench")
    worker.start()
    worker.join()
    chord.refit = refit
    print(f"{votes:,} votes, 36 boards, 1000 rounds, one thread, CPU s over {repeats} runs:")
    for name, runs in rounds.items():
        fits, refits = (sorted(x) for x in zip(*runs, strict=True))
        label = "fresh fits" if name == "fresh" else f"{name} refit after +10 000 votes"
        print(
            f"  {label:>32}: all {fits[0]:.3f}-{fits[-1]:.3f}, "
            f"bootstrap refits {refits[0]:.3f}-{refits[-1]:.3f}"
        )


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
    parser.add_argument("--incremental", type=int, nargs="+", metavar="VOTES")
    args = parser.parse_args()
    if args.incremental:
        for votes in args.incremental:
            time_incremental(votes, args.repeats)
        return
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
