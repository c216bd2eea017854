"""Battles counted by hour and model for the sampling shares, each once, by a watermark."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db.models import Sum
from django.utils import timezone

from arena import battle_counts
from arena.battles import issue_battle
from arena.models import Battle, BattleCount, FoldState
from votes.models import Voter

pytestmark = pytest.mark.django_db

ARENA, MODE = "no-audio", "text-to-video"


def counted() -> int:
    return (BattleCount.objects.aggregate(n=Sum("battles"))["n"] or 0) // 2


def battle(voter: Voter, ago: timedelta) -> Battle:
    return issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE, now=timezone.now() - ago)


def test_every_battle_is_counted_once_however_often_the_fold_runs(demo: None) -> None:
    voter = Voter.objects.create()
    for minutes in (300, 90, 30, 5):
        battle(voter, timedelta(minutes=minutes))
    now = timezone.now()
    assert battle_counts.fold_battles(now=now) == 4
    assert battle_counts.fold_battles(now=now) == 0
    battle(voter, timedelta(minutes=3))
    assert battle_counts.fold_battles(now=now) == 1
    assert counted() == Battle.objects.count() == 5


def test_battles_of_the_last_minute_wait_for_the_next_fold(demo: None) -> None:
    voter = Voter.objects.create()
    battle(voter, timedelta(0))
    now = timezone.now()
    assert battle_counts.fold_battles(now=now) == 0
    assert battle_counts.fold_battles(now=now + timedelta(minutes=2)) == 1


def test_a_young_battle_holds_back_the_older_ones_behind_it(demo: None) -> None:
    # Ids and commit order can disagree: a battle with a larger id may be older (or its
    # neighbour not committed yet). The watermark never passes a battle still settling.
    voter = Voter.objects.create()
    young = battle(voter, timedelta(seconds=5))
    older = battle(voter, timedelta(minutes=10))
    assert older.pk > young.pk
    now = timezone.now()
    assert battle_counts.fold_battles(now=now) == 0
    assert FoldState.objects.get(pk=1).battle_watermark < young.pk
    assert battle_counts.fold_battles(now=now + timedelta(minutes=2)) == 2
    assert counted() == 2


def test_windows_read_the_hours_they_cover(demo: None) -> None:
    voter = Voter.objects.create()
    for ago in (timedelta(hours=2), timedelta(days=3), timedelta(days=30)):
        battle(voter, ago)
    now = timezone.now()
    battle_counts.fold_battles(now=now)
    assert battle_counts.counts(ARENA, MODE, now - timedelta(days=1))[1] == 1
    assert battle_counts.counts(ARENA, MODE, now - timedelta(days=7))[1] == 2
    per_model, total = battle_counts.counts(ARENA, MODE, None)
    assert total == 3 and sum(per_model.values()) == 6
    assert battle_counts.counts("audio", MODE, None) == ({}, 0)


def test_attention_checks_are_not_counted(demo: None, settings) -> None:  # noqa: ANN001
    settings.ARENA_ATTENTION_CHECK_RATE = 1.0
    battle(Voter.objects.create(), timedelta(minutes=5))
    assert battle_counts.fold_battles(now=timezone.now()) == 0
    assert not BattleCount.objects.exists()


def test_the_migration_counts_the_battles_issued_before_it(demo: None) -> None:
    migration = importlib.import_module("arena.migrations.0010_battle_counts")
    voter = Voter.objects.create()
    for minutes in (500, 20, 1):
        battle(voter, timedelta(minutes=minutes))
    migration.count_past_battles(apps, None)
    assert counted() == 3
    assert FoldState.objects.get(pk=1).battle_watermark == Battle.objects.latest("id").pk
    assert battle_counts.fold_battles(now=timezone.now() + timedelta(hours=1)) == 0
