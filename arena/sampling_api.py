"""How battles are drawn, published: the API and the /sampling/ page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import matchmaking
from .apischema import example, read_errors
from .models import Arena, Mode

ROW = inline_serializer(
    "SamplingRow",
    {
        "model": serializers.CharField(),
        "weight": serializers.FloatField(help_text="probability that the next battle includes it"),
        "share_day": serializers.FloatField(help_text="fraction of the last day's battles with it"),
        "share_week": serializers.FloatField(),
        "share_all": serializers.FloatField(),
        "battles_all": serializers.IntegerField(),
    },
)

SAMPLING_EXAMPLE = {
    "computed_at": "2026-11-25T17:00:00+00:00",
    "models": [
        {
            "model": "Lumen-2",
            "weight": 0.52,
            "share_day": 0.49,
            "share_week": 0.5,
            "share_all": 0.51,
            "battles_all": 1203,
        }
    ],
}


class SamplingApi(APIView):
    @extend_schema(
        operation_id="sampling_detail",
        summary="How battles are being drawn in one arena and mode",
        description=(
            "Each model's share of battles over the last day, week and all time (fractions of "
            "battles that included it) and its weight now in force (the probability that the "
            "next battle includes it). Shares and weights each sum to 2: a battle has two models."
        ),
        responses={
            200: OpenApiResponse(
                inline_serializer(
                    "Sampling",
                    {
                        "computed_at": serializers.DateTimeField(allow_null=True),
                        "models": serializers.ListField(child=ROW),
                    },
                ),
                description="The weights in force and each model's recent shares.",
                examples=[example("Sampling", SAMPLING_EXAMPLE)],
            ),
            **read_errors(
                not_found="Unknown arena or mode.",
                example="arenas: audio, no-audio; modes: text-to-video, image-to-video",
            ),
        },
    )
    def get(self, request: Request, arena: str, mode: str) -> Response:
        if arena not in Arena.values or mode not in Mode.values:
            raise NotFound(f"arenas: {', '.join(Arena.values)}; modes: {', '.join(Mode.values)}")
        state = matchmaking.published(arena, mode)
        return Response(
            {
                "computed_at": state.computed_at.isoformat() if state else None,
                "models": state.shares if state else [],
            }
        )


@csrf_exempt  # GET and HEAD only
@require_safe
def sampling_page(request: HttpRequest) -> HttpResponse:
    tables = []
    for arena, arena_label in Arena.choices:
        for mode, mode_label in Mode.choices:
            state = matchmaking.published(arena, mode)
            tables.append(
                {
                    "arena": arena,
                    "mode": mode,
                    "label": f"{arena_label} · {mode_label}",
                    "state": state,
                }
            )
    return render(request, "arena/sampling.html", {"tables": tables})
