"""Are the detector's p-values calibrated for honest voters? A simulation.

Run from the repository root (about 10 minutes on one core with the defaults):

    .venv/bin/python bench/detection_calibration.py [--voters 10000] [--seed 0]

Eight models with known Bradley-Terry ratings (ties 10 %). For each history size H (votes
per pair in the crowd's history: 5, 20, 200) and each voter size n (5, 20, 100 votes), it
draws a fresh crowd history and one honest voter, again and again, scores the voter with
votes.detection.score and counts how often the consensus and pull p-values fall below
1e-2 and 1e-3, and how often the suspicion reaches the flag bar (3: one in a thousand).

Two kinds of honest voter:
- `model`: votes drawn from the very probabilities the test assumes (the pair's smoothed
  history); this isolates the tail computation, which should give the nominal rates;
- `truth`: votes drawn from the true ratings, like the crowd's; a small history then
  misstates the pair, and honest voters disagree with it more than the test assumes.
The statistical tests run from 5 votes here (Params.min_votes = 5) so that the smallest
size can be seen. A rate at or below nominal is calibrated; discrete tests sit below.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from votes import detection  # noqa: E402

TRUTH = np.array([1150.0, 1100.0, 1060.0, 1030.0, 1000.0, 970.0, 930.0, 880.0])
TIE = 0.1
PAIRS = list(itertools.combinations(range(len(TRUTH)), 2))
PARAMS = detection.Params(min_votes=5)


def true_probs(lo: int, hi: int) -> np.ndarray:
    """[lo wins, hi wins, tie] for a pair by TRUTH."""
    p_lo = 1.0 / (1.0 + 10 ** ((TRUTH[hi] - TRUTH[lo]) / 400.0))
    return np.array([(1 - TIE) * p_lo, (1 - TIE) * (1 - p_lo), TIE])


THETA = {pair: true_probs(*pair) for pair in PAIRS}


def crowd(size: int, rng: np.random.Generator) -> detection.Consensus:
    return {0: {pair: rng.multinomial(size, THETA[pair]).astype(float) for pair in PAIRS}}


def voter(
    votes: int, history: detection.Consensus, kind: str, rng: np.random.Generator
) -> detection.Subject:
    picks = rng.integers(0, len(PAIRS), votes)
    a, b, outcome = np.empty(votes, int), np.empty(votes, int), np.empty(votes, int)
    for i, pick in enumerate(picks):
        lo, hi = PAIRS[pick]
        if kind == "truth":
            theta = THETA[(lo, hi)]
        else:
            smoothed = history[0][(lo, hi)] + detection.SMOOTHING
            theta = smoothed / smoothed.sum()
        won = rng.choice(3, p=theta)  # 0 lo, 1 hi, 2 tie
        a[i], b[i] = (lo, hi) if rng.random() < 0.5 else (hi, lo)
        outcome[i] = 2 if won == 2 else (0 if (won == 0) == (a[i] == lo) else 1)
    return detection.Subject(
        code=np.zeros(votes, int),
        model_a=a,
        model_b=b,
        outcome=outcome,
        counted=np.zeros(votes, bool),  # the history is drawn without this voter
        time_ms=np.full(votes, 9000),
        clip_ms=np.full(votes, 4000),
        at=np.arange(votes) * 30.0,
        check=np.zeros(votes, bool),
        check_failed=np.zeros(votes, bool),
    )


def run(kind: str, size: int, votes: int, voters: int, rng: np.random.Generator) -> list[float]:
    consensus, pull, flagged = [], [], 0
    for _ in range(voters):
        history = crowd(size, rng)
        finding = detection.score(voter(votes, history, kind, rng), history, PARAMS)
        consensus.append(finding.tests["consensus"]["p"])
        pull.append(finding.tests["pull"]["p"])
        flagged += finding.suspicion >= PARAMS.flag_at
    c, p = np.array(consensus), np.array(pull)
    return [
        (c < 1e-2).mean(),
        (c < 1e-3).mean(),
        (p < 1e-2).mean(),
        (p < 1e-3).mean(),
        flagged / voters,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=10_000, help="honest voters per cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default="model,truth")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{args.voters} honest voters per row; nominal: 0.01, 0.001, 0.01, 0.001, <= 0.001")
    header = "kind   history votes  cons<1e-2 cons<1e-3  pull<1e-2 pull<1e-3  flagged  ms/voter"
    print(header)
    for kind in args.kinds.split(","):
        for size in (5, 20, 200):
            for votes in (5, 20, 100):
                start = time.process_time()
                rates = run(kind, size, votes, args.voters, rng)
                ms = (time.process_time() - start) / args.voters * 1000
                cells = "  ".join(f"{r:9.4f}" for r in rates)
                print(f"{kind:6s} {size:7d} {votes:5d}  {cells}  {ms:8.2f}", flush=True)


if __name__ == "__main__":
    main()
