"""The OpenAPI schema documents every operation and the status codes tools rely on."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from .conftest import api_post

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


def test_every_operation_has_examples_and_declares_the_503_of_a_database_outage(
    client: Client,
) -> None:
    for path, operations in schema(client)["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            success = next(code for code in responses if code.startswith("2"))
            content = responses[success]["content"]["application/json"]
            assert content.get("examples"), f"{method} {path}: no example answer"
            assert "503" in responses, f"{method} {path}"
            for code, response in responses.items():
                if not code.startswith("2"):
                    body = response["content"]["application/json"]
                    assert body["schema"] == {"$ref": "#/components/schemas/Error"}, (path, code)
                    assert body["examples"], (path, code)
            if "{" in path:
                assert "404" in responses, f"{method} {path}"
            if method == "post":
                assert {"400", "403", "405", "415"} <= set(responses), path
                assert operation["requestBody"]["content"]["application/json"]["examples"]
                assert operation["security"] == [{"csrfCookie": [], "csrfHeader": []}]


def test_the_csrf_pair_is_documented_as_the_way_to_post(client: Client) -> None:
    schemes = schema(client)["components"]["securitySchemes"]
    assert schemes["csrfCookie"] == {"type": "apiKey", "in": "cookie", "name": "csrftoken"}
    assert schemes["csrfHeader"] == {"type": "apiKey", "in": "header", "name": "X-CSRFToken"}


def test_request_and_answer_shapes_each_have_a_component_of_their_own(client: Client) -> None:
    names = set(schema(client)["components"]["schemas"])
    # Nested Input/Output serializers once collided, and the vote body was documented as
    # the battle body.
    assert {"BattleCreateInput", "Battle", "VoteInput", "VoteResult", "ReportInput"} <= names
    assert not {"Input", "Output"} & names


def test_a_malformed_body_answers_a_detail_that_names_the_field(voter_client: Client) -> None:
    response = api_post(voter_client, "/api/v1/battles/", {"arena": "moon"})
    assert response.status_code == 400
    body = response.json()
    assert body["detail"].startswith("arena: ") and "arena" in body
