"""JSON API for voting: issue a battle, vote on it, report a clip."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from votes import identity, limits, services
from votes.models import CHOICES, ClipReport

from . import apischema, catalogue
from .apischema import error, example
from .battles import NoBattleAvailable, issue_battle
from .mediastore import input_image_path
from .models import Arena, Battle, Mode

BATTLE_EXAMPLE = {
    "token": "q3V9yH0cT1m2bL8sXk4fWzA7rN5pD6eJ",
    "arena": "no-audio",
    "mode": "text-to-video",
    "prompt": {"text": "A lighthouse at dusk, waves breaking", "input_image_url": None},
    "clips": {
        side: {
            "url": f"https://arena.example/b/q3V9yH0cT1m2bL8sXk4fWzA7rN5pD6eJ/{side}.mp4",
            "poster_url": f"https://arena.example/b/q3V9yH0cT1m2bL8sXk4fWzA7rN5pD6eJ/{side}.jpg",
        }
        for side in ("a", "b")
    },
    "min_watch_ms": 4000,
    "expires_at": "2026-11-25T18:30:00+00:00",
}
VOTE_EXAMPLE = {
    "battle": "3f9a1c0d5e7b2a46",
    "choice": "a",
    "models": {"a": "Lumen-2", "b": "Dreamreel"},
    "organisations": {"a": "Northlight Labs", "b": "Reverie"},
    "broken": None,
}


def enforce_limits(request: Request, scope: str, *, address: bool = True) -> None:
    """429 with Retry-After when this address (and this session, if it has a voter) is over.

    Reads the voter's id from the session itself, not the database: a flood from one
    session is turned away before it costs a query or a connection.
    """
    waits = []
    if address and limits.parse_rate(settings.ARENA_RATE_IP) is not None:
        ip_hash, _ = identity.address_hashes(identity.client_ip(request))
        waits.append(limits.hit(f"{scope}:ip", ip_hash, settings.ARENA_RATE_IP))
    uid = identity.session_voter_uid(request)
    if uid is not None:
        waits.append(limits.hit(f"{scope}:session", uid, settings.ARENA_RATE_SESSION))
    wait = max((w for w in waits if w), default=None)
    if wait is not None:
        raise Throttled(wait=wait, detail="Too many requests. Please take a short break.")


def battle_payload(request: HttpRequest, battle: Battle) -> dict:
    # The snapshot the battle was just drawn from (no second cache read).
    text, image = catalogue.latest().prompts.get(battle.prompt_id, ("", ""))
    if not text:
        text, image = battle.prompt.text, battle.prompt.input_image.name or ""
    # One URL reversed; the other three differ from it only in their last characters.
    first = request.build_absolute_uri(
        reverse("battle-media", kwargs={"token": battle.token, "side": "a", "ext": "mp4"})
    )
    stem = first.removesuffix("a.mp4")
    return {
        "token": battle.token,
        "arena": battle.arena,
        "mode": battle.mode,
        "prompt": {
            "text": text,
            "input_image_url": request.build_absolute_uri(input_image_path(image))
            if image
            else None,
        },
        "clips": {
            side: {"url": f"{stem}{side}.mp4", "poster_url": f"{stem}{side}.jpg"}
            for side in ("a", "b")
        },
        "min_watch_ms": battle.min_watch_ms,
        "expires_at": battle.expires_at.isoformat(),
    }


class BattleCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "BattleCreateInput"

        arena = serializers.ChoiceField(choices=Arena.values)
        mode = serializers.ChoiceField(choices=Mode.values, required=False, allow_null=True)

    class ClipSerializer(serializers.Serializer):
        url = serializers.URLField()
        poster_url = serializers.URLField()

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Battle"

        token = serializers.CharField()
        arena = serializers.ChoiceField(choices=Arena.values)
        mode = serializers.ChoiceField(choices=Mode.values)
        prompt = inline_serializer(
            "BattlePrompt",
            {
                "text": serializers.CharField(),
                "input_image_url": serializers.URLField(allow_null=True),
            },
        )
        clips = inline_serializer(
            "BattleClips",
            {
                "a": inline_serializer(
                    "BattleClipA",
                    {"url": serializers.URLField(), "poster_url": serializers.URLField()},
                ),
                "b": inline_serializer(
                    "BattleClipB",
                    {"url": serializers.URLField(), "poster_url": serializers.URLField()},
                ),
            },
        )
        min_watch_ms = serializers.IntegerField(min_value=0)
        expires_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="battles_create",
        summary="Issue a battle",
        description=(
            "Draws a prompt and two clips from two different models for this session. Nothing "
            "in the answer names a model; the clip URLs belong to this battle alone."
        ),
        request=InputSerializer,
        auth=[apischema.CSRF_REQUIRED],
        responses={
            201: OpenApiResponse(
                OutputSerializer,
                description="The battle: watch both clips, then vote with its token.",
                examples=[example("A battle", BATTLE_EXAMPLE, 201)],
            ),
            400: error(400, "Malformed body: the answer names the field."),
            403: error(403, "Missing or invalid CSRF token."),
            405: error(405, "Only POST is supported here (the Allow header says so)."),
            415: error(415, "The body must be JSON."),
            429: error(429, "Over a rate limit; see Retry-After."),
            503: error(
                503,
                "No battle can be drawn in this arena right now, or the database is down.",
                "no battles can be drawn in the audio arena yet",
            ),
        },
        examples=[
            OpenApiExample(
                "No-audio, text to video",
                value={"arena": "no-audio", "mode": "text-to-video"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The address first, so that a flood of cookie-less requests creates no voters.
        enforce_limits(request, "battle")
        new_session = identity.session_voter_uid(request) is None
        voter = identity.current_voter(request, create=True)
        if new_session:  # its first battle counts toward the new session's limit too
            limits.hit("battle:session", voter.uid, settings.ARENA_RATE_SESSION)
        try:
            battle = issue_battle(
                voter_id=voter.id,
                arena=data.validated_data["arena"],
                mode=data.validated_data.get("mode"),
            )
        except NoBattleAvailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(battle_payload(request, battle), status=status.HTTP_201_CREATED)


class VoteCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "VoteInput"

        choice = serializers.ChoiceField(choices=list(CHOICES))

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "VoteResult"

        battle = serializers.CharField()
        choice = serializers.ChoiceField(choices=list(CHOICES))
        models = inline_serializer(
            "RevealModels", {"a": serializers.CharField(), "b": serializers.CharField()}
        )
        organisations = inline_serializer(
            "RevealOrganisations", {"a": serializers.CharField(), "b": serializers.CharField()}
        )
        broken = serializers.ChoiceField(
            choices=["a", "b"],
            allow_null=True,
            help_text="On an attention check, the side that was a deliberately broken copy.",
        )

    @extend_schema(
        operation_id="battles_vote",
        summary="Vote on a battle",
        description=(
            "Records the choice (a is the clip shown first) and reveals both models. A token "
            "is single-use and belongs to the session it was issued to. The answer is the same "
            "whether or not the vote ends up counted."
        ),
        request=InputSerializer,
        auth=[apischema.CSRF_REQUIRED],
        responses={
            201: OpenApiResponse(
                OutputSerializer,
                description="Recorded; both models revealed.",
                examples=[example("The reveal", VOTE_EXAMPLE, 201)],
            ),
            400: error(400, "Malformed body, or a vote before the minimum watch time."),
            403: error(403, "Missing or invalid CSRF token, or a banned session."),
            404: error(404, "Unknown, tampered, expired or another session's battle token."),
            405: error(405, "Only POST is supported here (the Allow header says so)."),
            409: error(409, "This battle has already been voted on; nothing changed."),
            415: error(415, "The body must be JSON."),
            429: error(429, "Over a rate limit; see Retry-After."),
            503: error(503, "The database is briefly unavailable; nothing was recorded."),
        },
        examples=[OpenApiExample("Clip A is better", value={"choice": "a"}, request_only=True)],
    )
    def post(self, request: Request, token: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enforce_limits(request, "vote")
        voter = identity.current_voter(request, create=False)
        try:
            battle, _ = services.cast_vote(
                token=token, voter=voter, choice=data.validated_data["choice"], now=timezone.now()
            )
        except services.VoteRefused as exc:
            return Response({"detail": str(exc), "code": exc.code}, status=exc.status)
        return Response(
            {
                "battle": battle.uid,
                "choice": data.validated_data["choice"],
                "models": {"a": battle.model_a.name, "b": battle.model_b.name},
                "organisations": {
                    "a": battle.model_a.organisation,
                    "b": battle.model_b.organisation,
                },
                "broken": battle.broken_side or None,
            },
            status=status.HTTP_201_CREATED,
        )


class ClipReportApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ReportInput"

        side = serializers.ChoiceField(choices=["a", "b"])
        reason = serializers.ChoiceField(choices=ClipReport.Reason.values)
        note = serializers.CharField(required=False, allow_blank=True, max_length=500)

    @extend_schema(
        operation_id="battles_report",
        summary="Report a clip of a battle as broken or offensive",
        request=InputSerializer,
        examples=[
            OpenApiExample(
                "Clip B does not play",
                value={"side": "b", "reason": "broken", "note": "stays black"},
                request_only=True,
            )
        ],
        auth=[apischema.CSRF_REQUIRED],
        responses={
            201: OpenApiResponse(
                inline_serializer("ReportAck", {"detail": serializers.CharField()}),
                description="Recorded for the moderators.",
                examples=[
                    example("Thanks", {"detail": "Thank you: a moderator will look at it."}, 201)
                ],
            ),
            400: error(400, "Malformed body: the answer names the field."),
            403: error(403, "Missing or invalid CSRF token."),
            404: error(404, "Unknown, expired or another session's battle token."),
            405: error(405, "Only POST is supported here (the Allow header says so)."),
            415: error(415, "The body must be JSON."),
            503: error(503, "The database is briefly unavailable; nothing was recorded."),
        },
    )
    def post(self, request: Request, token: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        voter = identity.current_voter(request, create=False)
        try:
            services.report_clip(token=token, voter=voter, **data.validated_data)
        except services.BattleNotFound as exc:
            raise NotFound(str(exc)) from exc
        return Response(
            {"detail": "Thank you: a moderator will look at it."}, status=status.HTTP_201_CREATED
        )
