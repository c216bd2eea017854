"""The vote loop's lean path (arena.hotpath, votes.services.record_vote) answers as DRF does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from arena.battles import UnknownVoter, issue_battle
from arena.models import Battle
from votes import services
from votes.models import Vote, Voter

from .conftest import api_post, issue, vote

pytestmark = pytest.mark.django_db

# Fields that differ between any two votes, whichever path stored them.
OWN = {"id", "uid", "battle", "battle_uid", "created_at", "time_to_vote_ms", "winner"}


def test_the_one_statement_vote_writes_every_column_of_a_vote() -> None:
    columns = {f.column for f in Vote._meta.concrete_fields if not f.primary_key}
    assert services.RECORD_COLUMNS == columns


def test_an_ordinary_request_and_one_drf_answers_get_the_same_answer(voter_client: Client) -> None:
    # A query string sends the request to the DRF view; without one, the lean path answers.
    body = {"arena": "no-audio", "mode": "text-to-video"}
    lean = api_post(voter_client, "/api/v1/battles/", body)
    drf = api_post(voter_client, "/api/v1/battles/?format=json", body)
    assert lean.status_code == drf.status_code == 201
    for header in ("Content-Type", "Allow", "Vary"):
        assert lean.headers[header] == drf.headers[header]
    assert lean.json().keys() == drf.json().keys()
    assert lean.json()["clips"]["b"]["poster_url"].endswith(f"/b/{lean.json()['token']}/b.jpg")
    lean_vote = vote(voter_client, lean.json()["token"], "tie")
    drf_vote = api_post(
        voter_client, f"/api/v1/battles/{drf.json()['token']}/vote/?format=json", {"choice": "tie"}
    )
    assert lean_vote.status_code == drf_vote.status_code == 201
    assert lean_vote.json().keys() == drf_vote.json().keys()
    first, second = Vote.objects.order_by("id")
    assert {f: getattr(first, f) for f in _fields()} == {f: getattr(second, f) for f in _fields()}
    # Refusals alike: a replay on either path.
    replay_drf = f"/api/v1/battles/{lean.json()['token']}/vote/?format=json"
    lean_replay = vote(voter_client, drf.json()["token"])
    drf_replay = api_post(voter_client, replay_drf, {"choice": "a"})
    assert lean_replay.status_code == drf_replay.status_code == 409
    assert lean_replay.json() == drf_replay.json()


def _fields() -> list[str]:
    return [
        f.attname
        for f in Vote._meta.concrete_fields
        if f.name not in OWN
        and f.attname not in {"model_a_id", "model_b_id", "prompt_id"}
        and not f.attname.startswith("clip_")
    ]


def _voter(status: str = Voter.Status.OK) -> Voter:
    return Voter.objects.create(status=status)


def test_record_vote_refuses_exactly_as_cast_vote(demo, settings) -> None:  # noqa: ANN001
    now = timezone.now()
    owner, stranger = _voter(), _voter()
    battle = issue_battle(voter_uid=owner.uid, arena="no-audio", now=now)
    with pytest.raises(services.BattleNotFound):
        services.record_vote(token=battle.token, voter_uid=stranger.uid, choice="a", now=now)
    with pytest.raises(services.BattleNotFound):
        services.record_vote(token="no-such-token", voter_uid=owner.uid, choice="a", now=now)
    with pytest.raises(services.BattleNotFound):
        services.record_vote(token=battle.token, voter_uid=None, choice="a", now=now)
    later = now + timedelta(seconds=settings.ARENA_BATTLE_TTL_SECONDS + 1)
    with pytest.raises(services.BattleNotFound, match="expired"):
        services.record_vote(token=battle.token, voter_uid=owner.uid, choice="a", now=later)
    Battle.objects.filter(pk=battle.pk).update(min_watch_ms=5000)
    with pytest.raises(services.TooEarly, match=r"\(5 s more\)"):
        services.record_vote(token=battle.token, voter_uid=owner.uid, choice="a", now=now)
    Voter.objects.filter(pk=owner.pk).update(status=Voter.Status.BANNED)
    with pytest.raises(services.VoterBanned):
        services.record_vote(token=battle.token, voter_uid=owner.uid, choice="a", now=now)
    assert not Vote.objects.exists()
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.ISSUED

    Voter.objects.filter(pk=owner.pk).update(status=Voter.Status.QUARANTINED)
    at = now + timedelta(seconds=6)
    reveal = services.record_vote(token=battle.token, voter_uid=owner.uid, choice="b", now=at)
    stored = Vote.objects.get()
    assert (stored.quarantined, stored.winner, stored.time_to_vote_ms) == (True, "model_b", 6000)
    assert (stored.battle_id, stored.voter_id, stored.created_at) == (battle.pk, owner.pk, at)
    assert reveal.battle_uid == battle.uid and reveal.models[0] == battle.model_a.name
    with pytest.raises(services.AlreadyVoted):
        services.record_vote(token=battle.token, voter_uid=owner.uid, choice="a", now=at)
    closed = Battle.objects.get(pk=battle.pk)
    assert (closed.status, closed.voted_at) == (Battle.Status.VOTED, at)


def test_a_session_whose_voter_is_gone_gets_a_new_voter_and_its_battle(
    voter_client: Client,
) -> None:
    issue(voter_client)
    gone = Voter.objects.get()
    gone.delete()  # its battles go with it
    with pytest.raises(UnknownVoter):
        issue_battle(voter_uid=gone.uid, arena="no-audio")
    battle = issue(voter_client)
    assert Battle.objects.get(token=battle["token"]).voter != gone
    assert vote(voter_client, battle["token"]).status_code == 201
