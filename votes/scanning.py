"""The periodic voter scan: score every recent voter, flag or quarantine with evidence.

Each voter is scored on their own votes, and again on the pooled votes of every session
behind the same address (and the same /24 or /64 network): an attacker who spreads a
thousand votes over fifty sessions looks honest one session at a time, and not at all
honest all together. A voter's suspicion is the larger of the two.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from arena.boards import ARENAS, MODES, OUTCOME, fold_new_votes
from arena.models import Board, Generator

from . import detection, moderation
from .models import Vote, Voter


@dataclass(frozen=True)
class ScanResult:
    scanned: int
    flagged: int
    quarantined: int


def params() -> detection.Params:
    return detection.Params(
        min_votes=settings.ARENA_SCAN_MIN_VOTES,
        burst_per_minute=settings.ARENA_BURST_PER_MINUTE,
        sessions_per_address=settings.ARENA_SESSIONS_PER_ADDRESS,
        flag_at=settings.ARENA_FLAG_SUSPICION,
        quarantine_at=settings.ARENA_QUARANTINE_SUSPICION,
    )


def board_codes() -> dict[tuple[str, str], int]:
    """(arena, mode) -> the board code arena.boards uses: arena index * 2 + mode index."""
    return {
        (a.value, m.value): i * 2 + j for i, a in enumerate(ARENAS) for j, m in enumerate(MODES)
    }


def consensus() -> dict[int, dict[detection.Pair, np.ndarray]]:
    """Each pair's counted history on the overall board of each arena and mode."""
    codes = {
        (a.value, m.value): i * 2 + j for i, a in enumerate(ARENAS) for j, m in enumerate(MODES)
    }
    result: dict[int, dict[detection.Pair, np.ndarray]] = {}
    for board in Board.objects.filter(category=Board.OVERALL):
        pairs = result.setdefault(codes[(board.arena, board.mode)], {})
        for key, (a_won, b_won, tie, both_bad) in board.counts.items():
            a, b = (int(x) for x in key.split(","))
            lo, hi = min(a, b), max(a, b)
            won_lo, won_hi = (a_won, b_won) if a == lo else (b_won, a_won)
            cell = pairs.setdefault((lo, hi), np.zeros(3))
            cell += (won_lo, won_hi, tie + both_bad)
    return result


FIELDS = (
    "voter_id",
    "arena",
    "mode",
    "model_a_id",
    "model_b_id",
    "winner",
    "quarantined",
    "invalidated",
    "attention_check",
    "time_to_vote_ms",
    "created_at",
    "battle__broken_side",
    "battle__clip_a__duration",
    "battle__clip_b__duration",
)


def _subjects(since: datetime) -> dict[int, detection.Subject]:
    codes = {
        (a.value, m.value): i * 2 + j for i, a in enumerate(ARENAS) for j, m in enumerate(MODES)
    }
    columns: dict[int, list[tuple]] = defaultdict(list)
    recent = Vote.objects.filter(created_at__gte=since, voter__isnull=False)
    for row in recent.values_list(*FIELDS).order_by().iterator(chunk_size=5000):
        (voter, arena, mode, a, b, winner, quarantined, invalidated, check, ms, at, broken,
         dur_a, dur_b) = row  # fmt: skip
        outcome = OUTCOME[winner]
        # Failing a check: preferring the broken copy, or calling the two equal.
        failed = check and (outcome == 2 or outcome == {"a": 0, "b": 1}.get(broken))
        clip_ms = max(dur_a or 0, dur_b or 0) * 1000 or -1
        columns[voter].append(
            (
                codes[(arena, mode)],
                a,
                b,
                outcome,
                not (quarantined or invalidated or check),
                -1 if ms is None else ms,
                clip_ms,
                at.timestamp(),
                check,
                failed,
            )
        )
    names = list(detection.Subject.__dataclass_fields__)
    subjects = {}
    for voter, rows in columns.items():
        arrays = list(zip(*rows, strict=True))
        subjects[voter] = detection.Subject(
            **{name: np.array(col) for name, col in zip(names, arrays, strict=True)}
        )
    return subjects


def _groups(voter_ids: list[int]) -> list[list[int]]:
    """Sessions that share an address, or a network, among the scanned voters."""
    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for voter_id, ip_hash, net_hash in Voter.objects.filter(id__in=voter_ids).values_list(
        "id", "ip_hash", "net_hash"
    ):
        if ip_hash:
            by_key[("ip", ip_hash)].append(voter_id)
        if net_hash:
            by_key[("net", net_hash)].append(voter_id)
    return [members for members in by_key.values() if len(members) > 1]


def _named(finding: detection.Finding) -> detection.Finding:
    pull = finding.tests.get("pull", {})
    if "model" in pull:
        name = Generator.objects.filter(pk=pull["model"]).values_list("name", flat=True).first()
        pull["model_name"] = name
        finding.reasons = [
            r.replace(f"model #{pull['model']}", name or "?") for r in finding.reasons
        ]
    return finding


def _score_all(
    subjects: dict[int, detection.Subject], p: detection.Params
) -> dict[int, detection.Finding]:
    history = consensus()
    findings = {voter: detection.score(s, history, p) for voter, s in subjects.items()}
    for members in _groups(list(subjects)):
        pooled = detection.score(
            detection.concat([subjects[m] for m in members]),
            history,
            p,
            sessions_on_address=len(members),
        )
        for member in members:
            if pooled.suspicion > findings[member].suspicion:
                findings[member] = detection.Finding(
                    pooled.suspicion,
                    {**findings[member].tests, "pooled": pooled.tests},
                    [f"with {len(members)} sessions on its address: {r}" for r in pooled.reasons],
                )
    return findings


def _record(voter_id: int, finding: detection.Finding, votes: int, p: detection.Params) -> str:
    finding = _named(finding) if finding.suspicion >= p.flag_at else finding
    return moderation.record_detection(
        Voter(pk=voter_id),
        suspicion=finding.suspicion,
        evidence={**finding.evidence(), "votes": votes},
        quarantine=finding.suspicion >= p.quarantine_at,
        flag=finding.suspicion >= p.flag_at,
    )


def scan(*, now: datetime | None = None, passes: int = 3) -> ScanResult:
    """Score every voter with votes in the last ARENA_SCAN_DAYS; same work as the task.

    A large attack bends the pairs' history it is compared with, and honest voters then
    look odd for disagreeing with it. So the scan runs in passes: the voters who clear the
    quarantine bar are quarantined (their votes leave the boards' counts at once), the
    history is read again without them, and everyone is scored afresh; flags are only
    recorded from the last pass.
    """
    now = now or timezone.now()
    fold_new_votes()  # the crowd's history should include every vote before we compare
    p = params()
    subjects = _subjects(now - timedelta(days=settings.ARENA_SCAN_DAYS))
    before = dict(Voter.objects.filter(id__in=list(subjects)).values_list("id", "status"))
    after = dict(before)
    for _ in range(passes):
        findings = _score_all(subjects, p)
        newly = [
            voter
            for voter, finding in findings.items()
            if finding.suspicion >= p.quarantine_at and after[voter] != Voter.Status.QUARANTINED
        ]
        for voter in newly:
            after[voter] = _record(voter, findings[voter], len(subjects[voter]), p)
        if not newly:
            break
        # The quarantined votes are out of the counts now; read their absence in.
        for voter in newly:
            subjects[voter].counted[:] = False
    for voter, finding in findings.items():
        after[voter] = _record(voter, finding, len(subjects[voter]), p)
    changed = [v for v in after if after[v] != before.get(v)]
    return ScanResult(
        scanned=len(subjects),
        flagged=sum(after[v] == Voter.Status.FLAGGED for v in changed),
        quarantined=sum(after[v] == Voter.Status.QUARANTINED for v in changed),
    )


def attention_failures(voter: Voter) -> int:
    return Vote.objects.filter(
        Q(winner="tie")
        | Q(battle__broken_side="a", winner="model_a")
        | Q(battle__broken_side="b", winner="model_b"),
        voter=voter,
        attention_check=True,
    ).count()
