"""Operators' counts (`arena_stats`): votes, battles and voters, overall and per board."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from arena.models import Battle

from .models import Vote, Voter

VOTE_COUNTS = {
    "stored": Count("id"),
    "counted": Count("id", filter=Q(quarantined=False, invalidated=False, attention_check=False)),
    "quarantined": Count("id", filter=Q(quarantined=True)),
    "invalidated": Count("id", filter=Q(invalidated=True)),
    "attention_checks": Count("id", filter=Q(attention_check=True)),
}


def arena_stats() -> dict[str, Any]:
    now = timezone.now()
    votes = Vote.objects.order_by()
    per_board = {
        f"{row.pop('arena')}/{row.pop('mode')}": row
        for row in votes.values("arena", "mode").annotate(**VOTE_COUNTS).order_by("arena", "mode")
    }
    battles = Battle.objects.order_by().aggregate(
        issued=Count("id"),
        voted=Count("id", filter=Q(status=Battle.Status.VOTED)),
        expired=Count("id", filter=Q(status=Battle.Status.ISSUED, expires_at__lte=now)),
        open=Count("id", filter=Q(status=Battle.Status.ISSUED, expires_at__gt=now)),
        attention_checks=Count("id", filter=Q(attention_check=True)),
    )
    statuses = dict(
        Voter.objects.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {
        "votes": votes.aggregate(**VOTE_COUNTS) | {"by_arena_mode": per_board},
        "battles": battles,
        "voters": {
            "seen": sum(statuses.values()),
            "flagged": statuses.get(Voter.Status.FLAGGED, 0),
            "quarantined": statuses.get(Voter.Status.QUARANTINED, 0),
            "banned": statuses.get(Voter.Status.BANNED, 0),
        },
    }
