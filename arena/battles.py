"""Matchmaking: choosing a prompt and two clips for a voter, and storing the battle."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from . import catalogue, fastsql, matchmaking
from .catalogue import ClipInfo, Pool
from .models import Arena, Battle, Mode, SeenPair, new_token, new_uid

_rng = random.SystemRandom()


class NoBattleAvailable(Exception):
    """The arena has no two clips that can be shown together."""


class UnknownVoter(LookupError):
    """No voter has this uid (a session that outlived its voter row)."""


def min_watch_ms(a: ClipInfo, b: ClipInfo) -> int:
    if settings.ARENA_MIN_WATCH_MS is not None:
        return settings.ARENA_MIN_WATCH_MS
    return int(max(a.duration, b.duration) * 1000 * settings.ARENA_MIN_WATCH_FRACTION)


# The voter's id and what they were shown lately of the candidate pairs, in one query
# before the battle's insert. A voter with nothing recent still gives one row (NULLs); an
# unknown voter gives none. The pairs are passed as their lower and higher model ids, so
# that on PostgreSQL the primary key's index is probed for these pairs alone (a superset,
# filtered exactly below): the rows read do not grow with the voter's history.
RECENT_SQL = {
    "postgresql": """
SELECT v.id, s.model_low_id, s.model_high_id, s.prompt_id
FROM votes_voter v
LEFT JOIN arena_seenpair s ON s.voter_id = v.id AND s.mode = %s
    AND s.model_low_id = ANY(%s) AND s.model_high_id = ANY(%s) AND s.last_seen >= %s
WHERE {where}
""",
    "other": """
SELECT v.id, s.model_low_id, s.model_high_id, s.prompt_id
FROM votes_voter v
LEFT JOIN arena_seenpair s ON s.voter_id = v.id AND s.mode = %s AND s.last_seen >= %s
WHERE {where}
""",
}
_RECENT_BY = {
    (vendor, key): sql.format(where=f"v.{key} = %s")
    for vendor, sql in RECENT_SQL.items()
    for key in ("id", "uid")
}
# Written by the battle's own INSERT (on PostgreSQL in the same statement).
REMEMBER_SQL = f"""
INSERT INTO {SeenPair._meta.db_table}
    (voter_id, mode, model_low_id, model_high_id, prompt_id, last_seen)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (voter_id, mode, model_low_id, model_high_id, prompt_id)
DO UPDATE SET last_seen = EXCLUDED.last_seen
"""


def _recently_seen(
    voter: int | str, mode: str, now: datetime, pairs: list[tuple[int, int]]
) -> tuple[int, set[tuple[int, int, int]]]:
    """(voter id, the (low model, high model, prompt) of these pairs they saw lately).

    `voter` is an id or a uid; UnknownVoter if no voter has it.
    """
    since = now - timedelta(hours=settings.ARENA_REPEAT_WINDOW_HOURS)
    vendor = "postgresql" if connection.vendor == "postgresql" else "other"
    sql = _RECENT_BY[vendor, "uid" if isinstance(voter, str) else "id"]
    if vendor == "postgresql":
        params = [mode, [p[0] for p in pairs], [p[1] for p in pairs], since, voter]
    else:
        params = [mode, since, voter]
    with fastsql.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        raise UnknownVoter(voter)
    wanted = set(pairs)
    seen = {(a, b, p) for _, a, b, p in rows if (a, b) in wanted}
    return rows[0][0], seen


def forget_seen_pairs(*, now: datetime | None = None) -> int:
    """Delete what voters were shown before the repeat window; returns how many rows went."""
    since = (now or timezone.now()) - timedelta(hours=settings.ARENA_REPEAT_WINDOW_HOURS)
    deleted, _ = SeenPair.objects.filter(last_seen__lt=since).delete()
    return deleted


def _closest_clips(pool: Pool, pair: tuple[int, int], prompt_id: int) -> tuple[ClipInfo, ClipInfo]:
    options = [
        (x.distance(y), _rng.random(), x, y)
        for x in pool.clips[(pair[0], prompt_id)]
        for y in pool.clips[(pair[1], prompt_id)]
    ]
    _, _, x, y = min(options, key=lambda o: (o[0], o[1]))
    return x, y


def choose_mode(snap: catalogue.Catalogue, arena: str, mode: str | None) -> str:
    modes = [mode] if mode else [m for m in Mode.values if snap.pool(arena, m).pair_prompts]
    modes = [m for m in modes if snap.pool(arena, m).pair_prompts]
    if not modes:
        raise NoBattleAvailable(f"no battles can be drawn in the {arena} arena yet")
    return _rng.choice(modes)


def _store(
    voter_id: int, arena: str, mode: str, a: ClipInfo, b: ClipInfo, now: datetime, **extra: Any
) -> Battle:
    values = {
        "voter_id": voter_id,
        "arena": arena,
        "mode": mode,
        "prompt_id": a.prompt_id,
        "clip_a_id": a.id,
        "clip_b_id": b.id,
        "model_a_id": a.generator_id,
        "model_b_id": b.generator_id,
        "issued_at": now,
        "expires_at": now + timedelta(seconds=settings.ARENA_BATTLE_TTL_SECONDS),
        "min_watch_ms": min_watch_ms(a, b),
        "uid": new_uid(),
        "token": new_token(),
        **extra,
    }
    # One plain INSERT: Battle has no save() logic or signals, and the ORM's compiling
    # would cost more than the statement on the busiest endpoint. An attention check shows
    # no pair, so matchmaking has nothing to remember of it.
    remember = None
    if not values.get("attention_check"):
        low, high = sorted((a.generator_id, b.generator_id))
        remember = (REMEMBER_SQL, [voter_id, mode, low, high, a.prompt_id, now])
    battle = Battle(**values)
    # Not durable: a battle nobody voted on is worth no disk flush. A crash loses at most
    # the last fraction of a second of them (their votes get 404 and the page draws a new
    # battle); the vote's own durable commit flushes its battle's row before it.
    battle.pk = fastsql.insert_row(Battle, values, also=remember, durable=False)
    battle._state.adding = False
    battle._state.db = "default"
    return battle


def _attention_check(voter: int | str, arena: str, mode: str, pool: Pool, now: datetime) -> Battle:
    """A clip against a broken copy of itself: the answer is obvious to anyone watching."""
    voter_id = voter if isinstance(voter, int) else _voter_id(voter)
    clip = _rng.choice(pool.checkable)
    return _store(
        voter_id, arena, mode, clip, clip, now, attention_check=True, broken_side=_rng.choice("ab")
    )


def _voter_id(uid: str) -> int:
    from votes.models import Voter

    found = Voter.objects.filter(uid=uid).values_list("id", flat=True).order_by()[:1]
    if not found:
        raise UnknownVoter(uid)
    return found[0]


def issue_battle(
    *,
    voter_id: int | None = None,
    voter_uid: str | None = None,
    arena: str,
    mode: str | None = None,
    now: datetime | None = None,
) -> Battle:
    """Draw a pair, a prompt and two clips for this voter and store the battle.

    The voter is given by id or by uid (UnknownVoter if no voter has it). A share of
    battles (ARENA_ATTENTION_CHECK_RATE) are attention checks instead. Costs two queries
    (three off PostgreSQL) whatever the catalogue's size or the voter's history: what the
    voter saw lately of the drawn pairs, and the insert, which also remembers the pair.
    """
    if arena not in Arena.values:
        raise ValueError(f"unknown arena {arena!r}")
    voter: int | str | None = voter_id if voter_id is not None else voter_uid
    if voter is None:
        raise TypeError("issue_battle needs voter_id or voter_uid")
    now = now or timezone.now()
    # Both versions in one round trip to the cache, at most once a second per process.
    versions = catalogue.read_versions(catalogue.VERSION_KEY, matchmaking.VERSION_KEY)
    # The snapshot once: a rebuild between two reads could empty the pool.
    snap = catalogue.current(versions.get(catalogue.VERSION_KEY))
    mode = choose_mode(snap, arena, mode)
    pool = snap.pool(arena, mode)
    if pool.checkable and _rng.random() < settings.ARENA_ATTENTION_CHECK_RATE:
        return _attention_check(voter, arena, mode, pool, now)
    weights = matchmaking.weights_for(
        arena, mode, pool, snap.built_at, versions.get(matchmaking.VERSION_KEY)
    )
    pairs = list(weights)
    # Up to 8 draws of a pair, in one go: the first with a prompt the voter has not been
    # shown it on lately is taken, as if drawn one by one.
    candidates = _rng.choices(pairs, weights=[weights[p] for p in pairs], k=8)
    voter_id, seen = _recently_seen(voter, mode, now, candidates)
    for pair in candidates:
        prompts = pool.pair_exact.get(pair) or pool.pair_prompts[pair]
        fresh = [p for p in prompts if (pair[0], pair[1], p) not in seen]
        if fresh:
            break
    else:
        # The voter has seen every pair we drew on every prompt lately: allow a repeat.
        fresh = prompts
    prompt_id = _rng.choice(fresh)
    x, y = _closest_clips(pool, pair, prompt_id)
    if _rng.random() < 0.5:
        x, y = y, x
    return _store(voter_id, arena, mode, x, y, now, pair_probability=weights[pair])
