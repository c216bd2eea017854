"""Scoring a voter's (or an address's) votes for signs of rigging. Pure NumPy/SciPy.

Each test gives a p-value under the hypothesis "an honest voter who agrees with the crowd";
the suspicion is -log10 of the smallest one after a Bonferroni correction for the number
of tests, so 3 means "one honest voter in a thousand looks this odd".

- consensus: the Chatbot Arena paper's test. Each vote gets the p-value of its outcome
  under that pair's history (the other voters' votes), and the per-vote statistics
  -2 ln p are summed as in Fisher's method. Outcome p-values are discrete, which makes the
  textbook chi-squared reference far too lenient here (an attacker who always picks the
  weaker of two close models has p = 0.45 per vote and passes), so the sum is referred
  to its own null distribution instead: a sum of independent three-valued variables,
  whose tail votes.tails computes by saddlepoint (a normal of the same mean and variance
  makes the one-in-a-thousand tail several times too thin for a few dozen votes).
- pull: for each model, the voter's score with it (win 1, tie 0.5) against the exact
  distribution its pairs' history predicts; catches "vote for X whenever it appears" and
  "vote against X's rivals".
- position: always the same side.
- speed: votes sent before the longer clip could have played through (the page unlocks
  the vote only after both have ended, so these come from scripts).
- attention: attention-check battles answered with the broken clip.
- burst and sessions-per-address are reported as evidence; they flag but do not by
  themselves quarantine (a school behind one address is not an attack).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from . import tails

# Outcome codes as stored by arena.boards: 0 = model_a won, 1 = model_b won, 2 tie, 3 both bad.
Pair = tuple[int, int]
Consensus = Mapping[int, Mapping[Pair, np.ndarray]]  # board code -> (lo, hi) -> [lo, hi, tie]

HONEST_FAST_RATE = 0.02  # share of fast votes we allow an honest voter (clock skew, replays)
HONEST_CHECK_FAIL_RATE = 0.05  # a misclick on an attention check happens
SMOOTHING = 1.0  # pseudo-votes per outcome on a pair's history


@dataclass
class Subject:
    """The votes of one voter, or of every voter behind one address."""

    code: np.ndarray  # board code of each vote (arena index * 2 + mode index)
    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray
    counted: np.ndarray  # bool: the vote is in the boards' counts (its own weight is removed)
    time_ms: np.ndarray  # time to vote; -1 when unknown
    clip_ms: np.ndarray  # the longer clip's duration; -1 when unknown
    at: np.ndarray  # seconds since the epoch
    check: np.ndarray  # bool: an attention check
    check_failed: np.ndarray  # bool: answered with the broken clip (or a tie)

    def __len__(self) -> int:
        return len(self.outcome)


@dataclass
class Params:
    min_votes: int = 10  # below this the statistical tests are not run
    burst_per_minute: int = 15
    sessions_per_address: int = 8
    flag_at: float = 3.0
    quarantine_at: float = 5.0


@dataclass
class Finding:
    suspicion: float = 0.0
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        return {"suspicion": round(self.suspicion, 2), "tests": self.tests, "reasons": self.reasons}


def _log10p(p: float) -> float:
    return -math.log10(max(p, 1e-300))


def _chosen(subject: Subject) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each vote's pair as (lo, hi) model ids and its outcome as 0 lo won, 1 hi won, 2 tie."""
    lo = np.minimum(subject.model_a, subject.model_b)
    hi = np.maximum(subject.model_a, subject.model_b)
    a_is_lo = subject.model_a == lo
    chosen = np.where(
        subject.outcome >= 2, 2, np.where((subject.outcome == 0) == a_is_lo, 0, 1)
    ).astype(np.int64)
    return lo, hi, chosen


def _own_counts(subject: Subject) -> dict[tuple[int, int, int], np.ndarray]:
    """The subject's counted votes per (board code, lo, hi): [lo won, hi won, tie]."""
    lo, hi, chosen = _chosen(subject)
    own: dict[tuple[int, int, int], np.ndarray] = {}
    for i in np.flatnonzero(subject.counted):
        key = (int(subject.code[i]), int(lo[i]), int(hi[i]))
        own.setdefault(key, np.zeros(3))[chosen[i]] += 1
    return own


def without(consensus: Consensus, subjects: list[Subject]) -> Consensus:
    """The crowd's history with these subjects' counted votes taken out."""
    if not subjects:
        return consensus
    trimmed = {code: dict(pairs) for code, pairs in consensus.items()}
    for subject in subjects:
        for (code, lo, hi), counts in _own_counts(subject).items():
            pairs = trimmed.setdefault(code, {})
            pairs[(lo, hi)] = np.maximum(pairs.get((lo, hi), np.zeros(3)) - counts, 0)
    return trimmed


def uncounted(subject: Subject) -> Subject:
    """The same votes, marked as already out of the history they will be compared with."""
    copy = _select(subject, np.ones(len(subject), dtype=bool))
    copy.counted = np.zeros(len(subject), dtype=bool)
    return copy


def _pair_history(subject: Subject, consensus: Consensus) -> tuple[np.ndarray, np.ndarray]:
    """Outcome probabilities [lo wins, hi wins, tie] of each vote's pair, without the subject.

    Returns the probabilities and, per vote, which of the three the subject chose.
    """
    lo, hi, chosen = _chosen(subject)
    own = _own_counts(subject)
    probs = np.empty((len(subject), 3))
    for i in range(len(subject)):
        key = (int(subject.code[i]), int(lo[i]), int(hi[i]))
        history = np.asarray(consensus.get(key[0], {}).get(key[1:], np.zeros(3)), dtype=float)
        history = np.maximum(history - own.get(key, 0), 0) + SMOOTHING
        probs[i] = history / history.sum()
    return probs, chosen


def consensus_test(probs: np.ndarray, chosen: np.ndarray) -> dict[str, Any]:
    """Fisher's statistic over per-vote p-values, referred to its exact null distribution.

    `p` is the saddlepoint tail of the sum of the per-vote statistics (each a discrete
    variable with three values); `z` is the distance from the null mean in standard
    deviations, kept for moderators as a scale, not as the test.
    """
    # p-value of outcome o: the probability of an outcome no more likely than o.
    pvals = np.einsum("nk,njk->nj", probs, probs[:, None, :] <= probs[:, :, None])
    stat = -2.0 * np.log(np.clip(pvals, 1e-300, 1.0))
    observed = stat[np.arange(len(chosen)), chosen].sum()
    mean = (probs * stat).sum()
    var = ((probs * stat**2).sum(axis=1) - (probs * stat).sum(axis=1) ** 2).sum()
    z = (observed - mean) / math.sqrt(max(var, 1e-12))
    return {
        "fisher": round(float(observed), 1),
        "expected": round(float(mean), 1),
        "z": round(float(z), 2),
        "p": tails.saddlepoint_sf(stat, probs, float(observed)),
        "agreement": round(float((probs[np.arange(len(chosen)), chosen]).mean()), 3),
    }


def pull_test(subject: Subject, probs: np.ndarray, chosen: np.ndarray) -> dict[str, Any]:
    """The model the voter lifted (or sank) most against its pairs' history.

    A model's score (a win 1, a tie 0.5, a loss 0) is compared with its exact null
    distribution, the convolution of the per-vote outcome probabilities, two-sided and
    corrected for the number of models looked at.
    """
    lo, hi, _ = _chosen(subject)
    best: dict[str, Any] = {"p": 1.0}
    models = np.unique(np.concatenate([lo, hi]))
    for model in models:
        involved = (lo == model) | (hi == model)
        n = int(involved.sum())
        if n < 5:
            continue
        side = np.where(lo[involved] == model, 0, 1)
        rows = probs[involved]
        # Per vote, in half points: [P(loss), P(tie), P(win)] for this model.
        pmfs = np.stack([rows[np.arange(n), 1 - side], rows[:, 2], rows[np.arange(n), side]], 1)
        picked = chosen[involved]
        half_points = int(np.where(picked == side, 2, np.where(picked == 2, 1, 0)).sum())
        upper, lower = tails.lattice_tails(tails.lattice_sum(pmfs), half_points)
        p = min(1.0, 2.0 * min(upper, lower) * len(models))
        if p < best["p"]:
            expected = pmfs @ np.array([0.0, 0.5, 1.0])
            var = pmfs @ np.array([0.0, 0.25, 1.0]) - expected**2
            z = (half_points / 2 - expected.sum()) / math.sqrt(max(var.sum(), 1e-12))
            best = {
                "model": int(model),
                "direction": "for" if upper < lower else "against",
                "votes": n,
                "score": half_points / 2,
                "expected": round(float(expected.sum()), 1),
                "z": round(float(z), 2),
                "p": p,
            }
    return best


def position_test(subject: Subject) -> dict[str, Any]:
    left = int((subject.outcome == 0).sum())
    right = int((subject.outcome == 1).sum())
    p = float(stats.binomtest(left, left + right, 0.5).pvalue) if left + right else 1.0
    return {"a": left, "b": right, "p": p}


def speed_test(subject: Subject) -> dict[str, Any]:
    known = (subject.time_ms >= 0) & (subject.clip_ms > 0)
    fast = int((subject.time_ms[known] < subject.clip_ms[known]).sum())
    n = int(known.sum())
    p = float(stats.binom.sf(fast - 1, n, HONEST_FAST_RATE)) if fast else 1.0
    times = subject.time_ms[known]
    median = int(np.median(times)) if n else None
    return {"fast": fast, "votes": n, "median_ms": median, "p": p}


def attention_test(subject: Subject) -> dict[str, Any]:
    checks = int(subject.check.sum())
    failed = int(subject.check_failed.sum())
    p = float(stats.binom.sf(failed - 1, checks, HONEST_CHECK_FAIL_RATE)) if failed else 1.0
    return {"checks": checks, "failed": failed, "p": p}


def busiest_minute(at: np.ndarray) -> int:
    if not len(at):
        return 0
    times = np.sort(at)
    return int((np.searchsorted(times, times + 60.0, side="left") - np.arange(len(times))).max())


def score(
    subject: Subject, consensus: Consensus, params: Params, *, sessions_on_address: int = 1
) -> Finding:
    """Run every test on the subject's votes; see the module docstring."""
    finding = Finding()
    pvalues: dict[str, float] = {}
    regular = ~subject.check
    finding.tests["attention"] = attention = attention_test(subject)
    if attention["checks"]:
        pvalues["attention"] = attention["p"]
        if attention["failed"]:
            finding.reasons.append(
                f"failed {attention['failed']} of {attention['checks']} attention checks"
            )
    finding.tests["speed"] = speed = speed_test(subject)
    if speed["fast"]:
        pvalues["speed"] = speed["p"]
        finding.reasons.append(
            f"{speed['fast']} of {speed['votes']} votes came before the clips had played through"
        )
    if regular.sum() >= params.min_votes:
        votes = _select(subject, regular)
        probs, chosen = _pair_history(votes, consensus)
        finding.tests["consensus"] = consensus_result = consensus_test(probs, chosen)
        finding.tests["pull"] = pull = pull_test(votes, probs, chosen)
        finding.tests["position"] = position = position_test(votes)
        pvalues |= {
            "consensus": consensus_result["p"],
            "pull": pull["p"],
            "position": position["p"],
        }
        if consensus_result["p"] < 1e-3:
            finding.reasons.append(
                f"disagrees with the crowd (z = {consensus_result['z']}, "
                f"agreement {consensus_result['agreement']:.0%})"
            )
        if pull["p"] < 1e-3:
            finding.reasons.append(
                f"pulls {pull['direction']} model #{pull['model']}: score {pull['score']} "
                f"where {pull['expected']} was expected over {pull['votes']} votes"
            )
        if position["p"] < 1e-3:
            finding.reasons.append(f"always one side: {position['a']} A vs {position['b']} B")
    suspicion = 0.0
    if pvalues:
        smallest = min(pvalues.values())
        suspicion = max(0.0, _log10p(smallest) - math.log10(len(pvalues)))
    # Evidence that only ever flags: a second failed attention check (one is a slip),
    # bursts, and crowds of sessions on one address.
    # (For one voter only: pooled over several sessions, slips add up and the binomial
    # test above judges them.)
    if attention["failed"] >= 2 and sessions_on_address == 1:
        suspicion = max(suspicion, params.flag_at)
    finding.tests["burst"] = {"busiest_minute": busiest_minute(subject.at)}
    if finding.tests["burst"]["busiest_minute"] >= params.burst_per_minute:
        finding.reasons.append(f"{finding.tests['burst']['busiest_minute']} votes in one minute")
        suspicion = max(suspicion, min(params.flag_at, params.quarantine_at - 0.5))
    finding.tests["address"] = {"sessions": sessions_on_address}
    if sessions_on_address >= params.sessions_per_address:
        finding.reasons.append(f"{sessions_on_address} sessions share this address")
        suspicion = max(suspicion, min(params.flag_at, params.quarantine_at - 0.5))
    finding.suspicion = suspicion
    return finding


def _select(subject: Subject, mask: np.ndarray) -> Subject:
    return Subject(**{name: getattr(subject, name)[mask] for name in Subject.__dataclass_fields__})


def concat(subjects: list[Subject]) -> Subject:
    return Subject(
        **{
            name: np.concatenate([getattr(s, name) for s in subjects])
            for name in Subject.__dataclass_fields__
        }
    )
