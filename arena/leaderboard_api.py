"""JSON API for leaderboards."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors
from .apischema import example, read_errors
from .models import Arena, Board, Mode

# The columns of a leaderboard row, in order: API, CSV and JSON downloads.
ROW_FIELDS = (
    "rank",
    "model",
    "organisation",
    "rating",
    "ci_low",
    "ci_high",
    "votes",
    "win_rate",
    "provisional",
    "retired",
)


def board_url(request: Request, board: Board) -> str:
    path = reverse("api-leaderboard", kwargs={"arena": board.arena, "mode": board.mode})
    return request.build_absolute_uri(f"{path}?category={board.category}")


def board_payload(view: selectors.BoardView) -> dict:
    snapshot = view.snapshot
    return {
        "arena": view.board.arena,
        "mode": view.board.mode,
        "category": view.board.category,
        "computed_at": snapshot.computed_at.isoformat() if snapshot else None,
        "votes": snapshot.votes if snapshot else 0,
        "rows": [{key: row[key] for key in ROW_FIELDS} for row in view.rows],
        "disconnected": snapshot.disconnected if snapshot else [],
        "unlisted": snapshot.unlisted if snapshot else [],
    }


BOARD_LINK_EXAMPLE = {
    "arena": "no-audio",
    "mode": "text-to-video",
    "category": "overall",
    "url": "https://arena.example/api/v1/leaderboards/no-audio/text-to-video/?category=overall",
}
BOARD_EXAMPLE = {
    "arena": "no-audio",
    "mode": "text-to-video",
    "category": "overall",
    "computed_at": "2026-11-25T17:00:00+00:00",
    "votes": 1840,
    "rows": [
        {
            "rank": 1,
            "model": "Lumen-2",
            "organisation": "Northlight Labs",
            "rating": 1087.4,
            "ci_low": 1061.2,
            "ci_high": 1110.9,
            "votes": 911,
            "win_rate": 0.6213,
            "provisional": False,
            "retired": False,
        }
    ],
    "disconnected": [],
    "unlisted": ["Ember-0"],
}


class RowSerializer(serializers.Serializer):
    rank = serializers.IntegerField(min_value=1)
    model = serializers.CharField()
    organisation = serializers.CharField(allow_blank=True)
    rating = serializers.FloatField()
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()
    votes = serializers.IntegerField(min_value=0)
    win_rate = serializers.FloatField()
    provisional = serializers.BooleanField()
    retired = serializers.BooleanField()


class BoardSerializer(serializers.Serializer):
    arena = serializers.ChoiceField(choices=Arena.values)
    mode = serializers.ChoiceField(choices=Mode.values)
    category = serializers.CharField()
    computed_at = serializers.DateTimeField(allow_null=True)
    votes = serializers.IntegerField(min_value=0)
    rows = RowSerializer(many=True)
    disconnected = serializers.ListField(
        child=serializers.CharField(), help_text="Models not connected to the others."
    )
    unlisted = serializers.ListField(
        child=serializers.CharField(), help_text="Models with too few votes to be listed yet."
    )


class BoardLinkSerializer(serializers.Serializer):
    arena = serializers.ChoiceField(choices=Arena.values)
    mode = serializers.ChoiceField(choices=Mode.values)
    category = serializers.CharField()
    url = serializers.URLField()


class LeaderboardListApi(APIView):
    @extend_schema(
        operation_id="leaderboards_list",
        summary="The boards that exist",
        responses={
            200: OpenApiResponse(
                BoardLinkSerializer(many=True),
                description="Every board with counted votes.",
                examples=[example("Boards", BOARD_LINK_EXAMPLE)],  # listed by spectacular,
            ),
            **read_errors(),
        },
    )
    def get(self, request: Request) -> Response:
        return Response(
            [
                {
                    "arena": b.arena,
                    "mode": b.mode,
                    "category": b.category,
                    "url": board_url(request, b),
                }
                for b in selectors.boards_with_votes()
            ]
        )


class LeaderboardDetailApi(APIView):
    @extend_schema(
        operation_id="leaderboards_detail",
        summary="One leaderboard: Bradley-Terry ratings with 95 % bootstrap intervals",
        parameters=[
            OpenApiParameter("category", str, description="category slug; default overall")
        ],
        responses={
            200: OpenApiResponse(
                BoardSerializer,
                description="The board's latest snapshot.",
                examples=[example("A board", BOARD_EXAMPLE)],
            ),
            **read_errors(
                not_found="Unknown arena or mode, or no such board (no counted votes yet).",
                example="no such board yet: no counted votes for it",
            ),
        },
    )
    def get(self, request: Request, arena: str, mode: str) -> Response:
        if arena not in Arena.values or mode not in Mode.values:
            raise NotFound(f"arenas: {', '.join(Arena.values)}; modes: {', '.join(Mode.values)}")
        category = request.query_params.get("category") or Board.OVERALL
        view = selectors.board_view(arena, mode, category)
        if view is None:
            raise NotFound("no such board yet: no counted votes for it")
        return Response(board_payload(view))
