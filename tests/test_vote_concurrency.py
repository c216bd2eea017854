"""One token, many simultaneous submissions: exactly one vote is stored."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from arena.models import Battle
from votes.models import Vote

from .conftest import issue, make_voter_client

pytestmark = pytest.mark.slow


def _submit_concurrently(client: Client, token: str, n: int) -> list[int]:
    barrier = threading.Barrier(n)
    codes: list[int] = []
    lock = threading.Lock()
    cookies = {name: morsel.value for name, morsel in client.cookies.items()}

    def submit() -> None:
        mine = Client(enforce_csrf_checks=True)
        for name, value in cookies.items():
            mine.cookies[name] = value
        barrier.wait()
        try:
            response = mine.post(
                f"/api/v1/battles/{token}/vote/",
                {"choice": "a"},
                content_type="application/json",
                HTTP_X_CSRFTOKEN=cookies["csrftoken"],
            )
            with lock:
                codes.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return codes


def test_fifty_concurrent_submissions_of_one_token_store_one_vote(demo_live) -> None:  # noqa: ANN001
    client = make_voter_client()
    token = issue(client)["token"]
    codes = _submit_concurrently(client, token, 50)
    assert sorted(codes) == [201] + [409] * 49, codes
    battle = Battle.objects.get(token=token)
    assert battle.status == Battle.Status.VOTED
    assert Vote.objects.filter(battle=battle).count() == 1


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_database_refuses_a_second_vote_on_one_battle(demo_live) -> None:  # noqa: ANN001
    from django.db import IntegrityError, transaction

    client = make_voter_client()
    token = issue(client)["token"]
    assert (
        client.post(
            f"/api/v1/battles/{token}/vote/",
            {"choice": "a"},
            content_type="application/json",
            HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
        ).status_code
        == 201
    )
    first = Vote.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(
            battle=first.battle,
            created_at=first.created_at,
            arena=first.arena,
            mode=first.mode,
            prompt=first.prompt,
            model_a=first.model_a,
            model_b=first.model_b,
            winner="tie",
        )


def test_a_session_limit_holds_under_a_hundred_parallel_requests(demo_live, settings) -> None:  # noqa: ANN001
    """The counter is atomic on the shared cache: 30/min means 30, however they arrive."""
    settings.ARENA_RATE_SESSION = "30/min"
    client = make_voter_client()
    issue(client)  # binds the voter to the session; one of the thirty
    cookies = {name: morsel.value for name, morsel in client.cookies.items()}
    barrier = threading.Barrier(100)
    answers: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def request() -> None:
        mine = Client(enforce_csrf_checks=True)
        for name, value in cookies.items():
            mine.cookies[name] = value
        barrier.wait()
        try:
            response = mine.post(
                "/api/v1/battles/",
                {"arena": "no-audio"},
                content_type="application/json",
                HTTP_X_CSRFTOKEN=cookies["csrftoken"],
            )
            with lock:
                answers.append((response.status_code, response.headers.get("Retry-After")))
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    codes = sorted(code for code, _ in answers)
    assert codes == [201] * 29 + [429] * 71, codes
    assert all(int(retry) > 0 for code, retry in answers if code == 429)
    assert Battle.objects.count() == 30
