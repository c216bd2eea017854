"""Moderation actions from the pages: what each one really changes, and what it refuses."""

# ruff: noqa: F811  (fixtures imported from tests.moderation_helpers are parameters by name)

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from arena import catalogue
from arena.models import Battle
from tests.conftest import issue, vote
from tests.moderation_helpers import (  # noqa: F401 - fixtures are found by name
    ACT,
    _small_boards,
    cast,
    counted,
    login,
    make_voter_client,
    mod_client,
    moderator,
    overall_votes,
)
from votes import audit
from votes.models import AuditEntry, Vote, Voter

# Actions -----------------------------------------------------------------------------


def test_invalidate_then_restore_moves_the_votes_the_log_and_the_leaderboard(
    mod_client: Client,
) -> None:
    cast(make_voter_client(), 5, "b")
    suspect = cast(make_voter_client(), 6, "a")
    before = overall_votes()
    assert before == 11
    response = mod_client.post(
        ACT,
        {
            "target_type": "voter",
            "ids": suspect.uid,
            "action": "invalidate",
            "reason": "votes for one model only",
            "next": f"/moderation/voters/{suspect.uid}/",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"/moderation/voters/{suspect.uid}/"
    assert "counted votes 6 → 0" in response.content.decode()
    assert Vote.objects.filter(voter=suspect, invalidated=True).count() == 6
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.actor, entry.action, entry.target) == ("mod", "invalidate", suspect.uid)
    assert entry.reason == "votes for one model only"
    assert (entry.before["counted"], entry.after["counted"]) == (6, 0)
    assert overall_votes() == before - 6

    mod_client.post(
        ACT, {"target_type": "voter", "ids": suspect.uid, "action": "restore", "reason": "ok"}
    )
    assert counted(suspect) == 6 and overall_votes() == before
    assert audit.verify().ok and audit.verify().entries == 2


def test_a_bulk_action_applies_to_each_chosen_voter_with_its_own_entry(
    mod_client: Client,
) -> None:
    first, second, bystander = (cast(make_voter_client(), 2) for _ in range(3))
    response = mod_client.post(
        ACT,
        {
            "target_type": "voter",
            "ids": [first.uid, second.uid],
            "action": "quarantine",
            "reason": "same address, same pattern",
        },
        follow=True,
    )
    assert "quarantine: 2 voters" in response.content.decode()
    for voter in (first, second):
        voter.refresh_from_db()
        assert voter.status == Voter.Status.QUARANTINED
        assert Vote.objects.filter(voter=voter, quarantined=True).count() == 2
    assert counted(bystander) == 2
    assert sorted(AuditEntry.objects.values_list("target", flat=True)) == sorted(
        [first.uid, second.uid]
    )


def test_a_banned_voter_s_next_vote_is_refused(mod_client: Client) -> None:
    client = make_voter_client()
    voter = cast(client, 1)
    response = mod_client.post(
        ACT, {"target_type": "voter", "ids": voter.uid, "action": "ban", "reason": "scripted"}
    )
    assert response.status_code == 302
    refused = vote(client, issue(client)["token"], "a")
    assert refused.status_code == 403
    assert Vote.objects.filter(voter=voter).count() == 1


def test_hiding_a_clip_takes_it_out_of_battles_and_keeps_its_votes(mod_client: Client) -> None:
    client = make_voter_client()
    cast(client, 4)
    clip = Vote.objects.first().clip_a
    votes_on_it = (
        Vote.objects.filter(clip_a=clip).count() + Vote.objects.filter(clip_b=clip).count()
    )
    response = mod_client.post(
        ACT,
        {"target_type": "clip", "ids": clip.uid, "action": "hide", "reason": "offensive"},
        follow=True,
    )
    assert "1 hidden now" in response.content.decode()
    clip.refresh_from_db()
    assert clip.hidden
    in_catalogue = {
        info.id
        for pool in catalogue.current().pools.values()
        for infos in pool.clips.values()
        for info in infos
    }
    assert clip.id not in in_catalogue and in_catalogue
    for _ in range(15):
        battle = Battle.objects.get(token=issue(client)["token"])
        assert clip.id not in (battle.clip_a_id, battle.clip_b_id)
    assert (
        Vote.objects.counted().filter(clip_a=clip).count()
        + Vote.objects.counted().filter(clip_b=clip).count()
        == votes_on_it
    )
    mod_client.post(
        ACT, {"target_type": "clip", "ids": clip.uid, "action": "unhide", "reason": "appeal"}
    )
    clip.refresh_from_db()
    assert not clip.hidden


@pytest.mark.parametrize(
    "change",
    [
        {"reason": ""},
        {"reason": "   "},
        {"action": "delete"},
        {"target_type": "prompt"},
        {"ids": "ffffffff"},
        {"ids": ""},
    ],
)
def test_an_invalid_action_changes_nothing_and_says_why(mod_client: Client, change: dict) -> None:
    voter = cast(make_voter_client(), 3)
    body = {"target_type": "voter", "ids": voter.uid, "action": "invalidate", "reason": "x"}
    response = mod_client.post(ACT, body | change, follow=True)
    assert response.status_code == 200
    assert "Nothing was changed" in response.content.decode()
    voter.refresh_from_db()
    assert counted(voter) == 3 and voter.status == Voter.Status.OK
    assert not AuditEntry.objects.exists()


# grant_moderator ---------------------------------------------------------------------


def test_grant_moderator_puts_the_user_in_the_group(db, capsys) -> None:  # noqa: ANN001
    user = User.objects.create_user("alice")
    call_command("grant_moderator", "alice")
    assert user.groups.filter(name="moderators").exists()
    assert "alice is a moderator" in capsys.readouterr().out
    assert login(user).get("/moderation/").status_code == 200


def test_grant_moderator_names_an_unknown_user(db) -> None:  # noqa: ANN001
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("grant_moderator", "nobody")
