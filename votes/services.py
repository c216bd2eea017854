"""Casting votes and reporting clips."""

from __future__ import annotations

import re
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from arena.models import Battle

from .models import CHOICES, ClipReport, Vote, Voter

BURST_KEY = "arena:votes-since-recompute"


class VoteRefused(Exception):
    status = 400
    code = "refused"


class BattleNotFound(VoteRefused):
    status = 404
    code = "not_found"


class AlreadyVoted(VoteRefused):
    status = 409
    code = "already_voted"


class TooEarly(VoteRefused):
    status = 400
    code = "too_early"


class VoterBanned(VoteRefused):
    status = 403
    code = "banned"


TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,128}")


def battle_for_voter(
    *,
    token: str,
    voter: Voter | None,
    now: datetime,
    related: tuple[str, ...] = ("model_a", "model_b", "clip_a", "clip_b"),
) -> Battle:
    """The battle behind a token, if this voter was issued it and it has not expired.

    Unknown, tampered, expired and other voters' tokens all look the same: not found.
    A battle already voted on is returned even after expiry, so a replay reads as a replay.
    `related` are the foreign keys loaded in the same query.
    """
    if voter is None or not TOKEN_SHAPE.fullmatch(token):
        # Not one we could have issued; also keeps NUL bytes away from PostgreSQL (a 500).
        raise BattleNotFound("no such battle")
    # The token is unique: no ORDER BY (first() would add one, and compiling it costs more
    # than the query itself on the vote path).
    battle = next(
        iter(Battle.objects.select_related(*related).filter(token=token).order_by()[:1]), None
    )
    if battle is None or voter is None or battle.voter_id != voter.id:
        raise BattleNotFound("no such battle")
    if battle.status == Battle.Status.ISSUED and battle.expires_at <= now:
        raise BattleNotFound("this battle has expired")
    return battle


@transaction.atomic
def cast_vote(
    *, token: str, voter: Voter | None, choice: str, now: datetime | None = None
) -> tuple[Battle, Vote]:
    """Record the voter's choice on a battle they were issued, exactly once.

    The battle moves ISSUED -> VOTED by a conditional update, and the vote's one-to-one
    link to the battle is a unique constraint: of any number of concurrent submissions of
    one token, one commits and the rest raise AlreadyVoted. Both writes are one transaction.
    """
    now = now or timezone.now()
    if choice not in CHOICES:
        raise ValueError(f"choice must be one of {', '.join(CHOICES)}")
    # The answer reveals the two models; the clips are not needed.
    battle = battle_for_voter(token=token, voter=voter, now=now, related=("model_a", "model_b"))
    assert voter is not None
    if battle.status != Battle.Status.ISSUED:
        raise AlreadyVoted("this battle has already been voted on")
    if voter.status == Voter.Status.BANNED:
        raise VoterBanned("this session can no longer vote")
    elapsed_ms = int((now - battle.issued_at).total_seconds() * 1000)
    if elapsed_ms < battle.min_watch_ms:
        wait = (battle.min_watch_ms - elapsed_ms + 999) // 1000
        raise TooEarly(f"please watch both clips before voting ({wait} s more)")
    updated = Battle.objects.filter(
        pk=battle.pk, status=Battle.Status.ISSUED, expires_at__gt=now
    ).update(status=Battle.Status.VOTED, voted_at=now)
    if updated != 1:
        # Another request for the same token got there first.
        raise AlreadyVoted("this battle has already been voted on")
    try:
        # No savepoint (two round trips): an IntegrityError here ends the whole vote anyway,
        # and the outer atomic rolls the battle update back with it.
        with transaction.atomic(savepoint=False):
            vote = Vote.objects.create(
                battle=battle,
                battle_uid=battle.uid,
                created_at=now,
                arena=battle.arena,
                mode=battle.mode,
                prompt_id=battle.prompt_id,
                model_a_id=battle.model_a_id,
                model_b_id=battle.model_b_id,
                clip_a_id=battle.clip_a_id,
                clip_b_id=battle.clip_b_id,
                winner=CHOICES[choice],
                voter=voter,
                time_to_vote_ms=elapsed_ms,
                attention_check=battle.attention_check,
                quarantined=voter.status == Voter.Status.QUARANTINED,
            )
    except IntegrityError as exc:
        raise AlreadyVoted("this battle has already been voted on") from exc
    battle.status = Battle.Status.VOTED
    battle.voted_at = now
    # robust: the vote is stored whatever happens to the broker; never answer 500 for it.
    transaction.on_commit(_count_toward_recompute, robust=True)
    return battle, vote


def _count_toward_recompute() -> None:
    """After a burst of votes, recompute without waiting for the schedule."""
    burst = settings.ARENA_RECOMPUTE_BURST
    if burst <= 0:
        return
    try:
        seen = cache.incr(BURST_KEY)  # one round trip on every vote but the first
    except ValueError:
        cache.add(BURST_KEY, 0, timeout=None)
        try:
            seen = cache.incr(BURST_KEY)
        except ValueError:
            return
    if seen % burst == 0:
        from arena.tasks import recompute_leaderboards

        recompute_leaderboards.delay()


def report_clip(
    *,
    token: str,
    voter: Voter | None,
    side: str,
    reason: str,
    note: str = "",
    now: datetime | None = None,
) -> ClipReport:
    """File (or update) this voter's report on one clip of a battle they were shown."""
    now = now or timezone.now()
    battle = battle_for_voter(token=token, voter=voter, now=now)
    assert voter is not None
    clip_id = battle.clip_a_id if side == "a" else battle.clip_b_id
    report, _ = ClipReport.objects.update_or_create(
        clip_id=clip_id,
        voter=voter,
        defaults={"battle": battle, "reason": reason, "note": note[:500], "resolved": False},
    )
    return report
