"""Attention checks, the voter scan, and moderators' actions, through the real services."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from arena import leaderboards
from arena.battles import issue_battle
from arena.models import Board, Clip
from votes import moderation
from votes.models import AuditEntry, Vote, Voter
from votes.services import cast_vote

from .conftest import issue, make_voter_client, vote

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_boards(settings) -> None:  # noqa: ANN001
    settings.ARENA_MIN_VOTES_LISTED = 5
    settings.ARENA_BOOTSTRAP_ROUNDS = 50


def paced(voter: Voter):  # noqa: ANN201
    """(when to vote, battle): ten seconds apart, watched to the end (a person's pace)."""
    now = timezone.now() - timedelta(hours=2)
    while True:
        now += timedelta(seconds=10)
        yield now + timedelta(seconds=5), issue_battle(voter_id=voter.id, arena="no-audio", now=now)


def honest(n: int, seed: int = 0) -> None:
    """A crowd that prefers the model with the lower id, as one."""
    rng = random.Random(seed)
    for i in range(n // 20):
        voter = Voter.objects.create(ip_hash=f"crowd{i}", net_hash=f"crowdnet{i}")
        battles = paced(voter)
        for _ in range(20):
            now, battle = next(battles)
            better = "a" if battle.model_a_id < battle.model_b_id else "b"
            worse = "b" if better == "a" else "a"
            choice = better if rng.random() < 0.8 else worse
            cast_vote(token=battle.token, voter=voter, choice=choice, now=now)


def shill(votes: int, *, target: int | None = None) -> Voter:
    """Votes for the highest-id model (the crowd's least favourite) whenever it appears."""
    voter = Voter.objects.create(ip_hash="shill", net_hash="shillnet")
    cast = 0
    for now, battle in paced(voter):
        if cast == votes:
            break
        target = target or max(battle.model_a_id, battle.model_b_id, 0)
        if target not in (battle.model_a_id, battle.model_b_id):
            continue
        choice = "a" if battle.model_a_id == target else "b"
        cast_vote(token=battle.token, voter=voter, choice=choice, now=now)
        cast += 1
    return voter


def overall_votes() -> int:
    return sum(b.latest.votes for b in Board.objects.filter(category="overall", arena="no-audio"))


def test_a_shill_is_quarantined_with_evidence_and_leaves_the_leaderboard(capsys) -> None:  # noqa: ANN001
    honest(400)
    top = max(Clip.objects.values_list("generator_id", flat=True))
    voter = shill(40, target=top)
    leaderboards.recompute()
    before = overall_votes()

    call_command("scan_voters")

    assert "1 quarantined" in capsys.readouterr().out
    voter.refresh_from_db()
    assert voter.status == Voter.Status.QUARANTINED
    assert voter.evidence["tests"]["pull"]["model"] == top
    assert any("pulls for" in reason for reason in voter.evidence["reasons"])
    assert not Vote.objects.counted().filter(voter=voter).exists()
    assert Vote.objects.filter(voter=voter, quarantined=True).count() == 40  # kept, not deleted
    entry = AuditEntry.objects.get(target=voter.uid)
    assert entry.actor == moderation.DETECTOR and entry.action == "quarantine"
    assert entry.before["counted"] == 40 and entry.after["counted"] == 0
    assert Voter.objects.exclude(pk=voter.pk).exclude(status=Voter.Status.OK).count() == 0
    leaderboards.recompute()
    assert overall_votes() == before - 40

    # A moderator disagrees: the votes count again at the next recompute.
    moderation.act_on_voters(voters=[voter], action="restore", actor="mod", reason="looked fine")
    leaderboards.recompute()
    assert overall_votes() == before
    # ...and the next scan does not quarantine them again on the same evidence.
    call_command("scan_voters")
    voter.refresh_from_db()
    assert voter.status == Voter.Status.OK
    assert call_command("verify_audit_log") is None


def test_a_quarantined_voter_is_told_nothing_and_their_later_votes_are_stored_quarantined(
    demo,  # noqa: ANN001
) -> None:
    client = make_voter_client()
    first = issue(client)
    counted = vote(client, first["token"])
    voter = Voter.objects.get()
    moderation.act_on_voters(voters=[voter], action="quarantine", actor="mod", reason="odd")
    second = issue(client)
    response = vote(client, second["token"])
    assert response.status_code == counted.status_code == 201
    assert set(response.json()) == set(counted.json())
    assert Vote.objects.get(battle__token=second["token"]).quarantined


def test_a_banned_voters_next_vote_is_refused(demo) -> None:  # noqa: ANN001
    client = make_voter_client()
    battle = issue(client)
    moderation.act_on_voters(
        voters=[Voter.objects.get()], action="ban", actor="mod", reason="scripted"
    )
    response = vote(client, battle["token"])
    assert response.status_code == 403
    assert not Vote.objects.exists()


def test_moderation_needs_a_reason_and_changes_nothing_without_one(demo) -> None:  # noqa: ANN001
    voter = shill(5)
    with pytest.raises(moderation.ModerationError, match="reason"):
        moderation.act_on_voters(voters=[voter], action="invalidate", actor="mod", reason=" ")
    assert Vote.objects.counted().filter(voter=voter).count() == 5
    assert not AuditEntry.objects.exists()


def test_invalidating_in_bulk_writes_one_entry_per_voter(demo) -> None:  # noqa: ANN001
    a, b = shill(5), Voter.objects.create()
    entries = moderation.act_on_voters(
        voters=[a, b], action="invalidate", actor="mod", reason="farm"
    )
    assert [e.target for e in entries] == [a.uid, b.uid]
    assert Vote.objects.filter(voter=a, invalidated=True).count() == 5
    assert not Vote.objects.counted().exists()


def test_hiding_a_clip_takes_it_out_of_battles_and_keeps_its_votes(demo) -> None:  # noqa: ANN001
    client = make_voter_client()
    battle = issue(client)
    vote(client, battle["token"])
    voted = Vote.objects.get()
    clip = Clip.objects.get(pk=voted.clip_a_id)
    moderation.act_on_clips(clips=[clip], action="hide", actor="mod", reason="glitches")
    voter = Voter.objects.get()
    for _ in range(40):
        fresh = issue_battle(voter_id=voter.id, arena="no-audio")
        assert clip.pk not in (fresh.clip_a_id, fresh.clip_b_id)
    assert Vote.objects.counted().filter(pk=voted.pk).exists()
    assert AuditEntry.objects.get(target=clip.uid).after["hidden"] is True


def test_attention_checks_show_a_clip_against_its_broken_copy_and_never_count(
    demo,
    settings,  # noqa: ANN001
) -> None:
    settings.ARENA_ATTENTION_CHECK_RATE = 1.0
    client = make_voter_client()
    battle = issue(client)
    stored = Voter.objects.get().battles.get()
    assert stored.attention_check and stored.clip_a_id == stored.clip_b_id
    broken = stored.broken_side
    clip = stored.clip_a
    served = {
        side: b"".join(client.get(battle["clips"][side]["url"]).streaming_content) for side in "ab"
    }
    with default_storage.open(clip.broken_silent.name) as fh:
        assert served[broken] == fh.read()
    with default_storage.open(clip.rendition_silent.name) as fh:
        assert served["b" if broken == "a" else "a"] == fh.read()
    response = vote(client, battle["token"], broken)  # the voter picked the broken one
    assert response.status_code == 201 and response.json()["broken"] == broken
    stored_vote = Vote.objects.get()
    assert stored_vote.attention_check and not stored_vote.counted
    leaderboards.recompute()
    assert not Board.objects.filter(votes__gt=0).exists()


def test_failed_attention_checks_get_a_voter_flagged(demo, settings) -> None:  # noqa: ANN001
    settings.ARENA_ATTENTION_CHECK_RATE = 1.0
    client = make_voter_client()
    for _ in range(3):
        battle = issue(client)
        broken = Voter.objects.get().battles.order_by("-id").first().broken_side
        assert vote(client, battle["token"], broken).status_code == 201
    call_command("scan_voters")
    voter = Voter.objects.get()
    assert voter.status == Voter.Status.FLAGGED
    assert "failed 3 of 3 attention checks" in voter.evidence["reasons"]


def test_arena_stats_json_has_the_documented_keys(demo, capsys) -> None:  # noqa: ANN001
    client = make_voter_client()
    for _ in range(3):
        vote(client, issue(client)["token"])
    issue(client)
    moderation.act_on_voters(
        voters=[Voter.objects.get()], action="quarantine", actor="mod", reason="test"
    )
    call_command("arena_stats", "--json")
    stats = json.loads(capsys.readouterr().out)
    assert {k: stats["votes"][k] for k in ("stored", "counted", "quarantined")} == {
        "stored": 3,
        "counted": 0,
        "quarantined": 3,
    }
    assert stats["votes"]["invalidated"] == stats["votes"]["attention_checks"] == 0
    assert stats["battles"]["issued"] == 4 and stats["battles"]["voted"] == 3
    assert stats["battles"]["expired"] == 0
    assert stats["voters"] == {"seen": 1, "flagged": 0, "quarantined": 1, "banned": 0}
    call_command("arena_stats")
    assert "quarantined 3" in capsys.readouterr().out


def test_grant_moderator_puts_a_user_in_the_group(django_user_model, capsys) -> None:  # noqa: ANN001
    user = django_user_model.objects.create_user("mia", password="x")
    call_command("grant_moderator", "mia")
    assert moderation.is_moderator(user)
    with pytest.raises(Exception, match="no user named 'nobody'"):
        call_command("grant_moderator", "nobody")


def test_anonymous_vote_endpoints_still_need_csrf(demo) -> None:  # noqa: ANN001
    client = Client(enforce_csrf_checks=True)
    client.get("/vote/no-audio/")
    response = client.post(
        "/api/v1/battles/", {"arena": "no-audio"}, content_type="application/json"
    )
    assert response.status_code == 403


def test_the_demo_crowd_passes_its_attention_checks(demo, settings) -> None:  # noqa: ANN001
    """`make run` seeds votes; its simulated voters must not fill the moderation queue."""
    from arena.demo_votes import simulate_votes

    settings.ARENA_ATTENTION_CHECK_RATE = 0.2
    assert simulate_votes(200, voters=10) == 200
    checks = Vote.objects.filter(attention_check=True).select_related("battle")
    assert checks.exists()
    for check in checks:
        broken_won = {"a": "model_a", "b": "model_b"}[check.battle.broken_side]
        assert check.winner not in (broken_won, "tie")
    call_command("scan_voters")
    # The flag bar lets one honest voter in a thousand through by design (suspicion 3),
    # so one of these ten is flagged in about one run in 150; two, or a quarantine, would
    # mean the detector is off.
    assert not Voter.objects.filter(status=Voter.Status.QUARANTINED).exists()
    assert Voter.objects.filter(status=Voter.Status.FLAGGED).count() <= 1
