"""How far the reported intervals are from those of fully converged bootstrap refits.

Run from the repository root:

    .venv/bin/python bench/refit_accuracy.py [--votes 1000000 ...] [--save FILE.npz]

For the 36 boards of a synthetic history (bench/ratings_fit.py's, fitted afresh and then twice
refitted from the previous bootstrap after 10 000 more votes) and for small, few-model and
near-separated boards (which fall back to float64 and exact Newton), each fit is repeated on
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


def edge_boards() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    truth30 = rng.normal(1000.0, 120.0, 30)
    boards = {
        "2 models, 10 votes": (np.array([[0, 6], [4, 0]]), np.array([[0, 2], [0, 0]])),
        "3 models, unbeaten": (np.array([[0, 12, 9], [0, 0, 5], [0, 4, 0]]), np.zeros((3, 3))),
        "3 models, 20k votes": simulate(np.array([900.0, 1000.0, 1150.0]), 20_000, rng),
        "5 models, 40 votes": simulate(np.linspace(900, 1100, 5), 40, rng),
        "5 models, 5k votes": simulate(np.linspace(900, 1100, 5), 5_000, rng),
        "30 models, 300 votes": simulate(truth30, 300, rng),
        "30 models, 2k votes": simulate(truth30, 2_000, rng),
    }
    wins, ties = simulate(truth30, 5_000, rng)
    wins[:, 0] = 0  # model 0 never loses: near-separated, float64 and Newton
    ties[0, :] = 0
    boards["30 models, 5k votes, one unbeaten"] = (wins, ties)
    wins, ties = simulate(np.linspace(800.0, 1200.0, 12), 3_000, rng)
    wins[:, 11] = 0
    ties[:, 11] = 0
    ties[11, :] = 0
    boards["12 models, 3k votes, one unbeaten"] = (wins, ties)
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
        gap = max(
            float(np.abs(fit.ci_low[ok] - reference.ci_low[ok]).max()),
            float(np.abs(fit.ci_high[ok] - reference.ci_high[ok]).max()),
        )
        rows = fit.replicates.rounds if fit.replicates else 0
        groups.setdefault(group, []).append((gap, frozen_rows(fit, reference), rows))
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
    for name, (wins, ties) in edge_boards().items():
        for rounds in (200, 1000, 2000):
            fit = fit_board(wins, ties, rounds=rounds, seed=rounds)
            reference = converged(wins, ties, rounds=rounds, seed=rounds)
            compare(f"{name}", f"{name}_{rounds}", fit, reference)
            warm = fit_board(wins, ties, rounds=rounds, previous=fit.replicates)
            compare(f"{name}", f"{name}_{rounds}_warm", warm, converged(
                wins, ties, rounds=rounds, previous=fit.replicates))  # fmt: skip

    print("largest |ci - converged ci| (Elo) over fitted models; rows further than")
    print(f"TOL_BOOT_ELO = {btsolve.TOL_BOOT_ELO} Elo from their converged refit")
    for group, results in groups.items():
        gaps, frozen, rows = (np.array(x) for x in zip(*results, strict=True))
        print(
            f"{group:>40}: {len(gaps):2d} fits, max {gaps.max():.1e}, median {np.median(gaps):.1e};"
            f" rows left further {frozen.sum() / max(rows.sum(), 1):6.1%}"
        )
    if args.save:
        np.savez(args.save, **saved)


if __name__ == "__main__":
    main()
