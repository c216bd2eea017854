"""The WSGI fast lane (arena.fastlane) answers the vote loop exactly as Django's stack does."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections

from arena.fastlane import FastLane
from votes.models import Vote, Voter

pytestmark = pytest.mark.django_db

# Headers whose value depends on the body (its length) or on nothing at all.
OWN = {"content-length"}


@pytest.fixture(autouse=True)
def _keep_test_transaction() -> Iterator[None]:
    # As Django's test client does: the request signals must not close the connection that
    # holds the test's transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


class Browser:
    """One voter's cookies, sent through a WSGI application."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def call(
        self, app, method: str, path: str, data: dict | None = None, **extra: str
    ) -> tuple[int, dict[str, str], bytes]:  # noqa: ANN001
        body = json.dumps(data).encode() if data is not None else b""
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": "testserver",
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_COOKIE": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
        }
        if data is not None:
            environ["CONTENT_TYPE"] = "application/json"
        if "csrftoken" in self.cookies:
            environ["HTTP_X_CSRFTOKEN"] = self.cookies["csrftoken"]
        environ.update(extra)
        answer: dict = {}

        def start_response(status: str, headers: list, exc_info=None) -> None:  # noqa: ANN001
            answer["status"], answer["headers"] = int(status.split()[0]), headers

        chunks = app(environ, start_response)
        content = b"".join(chunks)
        chunks.close()
        headers = {}
        for name, value in answer["headers"]:
            if name.lower() == "set-cookie":
                key, _, rest = value.strip().partition("=")
                self.cookies[key] = rest.split(";")[0]
            headers[name.lower()] = value
        return answer["status"], headers, content


@pytest.fixture
def apps(demo) -> tuple[FastLane, WSGIHandler]:  # noqa: ANN001
    django = WSGIHandler()
    return FastLane(django), django


@pytest.fixture
def browser(apps: tuple[FastLane, WSGIHandler]) -> Browser:
    _, django = apps
    browser = Browser()
    browser.call(django, "GET", "/vote/no-audio/")  # the CSRF cookie
    status, _, _ = browser.call(django, "POST", "/api/v1/battles/", {"arena": "no-audio"})
    assert status == 201 and "sessionid" in browser.cookies  # a voter bound to the session
    return browser


def same(first: dict[str, str], second: dict[str, str]) -> bool:
    return {k: v for k, v in first.items() if k not in OWN} == {
        k: v for k, v in second.items() if k not in OWN
    }


def test_the_lane_answers_battles_and_votes_as_django_does(apps, browser: Browser) -> None:  # noqa: ANN001
    lane, django = apps
    battle = {"arena": "no-audio", "mode": "text-to-video"}
    lane_status, lane_headers, lane_body = browser.call(lane, "POST", "/api/v1/battles/", battle)
    status, headers, body = browser.call(django, "POST", "/api/v1/battles/", battle)
    assert lane_status == status == 201
    assert same(lane_headers, headers)
    assert json.loads(lane_body).keys() == json.loads(body).keys()
    tokens = json.loads(lane_body)["token"], json.loads(body)["token"]
    answers = [
        browser.call(app, "POST", f"/api/v1/battles/{token}/vote/", {"choice": "b"})
        for app, token in zip((lane, django), tokens, strict=True)
    ]
    assert [a[0] for a in answers] == [201, 201]
    assert same(answers[0][1], answers[1][1])
    assert json.loads(answers[0][2]).keys() == json.loads(answers[1][2]).keys()
    assert Vote.objects.filter(battle__token__in=tokens, winner="model_b").count() == 2
    # A replay: the same refusal, word for word, from both.
    replays = [
        browser.call(app, "POST", f"/api/v1/battles/{tokens[0]}/vote/", {"choice": "a"})
        for app in (lane, django)
    ]
    assert replays[0][0] == replays[1][0] == 409
    assert replays[0][2] == replays[1][2]
    assert same(replays[0][1], replays[1][1])
    assert Vote.objects.filter(battle__token__in=tokens).count() == 2


def test_refusals_are_logged_as_django_logs_them(apps, browser: Browser, caplog) -> None:  # noqa: ANN001
    lane, _ = apps
    _, _, body = browser.call(lane, "POST", "/api/v1/battles/", {"arena": "no-audio"})
    path = f"/api/v1/battles/{json.loads(body)['token']}/vote/"
    browser.call(lane, "POST", path, {"choice": "a"})
    with caplog.at_level(logging.WARNING, logger="django.request"):
        browser.call(lane, "POST", path, {"choice": "a"})
    assert [r.getMessage() for r in caplog.records] == [f"Conflict: {path}"]


@pytest.mark.parametrize(
    ("method", "data", "extra", "status"),
    [
        ("POST", {"choice": "maybe"}, {}, 400),  # DRF names the field: the body reached it
        ("POST", {"choice": "a"}, {"HTTP_X_CSRFTOKEN": "forged" * 6}, 403),
        ("GET", None, {}, 405),
        ("POST", {"choice": "a"}, {"HTTP_HOST": "evil.example"}, 400),
    ],
)
def test_what_is_out_of_the_ordinary_gets_djangos_own_answer(
    apps, browser: Browser, method: str, data: dict | None, extra: dict, status: int
) -> None:  # noqa: ANN001
    lane, django = apps
    tokens = []
    for _ in range(2):
        _, _, body = browser.call(django, "POST", "/api/v1/battles/", {"arena": "no-audio"})
        tokens.append(json.loads(body)["token"])
    answers = [
        browser.call(app, method, f"/api/v1/battles/{token}/vote/", data, **extra)
        for app, token in zip((lane, django), tokens, strict=True)
    ]
    assert answers[0][0] == answers[1][0] == status
    assert same(answers[0][1], answers[1][1])
    assert answers[0][2] == answers[1][2]
    assert not Vote.objects.exists()
    if data == {"choice": "maybe"}:
        assert b"choice" in answers[0][2]


def test_the_https_redirect_is_left_to_django(browser: Browser, settings) -> None:  # noqa: ANN001
    settings.SECURE_SSL_REDIRECT = True
    lane = FastLane(WSGIHandler())  # middlewares read their settings when built
    status, headers, _ = browser.call(lane, "POST", "/api/v1/battles/", {"arena": "no-audio"})
    assert status == 301 and headers["location"].startswith("https://")


def test_a_session_whose_voter_is_gone_is_given_a_new_one_and_its_cookie(
    apps, browser: Browser
) -> None:  # noqa: ANN001
    lane, _ = apps
    Voter.objects.all().delete()
    before = browser.cookies["sessionid"]
    status, headers, _ = browser.call(lane, "POST", "/api/v1/battles/", {"arena": "no-audio"})
    assert status == 201
    assert "set-cookie" in headers and browser.cookies["sessionid"] != before
    assert Voter.objects.count() == 1


def test_a_middleware_the_lane_does_not_know_closes_it(demo, settings) -> None:  # noqa: ANN001
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    assert not FastLane(WSGIHandler()).open
