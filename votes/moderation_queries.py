"""Reads for the moderation pages: the queue, a voter's evidence, a clip's reports.

Writes go through votes.moderation (every change with its audit entry); nothing here
changes a row. Each read is bounded (aggregates, or a page of rows) so that a voter with
thousands of votes or a log with millions of entries still renders in a few queries.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from arena.models import Clip, Generator

from .models import AuditEntry, ClipReport, Vote, Voter, Winner

QUEUE_STATUSES = (Voter.Status.FLAGGED, Voter.Status.QUARANTINED)
SHARED_SESSIONS_SHOWN = 50

VOTE_COUNTS = {
    "n_votes": Count("votes"),
    "n_counted": Count(
        "votes",
        filter=Q(votes__quarantined=False, votes__invalidated=False, votes__attention_check=False),
    ),
    "n_quarantined": Count("votes", filter=Q(votes__quarantined=True)),
    "n_invalidated": Count("votes", filter=Q(votes__invalidated=True)),
}


MODEL_REF = re.compile(r"model #(\d+)")


def _model_names(ids: set[int]) -> dict[int, str]:
    return dict(Generator.objects.filter(id__in=ids).values_list("id", "name")) if ids else {}


def named_reasons(voters: list[Voter]) -> dict[int, list[str]]:
    """Each voter's reasons with "model #N" replaced by the model's name (one query).

    The detector names the model of a voter's own pull test but not always that of the
    pooled one; the stored evidence is left as it is, only the page reads better.
    """
    reasons = {v.id: list((v.evidence or {}).get("reasons", [])) for v in voters}
    ids = {int(m) for rs in reasons.values() for r in rs for m in MODEL_REF.findall(r)}
    names = _model_names(ids)

    def name(match: re.Match) -> str:
        return names.get(int(match.group(1)), match.group(0))

    return {vid: [MODEL_REF.sub(name, r) for r in rs] for vid, rs in reasons.items()}


def named_tests(evidence: dict[str, Any]) -> dict[str, Any]:
    """The evidence's tests, with a name on every pull test (own and pooled); a copy."""
    tests = copy.deepcopy((evidence or {}).get("tests", {}))
    pulls = [t["pull"] for t in (tests, tests.get("pooled") or {}) if "model" in t.get("pull", {})]
    names = _model_names({int(p["model"]) for p in pulls})
    for pull in pulls:
        pull["model_name"] = pull.get("model_name") or names.get(int(pull["model"]))
    return tests


def with_vote_counts(voters: QuerySet[Voter]) -> QuerySet[Voter]:
    return voters.annotate(**VOTE_COUNTS)


# The queue's tabs: which statuses each shows. The first is the default.
QUEUE_VIEWS = {
    "review": ("Needs review", QUEUE_STATUSES),
    "flagged": ("Flagged", (Voter.Status.FLAGGED,)),
    "quarantined": ("Quarantined", (Voter.Status.QUARANTINED,)),
    "banned": ("Banned", (Voter.Status.BANNED,)),
}


def queued_voters(view: str = "review") -> QuerySet[Voter]:
    """Voters in one of the queue's views (default: flagged and quarantined), worst first."""
    statuses = QUEUE_VIEWS.get(view, QUEUE_VIEWS["review"])[1]
    return with_vote_counts(Voter.objects.filter(status__in=statuses)).order_by(
        "-suspicion", "-scanned_at", "-id"
    )


@dataclass
class ReportedClip:
    clip: Clip
    open_reports: int
    reasons: dict[str, int]
    last_report: Any


def reported_clips(limit: int = 200) -> list[ReportedClip]:
    """Clips with open reports, the most reported first, with a count per reason."""
    rows = (
        ClipReport.objects.filter(resolved=False)
        .order_by()
        .values("clip_id", "reason")
        .annotate(n=Count("id"))
    )
    reasons: dict[int, dict[str, int]] = defaultdict(dict)
    for row in rows:
        reasons[row["clip_id"]][row["reason"]] = row["n"]
    labels = dict(ClipReport.Reason.choices)
    clips = (
        Clip.objects.filter(id__in=list(reasons))
        .select_related("generator", "prompt")
        .annotate(
            open_reports=Count("reports", filter=Q(reports__resolved=False)),
            last_report=Max("reports__created_at", filter=Q(reports__resolved=False)),
        )
        .order_by("-open_reports", "-last_report")[:limit]
    )
    return [
        ReportedClip(
            clip=clip,
            open_reports=clip.open_reports,
            reasons={labels.get(k, k): v for k, v in sorted(reasons[clip.id].items())},
            last_report=clip.last_report,
        )
        for clip in clips
    ]


def attention_failed(vote: Vote) -> bool:
    """Failing a check: preferring the broken copy, or calling the two equal.

    The same rule as the detector's (votes.scanning), applied to one vote.
    """
    if not vote.attention_check or vote.battle is None:
        return False
    broken = vote.battle.broken_side
    return vote.winner == Winner.TIE or (
        (vote.winner == Winner.MODEL_A and broken == "a")
        or (vote.winner == Winner.MODEL_B and broken == "b")
    )


@dataclass
class VoteRow:
    vote: Vote
    clip_ms: int | None
    fast: bool
    failed_check: bool


def vote_rows(votes: list[Vote]) -> list[VoteRow]:
    rows = []
    for vote in votes:
        durations = [c.duration for c in (vote.clip_a, vote.clip_b) if c and c.duration]
        clip_ms = int(max(durations) * 1000) if durations else None
        fast = bool(clip_ms and vote.time_to_vote_ms is not None and vote.time_to_vote_ms < clip_ms)
        rows.append(VoteRow(vote, clip_ms, fast, attention_failed(vote)))
    return rows


def voter_votes(voter: Voter) -> QuerySet[Vote]:
    """Newest first; everything a row of the evidence table shows, in one query per page."""
    return (
        Vote.objects.filter(voter=voter)
        .select_related("model_a", "model_b", "clip_a", "clip_b", "battle", "prompt")
        .order_by("-created_at", "-id")
    )


@dataclass
class ModelTally:
    name: str
    shown: int = 0
    wins: int = 0
    losses: int = 0
    ties: int = 0
    both_bad: int = 0

    @property
    def score(self) -> float:
        """Wins plus half the ties and both-bads, over votes: the rating's own convention."""
        return (self.wins + 0.5 * (self.ties + self.both_bad)) / self.shown if self.shown else 0


@dataclass
class Preferences:
    models: list[ModelTally] = field(default_factory=list)
    sides: dict[str, int] = field(default_factory=dict)  # winner -> votes


def preferences(voter: Voter) -> Preferences:
    """The voter's wins per model and per side, over their votes that are not checks."""
    rows = (
        Vote.objects.filter(voter=voter, attention_check=False)
        .order_by()
        .values("model_a_id", "model_b_id", "winner")
        .annotate(n=Count("id"))
    )
    tallies: dict[int, ModelTally] = {}
    sides = {w.value: 0 for w in Winner}
    ids = set()
    for row in rows:
        a, b, winner, n = row["model_a_id"], row["model_b_id"], row["winner"], row["n"]
        ids |= {a, b}
        sides[winner] += n
        for model, won, lost in (
            (a, Winner.MODEL_A, Winner.MODEL_B),
            (b, Winner.MODEL_B, Winner.MODEL_A),
        ):
            tally = tallies.setdefault(model, ModelTally(name=""))
            tally.shown += n
            if winner == won:
                tally.wins += n
            elif winner == lost:
                tally.losses += n
            elif winner == Winner.TIE:
                tally.ties += n
            else:
                tally.both_bad += n
    names = dict(Generator.objects.filter(id__in=ids).values_list("id", "name"))
    for model, tally in tallies.items():
        tally.name = names.get(model, f"#{model}")
    ordered = sorted(tallies.values(), key=lambda t: (-t.score, -t.shown, t.name))
    return Preferences(models=ordered, sides=sides)


@dataclass
class SharedSessions:
    kind: str  # "address" or "network"
    total: int
    voters: list[Voter]


def shared_sessions(voter: Voter) -> list[SharedSessions]:
    """Other sessions behind the same address hash, and the same /24 or /64 network hash."""
    groups = []
    for kind, name in (("address", "ip_hash"), ("network", "net_hash")):
        value = getattr(voter, name)
        if not value:
            continue
        others = Voter.objects.filter(**{name: value}).exclude(pk=voter.pk)
        if kind == "network" and voter.ip_hash:
            # Those on the very same address are listed above already.
            others = others.exclude(ip_hash=voter.ip_hash)
        groups.append(
            SharedSessions(
                kind=kind,
                total=others.count(),
                voters=list(
                    with_vote_counts(others).order_by("-suspicion", "-id")[:SHARED_SESSIONS_SHOWN]
                ),
            )
        )
    return groups


def audit_history(target_type: str, target: str, limit: int = 100) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(target_type=target_type, target=target).order_by("-id")[:limit]
    )


@dataclass(frozen=True)
class AuditHead:
    """What the queue shows of the log: cheap (two indexed reads), unlike a full verify."""

    entries: int
    head: str


def audit_head() -> AuditHead:
    last = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first()
    return AuditHead(entries=AuditEntry.objects.count(), head=last or "")


def clip_reports(clip: Clip) -> list[ClipReport]:
    return list(clip.reports.select_related("voter").order_by("-created_at", "-id"))
