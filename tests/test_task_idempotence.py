"""Tasks run twice change nothing the second time; tasks are sent only after their commit.

A re-delivered message (its worker died after the work committed, before the ack) runs the
task again: that second run must add nothing. Run in-process (CELERY_TASK_ALWAYS_EAGER).
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage

from arena import demo_votes
from arena import tasks as arena_tasks
from arena.battles import issue_battle
from arena.models import Board, Snapshot
from votes import services
from votes import tasks as votes_tasks
from votes.models import DatasetRelease, Voter
from votes.services import BURST_KEY, cast_vote


@pytest.fixture
def votes(demo) -> int:  # noqa: ANN001
    return demo_votes.simulate_votes(60, voters=6, seed=3)


def test_the_recompute_task_run_twice_stores_one_snapshot_per_board(votes: int) -> None:
    arena_tasks.recompute_leaderboards.apply()
    boards = Board.objects.count()
    assert boards > 1 and Snapshot.objects.count() == boards

    arena_tasks.recompute_leaderboards.apply()

    assert Snapshot.objects.count() == boards
    assert {b.latest_id for b in Board.objects.all()} == set(
        Snapshot.objects.values_list("id", flat=True)
    )


def test_the_release_task_run_twice_builds_one_release_until_there_are_new_votes(
    votes: int,
    tmp_path,
    settings,  # noqa: ANN001
) -> None:
    settings.MEDIA_ROOT = tmp_path
    votes_tasks.build_dataset_release.apply()
    votes_tasks.build_dataset_release.apply()
    [release] = DatasetRelease.objects.all()
    assert release.rows == votes
    assert default_storage.exists(f"{release.folder}/manifest.json")

    voter = Voter.objects.create()
    battle = issue_battle(voter_id=voter.id, arena="no-audio")
    cast_vote(token=battle.token, voter=voter, choice="tie")
    votes_tasks.build_dataset_release.apply()

    assert DatasetRelease.objects.count() == 2
    assert DatasetRelease.objects.order_by("-created_at").first().rows == votes + 1


def test_a_vote_sends_the_recompute_only_once_its_transaction_has_committed(
    demo,
    settings,
    django_capture_on_commit_callbacks,  # noqa: ANN001
) -> None:
    settings.ARENA_RECOMPUTE_BURST = 1  # every vote asks for a recompute
    voter = Voter.objects.create()
    battle = issue_battle(voter_id=voter.id, arena="no-audio")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        cast_vote(token=battle.token, voter=voter, choice="a")
        assert not Snapshot.objects.exists()  # nothing sent while the vote is uncommitted
    for callback in callbacks:
        callback()

    assert Snapshot.objects.filter(board__category=Board.OVERALL).exists()


def test_a_burst_of_votes_asks_for_one_recompute_when_it_is_complete(
    demo,
    settings,
    django_capture_on_commit_callbacks,
    monkeypatch,  # noqa: ANN001
) -> None:
    settings.ARENA_RECOMPUTE_BURST = 100  # counted on the shared cache two votes at a time
    monkeypatch.setattr(services, "_uncounted", 0)  # what earlier tests left in this process
    voter = Voter.objects.create()
    for n in range(1, 101):
        battle = issue_battle(voter_id=voter.id, arena="no-audio")
        with django_capture_on_commit_callbacks(execute=True):
            cast_vote(token=battle.token, voter=voter, choice="a")
        if n == 99:
            assert not Snapshot.objects.exists()
            assert cache.get(BURST_KEY) == 98  # the 99th waits in this process
    assert Snapshot.objects.filter(board__category=Board.OVERALL).exists()
    assert cache.get(BURST_KEY) == 100
