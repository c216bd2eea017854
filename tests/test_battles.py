"""Matchmaking's memory: a voter is not shown the same pair on the same prompt again lately."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from arena import battles, catalogue
from arena.battles import issue_battle
from arena.models import Battle, SeenPair
from votes.models import Voter

pytestmark = pytest.mark.django_db

ARENA, MODE = "no-audio", "text-to-video"


def shown(battle: Battle) -> tuple[int, int, int]:
    low, high = sorted((battle.model_a_id, battle.model_b_id))
    return low, high, battle.prompt_id


def possible_triples() -> int:
    pool = catalogue.current().pool(ARENA, MODE)
    return sum(len(pool.pair_exact.get(p) or pool.pair_prompts[p]) for p in pool.pairs)


def test_a_voter_is_not_shown_the_same_pair_on_the_same_prompt_again(demo: None) -> None:
    voter = Voter.objects.create()
    # Far fewer battles than there are (pair, prompt)s: any repeat would be a lapse of memory.
    draws = min(12, possible_triples() // 2)
    seen = [shown(issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE)) for _ in range(draws)]
    assert len(set(seen)) == len(seen)


def test_every_pair_shown_is_remembered_with_when(demo: None) -> None:
    voter = Voter.objects.create()
    battle = issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE)
    row = SeenPair.objects.get(voter=voter)
    assert (row.model_low_id, row.model_high_id, row.prompt_id) == shown(battle)
    assert (row.mode, row.last_seen) == (MODE, battle.issued_at)


def test_showing_a_pair_again_moves_its_time_and_adds_no_row(demo: None) -> None:
    voter = Voter.objects.create()
    # Once everything was shown, repeats are allowed; each one only moves its last_seen.
    for _ in range(possible_triples() + 5):
        issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE)
    assert SeenPair.objects.filter(voter=voter).count() == possible_triples()
    newest = Battle.objects.filter(voter=voter).latest("id")
    assert SeenPair.objects.get(voter=voter, prompt_id=newest.prompt_id,
                                model_low_id=min(newest.model_a_id, newest.model_b_id),
                                model_high_id=max(newest.model_a_id, newest.model_b_id),
                                ).last_seen == newest.issued_at  # fmt: skip


def test_what_was_shown_before_the_window_may_be_shown_again(demo: None, settings) -> None:  # noqa: ANN001
    settings.ARENA_REPEAT_WINDOW_HOURS = 1
    voter = Voter.objects.create()
    long_ago = timezone.now() - timedelta(hours=2)
    for _ in range(possible_triples()):
        issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE, now=long_ago)
    _, seen = battles._recently_seen(
        voter.id, MODE, timezone.now(), list(catalogue.current().pool(ARENA, MODE).pairs)
    )
    assert seen == set()


def test_attention_checks_are_not_remembered(demo: None, settings) -> None:  # noqa: ANN001
    settings.ARENA_ATTENTION_CHECK_RATE = 1.0
    voter = Voter.objects.create()
    battle = issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE)
    assert battle.attention_check
    assert not SeenPair.objects.filter(voter=voter).exists()


def test_a_battle_costs_the_same_queries_however_long_the_voters_history(demo: None) -> None:
    voter = Voter.objects.create()
    for _ in range(3 * possible_triples()):
        issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE)
    with CaptureQueriesContext(connection) as queries:
        issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE)
    # On PostgreSQL the insert also remembers the pair, in the same statement.
    expected = 2 if connection.vendor == "postgresql" else 3
    assert len(queries) == expected
    # The read touches the remembered pairs, never the voter's battles.
    assert not any("FROM arena_battle" in q["sql"] for q in queries)


def test_forget_seen_pairs_drops_only_what_is_older_than_the_window(demo: None) -> None:
    voter = Voter.objects.create()
    now = timezone.now()
    old = issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE, now=now - timedelta(days=2))
    issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE, now=now)
    assert battles.forget_seen_pairs(now=now) >= 1
    left = SeenPair.objects.filter(voter=voter)
    assert [r.last_seen for r in left] == [now]
    assert Battle.objects.filter(pk=old.pk).exists()  # battles are the record: never touched


def test_the_migration_remembers_the_battles_of_the_window(demo: None) -> None:
    migration = importlib.import_module("arena.migrations.0009_seen_pairs")
    voter = Voter.objects.create()
    now = timezone.now()
    recent = [issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE, now=now) for _ in range(3)]
    issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE, now=now - timedelta(days=3))
    SeenPair.objects.all().delete()
    migration.remember_recent_battles(apps, None)
    remembered = {
        (r.model_low_id, r.model_high_id, r.prompt_id) for r in SeenPair.objects.filter(voter=voter)
    }
    assert remembered == {shown(b) for b in recent}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's commit setting")
def test_a_battles_lax_commit_does_not_reach_the_vote_after_it(demo_live: None) -> None:
    from django.db import transaction

    from votes import services

    voter = Voter.objects.create()
    with transaction.atomic():  # to look inside the battle's transaction before it commits
        battle = issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE)
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "off"  # for the battle's transaction only
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        during_vote = cursor.fetchone()[0]
    services.record_vote(token=battle.token, voter_uid=voter.uid, choice="a")
    assert during_vote == "on"
