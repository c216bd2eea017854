"""Shared by the moderation tests: a moderator, their client, and votes cast through the API."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from arena import leaderboards
from arena.models import Board
from tests.conftest import issue, make_voter_client, vote
from votes.models import Vote, Voter
from votes.moderation import moderators_group

__all__ = ["ACT", "cast", "counted", "login", "make_voter_client", "overall_votes"]

ACT = "/moderation/actions/"


@pytest.fixture(autouse=True)
def _small_boards(settings) -> None:  # noqa: ANN001
    settings.ARENA_MIN_VOTES_LISTED = 1
    settings.ARENA_BOOTSTRAP_ROUNDS = 20


def cast(client: Client, n: int, choice: str = "a") -> Voter:
    """n votes through the real API from one voter's session; returns that voter."""
    for _ in range(n):
        response = vote(client, issue(client)["token"], choice)
        assert response.status_code == 201, response.content
    return Vote.objects.order_by("-id").first().voter


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def moderator(demo) -> User:  # noqa: ANN001
    user = User.objects.create_user("mod", password="pw")
    user.groups.add(moderators_group())
    return user


@pytest.fixture
def mod_client(moderator: User) -> Client:
    return login(moderator)


def counted(voter: Voter) -> int:
    return Vote.objects.counted().filter(voter=voter).count()


def overall_votes() -> int:
    """Counted votes on the no-audio overall boards, as the last recompute left them."""
    leaderboards.recompute(rounds=20)
    return sum(
        b.latest.votes
        for b in Board.objects.filter(arena="no-audio", category=Board.OVERALL)
        if b.latest
    )
