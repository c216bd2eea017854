"""How far the reported intervals are from those of fully converged bootstrap refits.

Run from the repository root:

    .venv/bin/python bench/refit_accuracy.py [--votes 1000000 ...] [--save FILE.npz]

For the 36 boards of a synthetic history (bench/ratings_fit.py's, fitted afresh and then twice
refitted from the previous bootstrap after 10 000 more votes) and for small, few-model and
near-separated boards (which fall back to float64 and exact Newton; fitted afresh, then twice
refitted from the previous bootstrap after 4 % more votes), each fit is repeated on
the same resamples (same seed and same ``previous``) with every row converged to 1e-5 Elo
(TOL_BOOT_ELO lowered, no percentile bands), and the largest difference of ci_low / ci_high
is printed per group, with how many rows the fits left frozen.  ``--save`` keeps the
intervals, to compare with another version of the code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interval_coverage import simulate  # noqa: E402  (bench/ is sys.path[0])
from ratings_fit import history_boards  # noqa: E402

from arena import btsolve, resample  # noqa: E402
from arena.ratings import BoardFit, fit_board  # noqa: E402

try:
    from arena import chord
except ImportError:  # an earlier version, refitting every row to convergence
    chord = None  # type: ignore[assignment]


def converged(wins: np.ndarray, ties: np.ndarray, **kwargs: object) -> BoardFit:
    """The same fit with every row refitted to 1e-5 Elo."""
    tol = btsolve.TOL_BOOT_ELO
    share = chord._CHECK_SHARE if chord else None
    btsolve.TOL_BOOT_ELO = 1e-5
    if chord:
        chord._CHECK_SHARE = np.inf  # no bands: no row is frozen
    try:
        return fit_board(wins, ties, **kwargs)  # type: ignore[arg-type]
    finally:
        btsolve.TOL_BOOT_ELO = tol
        if chord:
            chord._CHECK_SHARE = share  # type: ignore[assignment]


def edge_boards() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(wins, ties, more votes' wins and ties) per board."""
    rng = np.random.default_rng(7)
    truth30 = rng.normal(1000.0, 120.0, 30)
    few = [np.array([900.0, 1000.0, 1150.0]), np.linspace(900, 1100, 5)]
    cases = {
        "2 models, 10 votes": (np.array([1000.0, 1030.0]), 10, None),
        "3 models, 20k votes": (few[0], 20_000, None),
        "5 models, 40 votes": (few[1], 40, None),
        "5 models, 5k votes": (few[1], 5_000, None),
        "30 models, 300 votes": (truth30, 300, None),
        "30 models, 2k votes": (truth30, 2_000, None),
        # An unbeaten model: near-separated, float64 refits, some handed to exact Newton.
        "30 models, 5k votes, one unbeaten": (truth30, 5_000, 0),
        "12 models, 3k votes, one unbeaten": (np.linspace(800.0, 1200.0, 12), 3_000, 11),
    }
    boards = {}
    for name, (truth, votes, unbeaten) in cases.items():
        wins, ties = simulate(truth, votes, rng)
        more = np.stack(simulate(truth, max(4, votes // 25), rng))
        if unbeaten is not None:
            for w, t in ((wins, ties), more):
                w[:, unbeaten] = 0
                t[:, unbeaten] = 0
                t[unbeaten, :] = 0
        boards[name] = (wins, ties, more)
    return boards


def frozen_rows(fit: BoardFit, reference: BoardFit) -> int:
    """Rows whose theta is further than TOL_BOOT_ELO from the converged one."""
    assert fit.replicates is not None and reference.replicates is not None
    gap = np.abs(fit.replicates.theta - reference.replicates.theta).max(axis=1)
    return int((gap * btsolve.ELO_PER_NAT > btsolve.TOL_BOOT_ELO).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    resample.warm_up()
    saved: dict[str, np.ndarray] = {}
    groups: dict[str, list[tuple[float, int, int]]] = {}

    def compare(group: str, name: str, fit: BoardFit, reference: BoardFit) -> None:
        ok = fit.fitted
        gaps = np.maximum(
            np.abs(fit.ci_low[ok] - reference.ci_low[ok]),
            np.abs(fit.ci_high[ok] - reference.ci_high[ok]),
        )
        width = reference.ci_high[ok] - reference.ci_low[ok]
        rows = fit.replicates.rounds if fit.replicates else 0
        groups.setdefault(group, []).append(
            (float(gaps.max()), float((gaps / width).max()), frozen_rows(fit, reference), rows)
        )
        saved[f"{name}__low"], saved[f"{name}__high"] = fit.ci_low, fit.ci_high
        saved[f"{name}__ref_low"], saved[f"{name}__ref_high"] = reference.ci_low, reference.ci_high

    models = np.random.default_rng(1).normal(1000.0, 120.0, 30)
    for votes in args.votes:
        counts = history_boards(votes, models, seed=2)
        more = [history_boards(10_000, models, seed=3 + k) for k in range(2)]
        previous = dict.fromkeys(counts)
        for stage, extra in zip(("fresh", "1st refit", "2nd refit"), [None, *more], strict=True):
            if extra is not None:
                counts = {k: (w + extra[k][0], t + extra[k][1]) for k, (w, t) in counts.items()}
            for key, (wins, ties) in counts.items():
                fit = fit_board(wins, ties, previous=previous[key])
                reference = converged(wins, ties, previous=previous[key])
                compare(f"{votes:,} votes, {stage}", f"{votes}_{stage}_{key}", fit, reference)
                previous[key] = fit.replicates
    for name, (wins, ties, more) in edge_boards().items():
        for rounds in (200, 1000, 2000):
            previous = None
            for step in range(3):  # fresh, then twice refitted from it with 4 % more votes
                wins, ties = wins + (step > 0) * more[0], ties + (step > 0) * more[1]
                fit = fit_board(wins, ties, rounds=rounds, seed=rounds, previous=previous)
                reference = converged(wins, ties, rounds=rounds, seed=rounds, previous=previous)
                compare(name, f"{name}_{rounds}_{step}", fit, reference)
                previous = fit.replicates

    tol = btsolve.TOL_BOOT_ELO
    print("largest |ci - converged ci| (Elo, and as a share of the interval's width) over fitted")
    print(f"models; rows further than TOL_BOOT_ELO = {tol} Elo from their converged refit")
    print("(frozen: they could not move an interval end)")
    for group, results in groups.items():
        gaps, shares, frozen, rows = (np.array(x) for x in zip(*results, strict=True))
        print(
            f"{group:>34}: {len(gaps):2d} fits, max {gaps.max():.1e} ({shares.max():.0e} of the"
            f" width), median {np.median(gaps):.1e}; rows left further"
            f" {frozen.sum() / max(rows.sum(), 1):4.0%}"
        )
    if args.save:
        np.savez(args.save, **saved)


if __name__ == "__main__":
    main()
