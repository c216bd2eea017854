"""Schemathesis against the project's own /api/schema/, with every check it has.

The app is called in-process through its WSGI entry point, inside the test's transaction, on
the demo catalogue. Two callers: a voter with the session and CSRF token the vote page gives
(so POSTs reach the real handlers, and half the vote and report calls carry a real battle
token), and a caller with no cookie at all (every POST must be refused with 403).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core import signals
from django.db import close_old_connections, connection
from django.test import Client
from hypothesis import HealthCheck, settings

from arena.wsgi import application

from .conftest import api_post

pytestmark = [pytest.mark.slow]

schemathesis.checks.load_all_checks()  # the OpenAPI checks register themselves lazily
ALL_CHECKS = list(schemathesis.checks.CHECKS.get_all())
assert len(ALL_CHECKS) > 10, [c.__name__ for c in ALL_CHECKS]
# Enough to reach every branch of these small bodies; the file takes about a minute.
EXAMPLES = 40
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)



def in_transaction(environ: dict, start_response: Callable) -> list[bytes]:
    """The project's WSGI application, keeping the test's database connection open.

    The handler closes "old" connections around each request; here the connection holds the
    test's transaction, so it must stay open, as Django's own test client arranges too.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        response = application(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            response.close()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


# Loading the schema needs no database: it is built from the views alone. Two copies: one
# that authenticates as a voter, one that sends no cookie.
schema = schemathesis.openapi.from_wsgi("/api/schema/", in_transaction)
bare = schemathesis.openapi.from_wsgi("/api/schema/", in_transaction)
# The voter whose cookies the auth provider handed out last (cases are drawn one at a time).
CURRENT: dict[str, object] = {}
# A CSRF pair needs no server state: any 32 letters, the same in the cookie and the header.
PLACEHOLDER_CSRF = "p" * 32


@schema.auth(refresh_interval=None)
class VoterSession:
    """The documented CSRF pair and the session cookie, from a real visit to the vote page."""

    def get(self, case, ctx) -> dict[str, str]:  # noqa: ANN001
        try:
            connection.ensure_connection()
        except RuntimeError:  # drawn while collecting: no database yet
            return {"csrftoken": PLACEHOLDER_CSRF}
        client, cookies = voter()
        CURRENT.update(client=client, cookies=cookies)
        return cookies

    def set(self, case, data: dict[str, str], ctx) -> None:  # noqa: ANN001
        case.cookies = {**(case.cookies or {}), **data}
        case.headers = {**(case.headers or {}), "X-CSRFToken": data["csrftoken"]}


@pytest.fixture(autouse=True)
def _catalogue(demo) -> None:  # noqa: ANN001
    """Every call runs on the demo catalogue, in the test's transaction."""


def voter() -> tuple[Client, dict[str, str]]:
    """A voter's browser: the vote page's cookies (csrftoken, and the session once issued)."""
    client = Client(enforce_csrf_checks=True)
    client.get("/vote/no-audio/")
    api_post(client, "/api/v1/battles/", {"arena": "no-audio"})  # creates the session
    return client, {name: morsel.value for name, morsel in client.cookies.items()}


def real_token(client: Client) -> str:
    response = api_post(client, "/api/v1/battles/", {"arena": "no-audio"})
    assert response.status_code == 201, response.content
    return response.json()["token"]


@schema.parametrize()
@FUZZ
def test_the_api_keeps_to_its_schema_for_a_voter_with_a_session(case) -> None:  # noqa: ANN001
    token = case.path_parameters.get("token") if case.path_parameters else None
    session = (case.cookies or {}).get(django_settings.SESSION_COOKIE_NAME)
    if token is not None and len(token) % 2 == 0 and session:
        # Random tokens only ever meet the 404 branch: give half the calls a live battle,
        # issued to the session this case carries.
        assert CURRENT["cookies"][django_settings.SESSION_COOKIE_NAME] == session
        case.path_parameters["token"] = real_token(CURRENT["client"])
    response = case.call_and_validate(checks=ALL_CHECKS)
    csrf = (case.cookies or {}).get("csrftoken")
    if csrf and (case.headers or {}).get("X-CSRFToken") == csrf:
        # With the pair (not a case that leaves it out on purpose), CSRF must let it through.
        assert response.status_code != 403, response.text


@bare.parametrize()
@FUZZ
def test_the_api_keeps_to_its_schema_for_a_caller_without_csrf(case) -> None:  # noqa: ANN001
    response = case.call_and_validate(checks=ALL_CHECKS)
    if case.method.upper() == "POST":
        assert response.status_code in (403, 405), response.text
