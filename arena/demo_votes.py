"""Simulated voters for the demo: votes cast through the real battle and vote services."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from votes.models import Vote, Voter
from votes.services import cast_vote

from . import demo_media
from .battles import NoBattleAvailable, issue_battle
from .models import Arena

SOURCE = "demo"


def simulate_votes(n: int, *, voters: int = 40, seed: int = 0) -> int:
    """Cast up to `n` demo votes (fewer if some exist already); returns how many were cast.

    Each simulated voter prefers the demo model of higher quality with a Bradley-Terry
    probability, so the boards show a consistent, known order.
    """
    todo = n - Vote.objects.filter(source=SOURCE).count()
    if todo <= 0:
        return 0
    rng = random.Random(seed)
    quality = {m.name: m for m in demo_media.MODELS}
    crowd = [Voter.objects.create() for _ in range(voters)]
    start = timezone.now() - timedelta(days=2)
    cast = 0
    for i in range(todo):
        voter = rng.choice(crowd)
        arena = Arena.NO_AUDIO if rng.random() < 0.7 else Arena.AUDIO
        issued = start + timedelta(seconds=i * 40)
        try:
            battle = issue_battle(voter_id=voter.id, arena=arena, now=issued)
        except NoBattleAvailable:
            continue
        a, b = quality.get(battle.model_a.name), quality.get(battle.model_b.name)
        p_a = demo_media.win_probability(a, b) if a and b else 0.5
        roll = rng.random()
        if battle.attention_check:
            # People watching see which clip is broken, and pick the other one.
            choice = "b" if battle.broken_side == "a" else "a"
        elif roll < 0.06:
            choice = "tie"
        elif roll < 0.1:
            choice = "both_bad"
        else:
            choice = "a" if rng.random() < p_a else "b"
        _, vote = cast_vote(
            token=battle.token,
            voter=voter,
            choice=choice,
            now=issued + timedelta(seconds=rng.uniform(4, 20)),
        )
        Vote.objects.filter(pk=vote.pk).update(source=SOURCE)
        cast += 1
    return cast
