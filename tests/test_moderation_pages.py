"""The moderation pages: who may see them, and the evidence they put in view."""

# ruff: noqa: F811  (fixtures imported from tests.moderation_helpers are parameters by name)

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from arena.models import Clip
from tests.conftest import api_post, issue, vote
from tests.moderation_helpers import (  # noqa: F401 - fixtures are found by name
    ACT,
    _small_boards,
    cast,
    counted,
    make_voter_client,
    mod_client,
    moderator,
)
from votes import audit
from votes.models import AuditEntry, ClipReport, Vote, Voter

# Who may use the pages ---------------------------------------------------------------


def moderation_urls(voter: Voter, clip: Clip) -> list[str]:
    return [
        "/moderation/",
        f"/moderation/voters/{voter.uid}/",
        f"/moderation/clips/{clip.uid}/",
        f"/moderation/clips/{clip.uid}/silent",
        f"/moderation/clips/{clip.uid}/poster",
        "/moderation/audit/",
        ACT,
    ]


@pytest.mark.parametrize("persona", ["anonymous", "user", "staff", "superuser"])
def test_everyone_outside_the_group_gets_403_on_every_page_and_action(
    demo,  # noqa: ANN001
    persona: str,
) -> None:
    voter = cast(make_voter_client(), 3)
    clip = Clip.objects.first()
    client = Client()
    if persona != "anonymous":
        user = User.objects.create_user(
            persona, password="pw", is_staff=persona != "user", is_superuser=persona == "superuser"
        )
        client.force_login(user)
    for url in moderation_urls(voter, clip):
        response = client.get(url)
        assert response.status_code == 403, (persona, url)
        assert "/accounts/login/?next=" in response.content.decode(), url
    for action in ("invalidate", "ban", "quarantine"):
        response = client.post(
            ACT, {"target_type": "voter", "ids": voter.uid, "action": action, "reason": "x"}
        )
        assert response.status_code == 403
    response = client.post(
        ACT, {"target_type": "clip", "ids": clip.uid, "action": "hide", "reason": "x"}
    )
    assert response.status_code == 403
    voter.refresh_from_db()
    clip.refresh_from_db()
    assert voter.status == Voter.Status.OK and counted(voter) == 3 and not clip.hidden
    assert not AuditEntry.objects.exists()


def test_a_moderator_action_without_its_csrf_token_is_refused(moderator: User) -> None:
    voter = cast(make_voter_client(), 2)
    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)
    response = client.post(
        ACT, {"target_type": "voter", "ids": voter.uid, "action": "invalidate", "reason": "x"}
    )
    assert response.status_code == 403
    assert counted(voter) == 2 and not AuditEntry.objects.exists()


def test_a_moderator_who_is_not_staff_signs_in_and_reaches_the_queue(moderator: User) -> None:
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "mod", "password": "pw", "next": "/moderation/"}
    )
    assert response.status_code == 302 and response["Location"] == "/moderation/"
    assert client.get("/moderation/").status_code == 200


def test_only_moderators_see_the_moderation_link(mod_client: Client) -> None:
    assert 'href="/moderation/"' in mod_client.get("/").content.decode()
    assert 'href="/moderation/"' not in Client().get("/").content.decode()


# The queue and the evidence ----------------------------------------------------------


def test_the_queue_lists_a_voter_the_scan_flagged_with_the_reasons(mod_client: Client) -> None:
    from votes import scanning

    for _ in range(2):  # a crowd, so that pairs have a history
        cast(make_voter_client(), 4, "b")
    suspect = cast(make_voter_client(), 12, "a")
    scanning.scan()
    suspect.refresh_from_db()
    assert suspect.status in {Voter.Status.FLAGGED, Voter.Status.QUARANTINED}
    page = mod_client.get("/moderation/").content.decode()
    assert suspect.uid in page
    for reason in suspect.evidence["reasons"]:
        assert reason in page
    # The test clients share one address: the pooled evidence names the speed of all of them.
    assert "came before the clips had played through" in page
    assert f"{AuditEntry.objects.count()}</dd>" in page  # the audit log's head is shown


def test_the_voter_page_shows_votes_preferences_and_shared_sessions(mod_client: Client) -> None:
    client = make_voter_client()
    suspect = cast(client, 4, "a")
    neighbour = cast(make_voter_client(), 2, "b")  # the test client: same address hashes
    assert suspect.ip_hash and suspect.ip_hash == neighbour.ip_hash
    Voter.objects.filter(pk=suspect.pk).update(
        status=Voter.Status.FLAGGED,
        suspicion=4.2,
        evidence={
            "suspicion": 4.2,
            "reasons": ["pulls for Lumen-2: score 4 where 1.2 was expected over 4 votes"],
            "tests": {
                "consensus": {
                    "fisher": 30.1,
                    "expected": 8.0,
                    "z": 5.1,
                    "p": 2e-7,
                    "agreement": 0.21,
                },
                "pull": {
                    "model": 1,
                    "model_name": "Lumen-2",
                    "direction": "for",
                    "votes": 4,
                    "score": 4.0,
                    "expected": 1.2,
                    "z": 4.0,
                    "p": 1e-4,
                },
                "position": {"a": 4, "b": 0, "p": 0.125},
            },
            "votes": 4,
        },
    )
    page = mod_client.get(f"/moderation/voters/{suspect.uid}/").content.decode()
    assert "pulls for Lumen-2" in page and "21 %" in page  # agreement with the crowd
    assert neighbour.uid in page  # a session sharing the address
    first = Vote.objects.filter(voter=suspect).select_related("model_a", "model_b").first()
    assert first.model_a.name in page and first.model_b.name in page
    assert page.count('class="chip good">counted') == 4


def test_the_clip_page_plays_the_clip_through_a_moderator_only_url(mod_client: Client) -> None:
    client = make_voter_client()
    battle = issue(client)
    response = api_post(
        client,
        f"/api/v1/battles/{battle['token']}/report/",
        {"side": "a", "reason": "broken", "note": "frozen half-way"},
    )
    assert response.status_code == 201, response.content
    clip = ClipReport.objects.get().clip
    page = mod_client.get(f"/moderation/clips/{clip.uid}/").content.decode()
    assert "frozen half-way" in page and clip.generator.name in page
    assert f'/moderation/clips/{clip.uid}/silent"' in page
    assert clip.uid in mod_client.get("/moderation/").content.decode()
    media = mod_client.get(f"/moderation/clips/{clip.uid}/silent")
    assert media.status_code == 200 and media["Content-Type"] == "video/mp4"
    assert b"".join(media.streaming_content)[4:8] == b"ftyp"


def test_the_audit_page_shows_entries_and_the_chain_check(mod_client: Client) -> None:
    voter = cast(make_voter_client(), 1)
    mod_client.post(
        ACT, {"target_type": "voter", "ids": voter.uid, "action": "ban", "reason": "bot farm"}
    )
    page = mod_client.get("/moderation/audit/").content.decode()
    assert "bot farm" in page and voter.uid in page and audit.verify().head in page
    assert "has not been checked from here yet" in page
    assert "Chain intact: 1 entry" in mod_client.get("/moderation/audit/?verify=1").content.decode()
    assert "Chain intact: 1 entry" in mod_client.get("/moderation/audit/").content.decode()


def test_the_audit_page_names_the_first_tampered_entry(mod_client: Client) -> None:
    voters = [cast(make_voter_client(), 1) for _ in range(3)]
    for voter in voters:
        mod_client.post(
            ACT, {"target_type": "voter", "ids": voter.uid, "action": "ban", "reason": "farm"}
        )
    middle = AuditEntry.objects.order_by("id")[1]
    with connection.cursor() as cursor:  # what someone with the database owner's rights can do
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER audit_append_only ON votes_auditentry")
        else:
            cursor.execute("DROP TRIGGER audit_no_update")
    try:
        AuditEntry.objects.filter(pk=middle.pk).update(reason="nothing to see")
    finally:
        audit.install_triggers()
    page = mod_client.get("/moderation/audit/?verify=1").content.decode()
    assert f"Chain broken at entry #{middle.pk}: its contents were changed" in page


def test_the_audit_page_renders_entries_whose_target_has_no_page(mod_client: Client) -> None:
    audit.record(
        actor="operator",
        action="note",
        target_type="release",
        target="2026-11/v1",
        reason="an entry about something else",
        before={},
        after={"published": True},
    )
    audit.record(
        actor="operator",
        action="flag",
        target_type="voter",
        target="not-a-uid",
        reason="an older uid shape",
        before={},
        after={},
    )
    page = mod_client.get("/moderation/audit/").content.decode()
    assert "release 2026-11/v1" in page and "voter not-a-uid" in page


def page_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_queue_and_voter_pages_cost_the_same_queries_whatever_their_size(
    mod_client: Client,
) -> None:
    def flag(voter: Voter) -> Voter:
        Voter.objects.filter(pk=voter.pk).update(
            status=Voter.Status.FLAGGED, evidence={"reasons": ["pulls for model #1"]}
        )
        return voter

    small = flag(cast(make_voter_client(), 1))
    queue_small = page_queries(mod_client, "/moderation/")
    voter_small = page_queries(mod_client, f"/moderation/voters/{small.uid}/")
    big = flag(cast(make_voter_client(), 8))
    for _ in range(4):
        flag(cast(make_voter_client(), 1))
    assert page_queries(mod_client, "/moderation/") == queue_small
    assert page_queries(mod_client, f"/moderation/voters/{big.uid}/") == voter_small


def test_banned_voters_have_their_own_view_and_can_be_restored(mod_client: Client) -> None:
    client = make_voter_client()
    voter = cast(client, 1)
    mod_client.post(ACT, {"target_type": "voter", "ids": voter.uid, "action": "ban", "reason": "x"})
    assert voter.uid not in mod_client.get("/moderation/").content.decode()
    assert voter.uid in mod_client.get("/moderation/?show=banned").content.decode()
    mod_client.post(
        ACT, {"target_type": "voter", "ids": voter.uid, "action": "restore", "reason": "appeal"}
    )
    assert vote(client, issue(client)["token"], "b").status_code == 201
