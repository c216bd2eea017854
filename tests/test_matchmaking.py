"""Matchmaking as the server runs it: weights in force, probabilities stored, shares published."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from arena import catalogue, leaderboards, matchmaking
from arena.battles import issue_battle
from arena.models import Battle, Generator
from votes.models import Voter

from .test_leaderboards import cast

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_boards(settings) -> None:  # noqa: ANN001
    settings.ARENA_MIN_VOTES_LISTED = 5
    settings.ARENA_BOOTSTRAP_ROUNDS = 50


def test_every_battle_stores_the_probability_its_pair_was_drawn_with() -> None:
    cast(40)
    leaderboards.recompute()
    voter = Voter.objects.create()
    snap = catalogue.current()
    pool = snap.pool("no-audio", "text-to-video")
    weights = matchmaking.weights_for("no-audio", "text-to-video", pool, snap.built_at)
    assert abs(sum(weights.values()) - 1) < 1e-9
    for _ in range(20):
        battle = issue_battle(voter_id=voter.id, arena="no-audio", mode="text-to-video")
        pair = tuple(sorted((battle.model_a_id, battle.model_b_id)))
        assert battle.pair_probability == pytest.approx(weights[pair])


def test_every_eligible_pair_keeps_a_floor_of_exploration() -> None:
    cast(60)
    leaderboards.recompute()
    snap = catalogue.current()
    for arena, mode in (("no-audio", "text-to-video"), ("audio", "image-to-video")):
        pool = snap.pool(arena, mode)
        weights = matchmaking.weights_for(arena, mode, pool, snap.built_at)
        assert set(weights) == set(pool.pairs)
        assert min(weights.values()) > 0.05 / len(weights)


def test_retired_models_are_not_sampled_but_stay_on_the_board() -> None:
    cast(40)
    leaderboards.recompute()
    Generator.objects.filter(name="Dreamreel").update(status=Generator.Status.RETIRED)
    catalogue.invalidate()
    voter = Voter.objects.create()
    dreamreel = Generator.objects.get(name="Dreamreel").id
    for _ in range(30):
        battle = issue_battle(voter_id=voter.id, arena="no-audio")
        assert dreamreel not in (battle.model_a_id, battle.model_b_id)
    leaderboards.recompute(full=True)
    assert any(
        row["model"] == "Dreamreel"
        for row in leaderboards.Board.objects.get(
            arena="no-audio", mode="text-to-video", category="overall"
        ).latest.rows
    )


def test_sampling_api_publishes_shares_and_weights(client: Client) -> None:
    cast(40)
    # A minute later: the battles of the last minute wait for the next recompute.
    leaderboards.recompute(now=timezone.now() + timedelta(minutes=2))
    data = client.get("/api/v1/sampling/no-audio/text-to-video/").json()
    assert data["computed_at"]
    rows = data["models"]
    expected = {"model", "weight", "share_day", "share_week", "share_all", "battles_all"}
    assert expected <= set(rows[0])
    assert sum(r["weight"] for r in rows) == pytest.approx(2, abs=1e-3)
    assert sum(r["share_all"] for r in rows) == pytest.approx(2, abs=1e-3)
    battles = Battle.objects.filter(arena="no-audio", mode="text-to-video").count()
    assert sum(r["battles_all"] for r in rows) == 2 * battles
    assert client.get("/api/v1/sampling/smell/text-to-video/").status_code == 404


def test_sampling_page_explains_and_lists_models(client: Client) -> None:
    cast(20)
    leaderboards.recompute()
    html = client.get("/sampling/").content.decode()
    assert "How battles are drawn" in html and "Lumen-2" in html


def test_sampling_api_before_any_battle_is_empty(client: Client) -> None:
    data = client.get("/api/v1/sampling/audio/image-to-video/").json()
    assert data == {"computed_at": None, "models": []}
