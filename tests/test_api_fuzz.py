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
from django.core import signals
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings

from arena.wsgi import application

from .conftest import api_post

pytestmark = [pytest.mark.slow]

ALL_CHECKS = list(schemathesis.checks.CHECKS.get_all())
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


# Loading the schema needs no database: it is built from the views alone.
schema = schemathesis.openapi.from_wsgi("/api/schema/", in_transaction)


@pytest.fixture(autouse=True)
def _catalogue(demo) -> None:  # noqa: ANN001
    """Every call runs on the demo catalogue, in the test's transaction."""


def voter() -> tuple[Client, dict[str, str]]:
    """A voter's browser: the vote page's cookies, and the headers that replay them."""
    client = Client(enforce_csrf_checks=True)
    client.get("/vote/no-audio/")
    api_post(client, "/api/v1/battles/", {"arena": "no-audio"})  # creates the session
    cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    return client, {"Cookie": cookies, "X-CSRFToken": client.cookies["csrftoken"].value}


def real_token(client: Client) -> str:
    response = api_post(client, "/api/v1/battles/", {"arena": "no-audio"})
    assert response.status_code == 201, response.content
    return response.json()["token"]


@schema.parametrize()
@FUZZ
def test_the_api_keeps_to_its_schema_for_a_voter_with_a_session(case) -> None:  # noqa: ANN001
    client, headers = voter()
    token = case.path_parameters.get("token") if case.path_parameters else None
    if token is not None and len(token) % 2 == 0:
        # Random tokens only ever meet the 404 branch: give half the calls a live battle.
        case.path_parameters["token"] = real_token(client)
    case.call_and_validate(headers=headers, checks=ALL_CHECKS)


@schema.parametrize()
@FUZZ
def test_the_api_keeps_to_its_schema_for_a_caller_without_csrf(case) -> None:  # noqa: ANN001
    response = case.call_and_validate(checks=ALL_CHECKS)
    if case.method.upper() == "POST":
        assert response.status_code in (403, 405), response.text
