"""The OpenAPI schema documents every operation and the status codes tools rely on."""

from __future__ import annotations

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def schema(client: Client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_schema_declares_the_voting_status_codes(client: Client) -> None:
    paths = schema(client)["paths"]
    battles = paths["/api/v1/battles/"]["post"]["responses"]
    assert {"201", "400", "403", "429"} <= set(battles)
    vote = paths["/api/v1/battles/{token}/vote/"]["post"]["responses"]
    assert {"201", "400", "403", "404", "409", "429"} <= set(vote)


def test_schema_documents_the_leaderboard_endpoints(client: Client) -> None:
    paths = schema(client)["paths"]
    assert "/api/v1/leaderboards/" in paths
    detail = paths["/api/v1/leaderboards/{arena}/{mode}/"]["get"]
    assert any(p["name"] == "category" for p in detail["parameters"])


def test_browsable_docs_load_without_network(client: Client) -> None:
    page = client.get("/api/docs/").content.decode()
    assert "swagger" in page.lower()
    assert "cdn." not in page and "unpkg" not in page
