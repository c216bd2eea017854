"""Issuing battles and casting votes through the public API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from arena.models import Battle, Generator
from votes.models import Vote

from .conftest import api_post, issue, make_voter_client, vote

pytestmark = pytest.mark.django_db


def model_names() -> list[str]:
    return list(Generator.objects.values_list("name", flat=True)) + list(
        Generator.objects.exclude(organisation="").values_list("organisation", flat=True)
    )


def test_battle_answer_has_the_documented_shape(voter_client: Client) -> None:
    battle = issue(voter_client, "no-audio", "image-to-video")
    assert set(battle) >= {"token", "prompt", "clips", "min_watch_ms", "expires_at"}
    assert battle["prompt"]["text"]
    assert battle["prompt"]["input_image_url"].startswith("http://testserver/media/inputs/")
    for side in ("a", "b"):
        assert battle["clips"][side]["url"].endswith(f"/{side}.mp4")
        assert battle["clips"][side]["poster_url"].endswith(f"/{side}.jpg")
    assert isinstance(battle["min_watch_ms"], int)


def test_battle_names_no_model_anywhere(voter_client: Client) -> None:
    response = api_post(voter_client, "/api/v1/battles/", {"arena": "no-audio"})
    text = response.content.decode() + json.dumps(dict(response.headers))
    for name in model_names():
        assert name.lower() not in text.lower()


def test_same_clip_gets_a_different_url_in_every_battle(voter_client: Client) -> None:
    urls = set()
    for _ in range(6):
        battle = issue(voter_client)
        urls |= {battle["clips"]["a"]["url"], battle["clips"]["b"]["url"]}
    assert len(urls) == 12


def test_vote_reveals_both_models_and_is_stored(voter_client: Client) -> None:
    battle = issue(voter_client)
    response = vote(voter_client, battle["token"], "b")
    assert response.status_code == 201
    stored = Battle.objects.get(token=battle["token"])
    assert response.json()["models"] == {"a": stored.model_a.name, "b": stored.model_b.name}
    saved = Vote.objects.get(battle=stored)
    assert saved.winner == "model_b" and saved.counted
    assert stored.status == Battle.Status.VOTED


def test_it_rejects_replayed_token(voter_client: Client) -> None:
    battle = issue(voter_client)
    assert vote(voter_client, battle["token"], "a").status_code == 201
    replay = vote(voter_client, battle["token"], "b")
    assert replay.status_code == 409
    assert Vote.objects.count() == 1
    assert Vote.objects.get().winner == "model_a"


@pytest.mark.parametrize("token", ["forged-token-0000000000", "x" * 64])
def test_it_rejects_forged_token(voter_client: Client, token: str) -> None:
    assert vote(voter_client, token).status_code == 404
    assert Vote.objects.count() == 0


def test_it_rejects_tampered_token(voter_client: Client) -> None:
    token = issue(voter_client)["token"]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert vote(voter_client, tampered).status_code == 404
    assert Vote.objects.count() == 0


def test_it_rejects_another_sessions_token(voter_client: Client) -> None:
    token = issue(voter_client)["token"]
    stranger = make_voter_client()
    assert vote(stranger, token).status_code == 404
    assert Vote.objects.count() == 0
    assert vote(voter_client, token).status_code == 201


def test_it_rejects_expired_token(voter_client: Client) -> None:
    token = issue(voter_client)["token"]
    Battle.objects.filter(token=token).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert vote(voter_client, token).status_code == 404
    assert Vote.objects.count() == 0


def test_it_rejects_a_vote_before_the_watch_time(voter_client: Client, settings) -> None:  # noqa: ANN001
    settings.ARENA_MIN_WATCH_MS = 60_000
    token = issue(voter_client)["token"]
    response = vote(voter_client, token)
    assert response.status_code == 400
    assert "watch" in response.json()["detail"]
    assert Vote.objects.count() == 0
    # The battle stays open: once the time has passed, the vote goes through.
    Battle.objects.filter(token=token).update(issued_at=timezone.now() - timedelta(minutes=2))
    assert vote(voter_client, token).status_code == 201


def test_watch_time_is_derived_from_clip_durations_by_default(
    voter_client: Client,  # noqa: ANN001
    settings,
) -> None:
    settings.ARENA_MIN_WATCH_MS = None
    battle = issue(voter_client)
    # Demo clips in the tests last 1 s; the default asks for 80 % of the longer one.
    assert 700 <= battle["min_watch_ms"] <= 1000


def test_malformed_body_names_the_field(voter_client: Client) -> None:
    response = api_post(voter_client, "/api/v1/battles/", {"arena": "smell-o-vision"})
    assert response.status_code == 400 and "arena" in response.json()
    token = issue(voter_client)["token"]
    response = api_post(voter_client, f"/api/v1/battles/{token}/vote/", {"choice": "c"})
    assert response.status_code == 400 and "choice" in response.json()
    response = voter_client.post(
        f"/api/v1/battles/{token}/vote/",
        "{not json",
        content_type="application/json",
        HTTP_X_CSRFTOKEN=voter_client.cookies["csrftoken"].value,
    )
    assert response.status_code == 400
    assert Vote.objects.count() == 0


def test_vote_without_csrf_token_is_refused(voter_client: Client) -> None:
    token = issue(voter_client)["token"]
    response = voter_client.post(
        f"/api/v1/battles/{token}/vote/", {"choice": "a"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert Vote.objects.count() == 0


def test_battle_without_csrf_token_is_refused(demo) -> None:  # noqa: ANN001
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/v1/battles/", {"arena": "audio"}, content_type="application/json")
    assert response.status_code == 403


def test_unsupported_method_gets_405_with_allow(voter_client: Client) -> None:
    response = voter_client.get("/api/v1/battles/")
    assert response.status_code == 405
    assert "POST" in response["Allow"]
    token = issue(voter_client)["token"]
    # Without a CSRF token too: nothing would be done, so the answer is 405, not 403.
    for method in ("put", "patch", "delete"):
        response = getattr(voter_client, method)(f"/api/v1/battles/{token}/vote/")
        assert response.status_code == 405, method
        assert "POST" in response["Allow"]
    for path in ("/healthz", "/vote/audio/", "/leaderboard/"):
        response = voter_client.post(path)
        assert response.status_code == 405, path
        assert "GET" in response["Allow"]


def test_hostile_bodies_get_400_not_500(voter_client: Client) -> None:
    token = issue(voter_client)["token"]
    csrf = voter_client.cookies["csrftoken"].value
    url = f"/api/v1/battles/{token}/vote/"
    for body in ("[" * 100_000, '{"choice": "' + "a" * 200_000 + '"}', '"a"', "null", "[]"):
        response = voter_client.post(
            url, body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf
        )
        assert response.status_code == 400, body[:20]
    assert Vote.objects.count() == 0


def test_malformed_tokens_get_a_json_404(voter_client: Client) -> None:
    for token in ("x", "ünïcödé-tøken", "a" * 128):
        response = vote(voter_client, token)
        assert response.status_code == 404, token
        assert "detail" in response.json()


def test_rates_accept_drf_syntax(voter_client: Client, settings) -> None:  # noqa: ANN001
    settings.ARENA_RATE_SESSION = "2/minute"
    codes = [
        api_post(voter_client, "/api/v1/battles/", {"arena": "no-audio"}).status_code
        for _ in range(3)
    ]
    assert codes == [201, 201, 429]


def test_a_bad_rate_setting_fails_the_system_check(settings) -> None:  # noqa: ANN001
    from votes.checks import rate_settings

    settings.ARENA_RATE_IP = "lots"
    assert [e.id for e in rate_settings(None)] == ["votes.E001"]


def test_session_rate_limit_answers_429_with_retry_after(voter_client: Client, settings) -> None:  # noqa: ANN001
    settings.ARENA_RATE_SESSION = "3/min"
    codes = [
        api_post(voter_client, "/api/v1/battles/", {"arena": "no-audio"}).status_code
        for _ in range(5)
    ]
    assert codes[:3] == [201, 201, 201] and codes[3:] == [429, 429]
    response = api_post(voter_client, "/api/v1/battles/", {"arena": "no-audio"})
    assert int(response["Retry-After"]) >= 1


def test_forged_forwarded_for_does_not_escape_the_address_limit(demo, settings) -> None:  # noqa: ANN001
    settings.ARENA_RATE_IP = "2/min"
    codes = []
    for i in range(4):
        client = make_voter_client()
        codes.append(
            api_post(
                client,
                "/api/v1/battles/",
                {"arena": "no-audio"},
                HTTP_X_FORWARDED_FOR=f"10.0.{i}.1",
            ).status_code
        )
    assert codes == [201, 201, 429, 429]


def test_trusted_proxy_address_is_used(demo, settings) -> None:  # noqa: ANN001
    settings.ARENA_TRUSTED_PROXIES = 1
    settings.ARENA_RATE_IP = "1/min"
    codes = []
    for i in range(3):
        client = make_voter_client()
        # The client forges a first entry; our one proxy appends the real address.
        codes.append(
            api_post(
                client,
                "/api/v1/battles/",
                {"arena": "no-audio"},
                HTTP_X_FORWARDED_FOR=f"1.2.3.4, 203.0.113.{i}",
            ).status_code
        )
    assert codes == [201, 201, 201]


def test_mode_is_respected(voter_client: Client) -> None:
    for mode in ("text-to-video", "image-to-video"):
        battle = issue(voter_client, "no-audio", mode)
        assert battle["mode"] == mode
        assert Battle.objects.get(token=battle["token"]).prompt.mode == mode


def test_audio_arena_pairs_only_models_with_sound(voter_client: Client) -> None:
    for _ in range(5):
        battle = Battle.objects.get(token=issue(voter_client, "audio")["token"])
        assert battle.clip_a.has_audio and battle.clip_b.has_audio
        assert battle.model_a_id != battle.model_b_id


def test_battle_pairs_two_different_models_on_one_prompt(voter_client: Client) -> None:
    for _ in range(10):
        battle = Battle.objects.get(token=issue(voter_client)["token"])
        assert battle.model_a_id != battle.model_b_id
        assert battle.clip_a.prompt_id == battle.clip_b.prompt_id == battle.prompt_id
        assert 0 < battle.pair_probability <= 1


def test_issuing_a_battle_costs_a_fixed_number_of_queries(
    voter_client: Client,  # noqa: ANN001
    django_assert_max_num_queries,
) -> None:
    issue(voter_client)  # warms the catalogue snapshot
    with django_assert_max_num_queries(3):
        issue(voter_client)


def test_voter_can_report_a_clip(voter_client: Client) -> None:
    from votes.models import ClipReport

    token = issue(voter_client)["token"]
    response = api_post(
        voter_client,
        f"/api/v1/battles/{token}/report/",
        {"side": "b", "reason": "broken", "note": "no picture"},
    )
    assert response.status_code == 201
    report = ClipReport.objects.get()
    assert report.clip == Battle.objects.get(token=token).clip_b
    stranger = make_voter_client()
    response = api_post(
        stranger, f"/api/v1/battles/{token}/report/", {"side": "a", "reason": "broken"}
    )
    assert response.status_code == 404
