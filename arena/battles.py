"""Matchmaking: choosing a prompt and two clips for a voter, and storing the battle."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from . import catalogue, matchmaking
from .catalogue import ClipInfo, Pool
from .models import Arena, Battle, Mode

_rng = random.SystemRandom()


class NoBattleAvailable(Exception):
    """The arena has no two clips that can be shown together."""


def min_watch_ms(a: ClipInfo, b: ClipInfo) -> int:
    if settings.ARENA_MIN_WATCH_MS is not None:
        return settings.ARENA_MIN_WATCH_MS
    return int(max(a.duration, b.duration) * 1000 * settings.ARENA_MIN_WATCH_FRACTION)


def _recently_seen(voter_id: int, now: datetime) -> set[tuple[int, int, int]]:
    since = now - timedelta(hours=settings.ARENA_REPEAT_WINDOW_HOURS)
    rows = Battle.objects.filter(voter_id=voter_id, issued_at__gte=since).values_list(
        "model_a_id", "model_b_id", "prompt_id"
    )[:2000]
    return {(min(a, b), max(a, b), p) for a, b, p in rows}


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
    return Battle.objects.create(
        voter_id=voter_id,
        arena=arena,
        mode=mode,
        prompt_id=a.prompt_id,
        clip_a_id=a.id,
        clip_b_id=b.id,
        model_a_id=a.generator_id,
        model_b_id=b.generator_id,
        issued_at=now,
        expires_at=now + timedelta(seconds=settings.ARENA_BATTLE_TTL_SECONDS),
        min_watch_ms=min_watch_ms(a, b),
        **extra,
    )


def _attention_check(voter_id: int, arena: str, mode: str, pool: Pool, now: datetime) -> Battle:
    """A clip against a broken copy of itself: the answer is obvious to anyone watching."""
    clip = _rng.choice(pool.checkable)
    return _store(
        voter_id, arena, mode, clip, clip, now, attention_check=True, broken_side=_rng.choice("ab")
    )


def issue_battle(
    *, voter_id: int, arena: str, mode: str | None = None, now: datetime | None = None
) -> Battle:
    """Draw a pair, a prompt and two clips for this voter and store the battle.

    A share of battles (ARENA_ATTENTION_CHECK_RATE) are attention checks instead.
    Costs two queries whatever the catalogue's size: the voter's recent pairs and the insert.
    """
    if arena not in Arena.values:
        raise ValueError(f"unknown arena {arena!r}")
    now = now or timezone.now()
    snap = catalogue.current()  # once: a rebuild between two reads could empty the pool
    mode = choose_mode(snap, arena, mode)
    pool = snap.pool(arena, mode)
    if pool.checkable and _rng.random() < settings.ARENA_ATTENTION_CHECK_RATE:
        return _attention_check(voter_id, arena, mode, pool, now)
    weights = matchmaking.weights_for(arena, mode, pool, snap.built_at)
    pairs = list(weights)
    seen = _recently_seen(voter_id, now)
    for _ in range(8):
        pair = _rng.choices(pairs, weights=[weights[p] for p in pairs])[0]
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
