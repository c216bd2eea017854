"""The vote loop's two endpoints, answered without DRF's per-request machinery.

POST /api/v1/battles/ and POST /api/v1/battles/<token>/vote/ are nearly all of the site's
traffic. A request in the ordinary shape (POST, a JSON body that validates, a valid CSRF
token, a session with a voter for a battle) is answered here: the same checks, services and
answers as the DRF views in arena.api, for a fraction of the CPU. Anything else (another
method, a malformed body, a missing CSRF token, a new session, an Accept header or a query
string DRF would act on) is handed to those DRF views before anything is done, so every
edge keeps DRF's exact behaviour; they also document both operations in the OpenAPI schema.
Under arena.wsgi, arena.fastlane calls answer_battle and answer_vote before Django's
middleware chain runs; they return None, having done nothing, for a request DRF must answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.authentication import CSRFCheck
from rest_framework.exceptions import Throttled

from votes import identity, services
from votes.models import CHOICES

from . import api
from .apierrors import UNAVAILABLE, is_database_outage, log
from .battles import NoBattleAvailable, UnknownVoter, issue_battle
from .models import Arena, Mode
from .parsers import MAX_BODY_BYTES

# What DRF adds to each of these views' answers.
HEADERS = {"Allow": "POST, OPTIONS", "Vary": "Accept"}
ACCEPTABLE = {"*/*", "application/*", "application/json"}


def _reject_constant(name: str) -> None:
    raise ValueError(name)  # NaN and Infinity: DRF's strict parser refuses them


def ordinary_body(request: HttpRequest) -> dict | None:
    """The JSON object of a request DRF would parse, authenticate and render alike; else None."""
    meta = request.META
    length = meta.get("CONTENT_LENGTH", "")
    if (
        request.method != "POST"
        or request.content_type != "application/json"
        or request.content_params.get("charset", "utf-8").lower() not in {"utf-8", "utf8"}
        or meta.get("QUERY_STRING")
        or not length.isdigit()
        or int(length) > MAX_BODY_BYTES
    ):
        return None
    accept = meta.get("HTTP_ACCEPT")
    if accept and not any(part.split(";")[0].strip() in ACCEPTABLE for part in accept.split(",")):
        return None
    try:
        body = json.loads(request.body.decode(), parse_constant=_reject_constant)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    # The session authentication's CSRF check (arena.apiauth), for anonymous voters too.
    check = CSRFCheck(lambda request: None)
    check.process_request(request)
    if check.process_view(request, None, (), {}) is not None:
        return None
    return body


def _json(data: dict, status: int, **headers: str) -> HttpResponse:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return HttpResponse(
        body, content_type="application/json", status=status, headers={**HEADERS, **headers}
    )


def _refusal(exc: Exception) -> HttpResponse:
    """The answers of arena.apierrors.exception_handler for what can go wrong here."""
    if isinstance(exc, Throttled):
        return _json({"detail": str(exc.detail)}, 429, **{"Retry-After": str(int(exc.wait))})
    if isinstance(exc, services.VoteRefused):
        return _json({"detail": str(exc), "code": exc.code}, exc.status)
    if isinstance(exc, NoBattleAvailable):
        return _json({"detail": str(exc)}, 503)
    log.warning("database unavailable: %s", exc)
    return _json({"detail": UNAVAILABLE}, 503, **{"Retry-After": "5"})


def _answering(drf_view: type, handler: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    fallback = drf_view.as_view()

    @csrf_exempt  # checked in ordinary_body, exactly as the DRF view's authentication does
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        body = ordinary_body(request)
        if body is None:
            return fallback(request, **kwargs)
        answer = handler(request, body, **kwargs)
        return fallback(request, **kwargs) if answer is None else answer

    # For the schema generator (drf-spectacular): this path is documented by the DRF view.
    view.cls = drf_view
    view.initkwargs = {}
    return view


def answer_battle(request: HttpRequest, body: dict) -> HttpResponse | None:
    arena, mode = body.get("arena"), body.get("mode")
    uid = identity.session_voter_uid(request)
    if (
        not isinstance(arena, str)
        or arena not in Arena.values
        or not (mode is None or (isinstance(mode, str) and mode in Mode.values))
        or uid is None  # a new session: its voter is created by the DRF view
    ):
        return None
    try:
        api.enforce_limits(request, "battle")
        try:
            battle = issue_battle(voter_uid=uid, arena=arena, mode=mode)
        except UnknownVoter:  # the session outlived its voter: a new one, as the DRF view does
            voter = identity.current_voter(request, create=True)
            battle = issue_battle(voter_id=voter.id, arena=arena, mode=mode)
    except (Throttled, NoBattleAvailable) as exc:
        return _refusal(exc)
    except DatabaseError as exc:
        if not is_database_outage(exc):
            raise
        return _refusal(exc)
    return _json(api.battle_payload(request, battle), 201)


def answer_vote(request: HttpRequest, body: dict, token: str) -> HttpResponse | None:
    choice = body.get("choice")
    if not isinstance(choice, str) or choice not in CHOICES:
        return None
    try:
        api.enforce_limits(request, "vote")
        reveal = services.record_vote(
            token=token, voter_uid=identity.session_voter_uid(request), choice=choice
        )
    except (Throttled, services.VoteRefused) as exc:
        return _refusal(exc)
    except DatabaseError as exc:
        if not is_database_outage(exc):
            raise
        return _refusal(exc)
    return _json(
        {
            "battle": reveal.battle_uid,
            "choice": choice,
            "models": dict(zip("ab", reveal.models, strict=True)),
            "organisations": dict(zip("ab", reveal.organisations, strict=True)),
            "broken": reveal.broken_side or None,
        },
        201,
    )


battle_create = _answering(api.BattleCreateApi, answer_battle)
vote_create = _answering(api.VoteCreateApi, answer_vote)
