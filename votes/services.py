"""Casting votes and reporting clips."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from arena import fastsql
from arena.models import Battle

from .models import CHOICES, ClipReport, Vote, Voter, new_vote_uid

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


@dataclass(frozen=True, slots=True)
class Reveal:
    """What the voter learns once their vote is stored."""

    battle_uid: str
    models: tuple[str, str]
    organisations: tuple[str, str]
    broken_side: str


# cast_vote in one statement (PostgreSQL): the voter by its uid, the battle by its token, the
# conditional update and the insert. Both writes commit together or not at all, as one
# statement does. Of concurrent submissions of one token, the second's UPDATE waits for the
# first's row lock, then finds the row no longer 'issued' and updates (and inserts) nothing;
# the unique vote per battle stays as the last line. The outer SELECT reads the battle as it
# was before, which tells the refusals apart (see record_vote).
RECORD_SQL = """
WITH voter AS (
    SELECT id, status FROM votes_voter WHERE uid = %(voter)s
), battle AS (
    SELECT b.* FROM arena_battle b JOIN voter ON b.voter_id = voter.id
    WHERE b.token = %(token)s
), won AS (
    UPDATE arena_battle b SET status = 'voted', voted_at = %(now)s
    FROM battle, voter
    WHERE b.id = battle.id AND b.status = 'issued' AND b.expires_at > %(now)s
      AND voter.status <> 'banned'
      AND trunc(extract(epoch FROM %(now)s - b.issued_at) * 1000) >= b.min_watch_ms
    RETURNING b.*
), vote AS (
    INSERT INTO votes_vote (
        uid, battle_id, battle_uid, created_at, arena, mode, prompt_id, model_a_id,
        model_b_id, clip_a_id, clip_b_id, ext_clip_a_url, ext_clip_b_url, winner, voter_id,
        time_to_vote_ms, source, attention_check, quarantined, invalidated
    )
    SELECT %(uid)s, won.id, won.uid, %(now)s, won.arena, won.mode, won.prompt_id,
        won.model_a_id, won.model_b_id, won.clip_a_id, won.clip_b_id, '', '', %(winner)s,
        voter.id, trunc(extract(epoch FROM %(now)s - won.issued_at) * 1000), 'web',
        won.attention_check, voter.status = 'quarantined', false
    FROM won, voter
    RETURNING id
)
SELECT battle.status, battle.expires_at, battle.issued_at, battle.min_watch_ms, voter.status,
    battle.uid, a.name, b.name, a.organisation, b.organisation, battle.broken_side,
    (SELECT id FROM vote)
FROM battle, voter, arena_generator a, arena_generator b
WHERE a.id = battle.model_a_id AND b.id = battle.model_b_id
"""
# Every column of votes_vote that RECORD_SQL writes (a test holds the model to it).
RECORD_COLUMNS = frozenset(
    RECORD_SQL.split("INSERT INTO votes_vote (")[1].split(")")[0].replace(",", " ").split()
)


def record_vote(
    *, token: str, voter_uid: str | None, choice: str, now: datetime | None = None
) -> Reveal:
    """cast_vote for the voter with this uid, in one round trip on PostgreSQL.

    Same checks, same refusals in the same order, same rows and the same exactly-once
    guarantee as cast_vote (which it runs on other databases).
    """
    now = now or timezone.now()
    if choice not in CHOICES:
        raise ValueError(f"choice must be one of {', '.join(CHOICES)}")
    if voter_uid is None or not TOKEN_SHAPE.fullmatch(token):
        raise BattleNotFound("no such battle")
    if connection.vendor != "postgresql":
        voter = Voter.objects.filter(uid=voter_uid).order_by().first()
        battle, _ = cast_vote(token=token, voter=voter, choice=choice, now=now)
        return Reveal(
            battle.uid,
            (battle.model_a.name, battle.model_b.name),
            (battle.model_a.organisation, battle.model_b.organisation),
            battle.broken_side,
        )
    params = {
        "voter": voter_uid,
        "token": token,
        "now": now,
        "uid": new_vote_uid(),
        "winner": str(CHOICES[choice]),
    }
    try:
        with fastsql.cursor() as cursor:
            cursor.execute(RECORD_SQL, params)
            row = cursor.fetchone()
    except IntegrityError as exc:  # the unique vote per battle: another one got there first
        raise AlreadyVoted("this battle has already been voted on") from exc
    if row is None:
        raise BattleNotFound("no such battle")
    status, expires_at, issued_at, watch_ms, voter_status, uid, *names, broken, vote_id = row
    if vote_id is None:
        # Nothing written: the first check that fails, in cast_vote's order.
        if status == Battle.Status.ISSUED and expires_at <= now:
            raise BattleNotFound("this battle has expired")
        if status != Battle.Status.ISSUED:
            raise AlreadyVoted("this battle has already been voted on")
        if voter_status == Voter.Status.BANNED:
            raise VoterBanned("this session can no longer vote")
        elapsed_ms = int((now - issued_at).total_seconds() * 1000)
        if elapsed_ms < watch_ms:
            wait = (watch_ms - elapsed_ms + 999) // 1000
            raise TooEarly(f"please watch both clips before voting ({wait} s more)")
        # It was open when this statement began; a concurrent vote closed it first.
        raise AlreadyVoted("this battle has already been voted on")
    transaction.on_commit(_count_toward_recompute, robust=True)
    return Reveal(uid, (names[0], names[1]), (names[2], names[3]), broken)


# Votes this process has recorded but not yet added to the shared burst counter.
_uncounted = 0
_uncounted_lock = threading.Lock()


def _count_toward_recompute() -> None:
    """After a burst of votes, recompute without waiting for the schedule.

    Each process adds its votes to the shared counter a fiftieth of a burst at a time (10
    votes of the default 500), not one round trip per vote. The votes a process holds when
    it stops, fewer than that, only wait for the scheduled recompute.
    """
    global _uncounted
    burst = settings.ARENA_RECOMPUTE_BURST
    if burst <= 0:
        return
    with _uncounted_lock:
        _uncounted += 1
        if _uncounted < max(1, burst // 50):
            return
        added, _uncounted = _uncounted, 0
    try:
        seen = cache.incr(BURST_KEY, added)
    except ValueError:
        cache.add(BURST_KEY, 0, timeout=None)
        try:
            seen = cache.incr(BURST_KEY, added)
        except ValueError:
            return
    if seen // burst > (seen - added) // burst:  # this addition crossed a multiple of burst
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
