"""Leaderboard pages, downloads and the voter's own board."""

from __future__ import annotations

import csv
import io
import json

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from votes import identity
from votes.models import Vote

from . import charts, leaderboards, ratings, selectors
from .leaderboard_api import ROW_FIELDS, board_payload
from .models import Arena, Board, Category, Generator, Mode


@csrf_exempt  # GET and HEAD only
@require_safe
def leaderboard_index(request: HttpRequest) -> HttpResponse:
    boards = selectors.boards_with_votes()
    overall = [b for b in boards if b.category == Board.OVERALL]
    # The busiest board first: usually the silent text-to-video one.
    preferred = max(overall, key=lambda b: b.votes, default=None)
    if preferred is None:
        return render(request, "arena/leaderboard.html", {"empty": True, **_tabs(None, None)})
    return redirect("leaderboard", arena=preferred.arena, mode=preferred.mode)


def _tabs(arena: str | None, mode: str | None) -> dict:
    existing = {(b.arena, b.mode) for b in selectors.boards_with_votes()}
    return {
        "tabs": [
            {
                "arena": a,
                "mode": m,
                "label": f"{alabel} · {mlabel}",
                "active": (a, m) == (arena, mode),
                "exists": (a, m) in existing,
                "url": reverse("leaderboard", kwargs={"arena": a, "mode": m}),
            }
            for a, alabel in Arena.choices
            for m, mlabel in Mode.choices
        ]
    }


@csrf_exempt  # GET and HEAD only
@require_safe
def leaderboard(request: HttpRequest, arena: str, mode: str) -> HttpResponse:
    if arena not in Arena.values or mode not in Mode.values:
        raise Http404("no such leaderboard")
    category = request.GET.get("category") or Board.OVERALL
    view = selectors.board_view(arena, mode, category)
    categories = list(
        Board.objects.filter(arena=arena, mode=mode, votes__gt=0)
        .exclude(category=Board.OVERALL)
        .values_list("category", flat=True)
    )
    names = dict(Category.objects.values_list("slug", "name"))
    context = {
        "arena": arena,
        "mode": mode,
        "category": category,
        "arena_label": Arena(arena).label,
        "mode_label": Mode(mode).label,
        "categories": [(slug, names.get(slug, slug)) for slug in categories],
        "view": view,
        "empty": view is None or not view.snapshot,
        **_tabs(arena, mode),
    }
    if view is not None and view.snapshot:
        rows = view.rows
        ids = [row["model_id"] for row in rows]
        rate, games = selectors.pair_matrices(view.board, ids)
        model_names = [row["model"] for row in rows]
        context.update(
            {
                "rows": rows,
                "interval_svg": mark_safe(
                    charts.intervals_chart(rows, title="Ratings with 95 % intervals")
                ),  # noqa: S308 - escaped by charts
                "winrate_svg": mark_safe(
                    charts.matrix_chart(  # noqa: S308
                        model_names,
                        rate.tolist(),
                        title="Win rate of row over column",
                        kind="winrate",
                        counts=games.tolist(),
                    )
                ),
                "count_svg": mark_safe(
                    charts.matrix_chart(  # noqa: S308
                        model_names, games.tolist(), title="Battles between each pair", kind="count"
                    )
                ),
                "history_svg": mark_safe(
                    charts.history_chart(  # noqa: S308
                        selectors.rating_history(view.board), title="Rating over time"
                    )
                ),
                "min_listed": settings.ARENA_MIN_VOTES_LISTED,
                "min_stable": settings.ARENA_MIN_VOTES_STABLE,
            }
        )
    return render(request, "arena/leaderboard.html", context)


@csrf_exempt  # GET and HEAD only
@require_safe
def leaderboard_download(request: HttpRequest, arena: str, mode: str, fmt: str) -> HttpResponse:
    category = request.GET.get("category") or Board.OVERALL
    view = selectors.board_view(arena, mode, category)
    if view is None:
        raise Http404("no such leaderboard")
    filename = f"leaderboard-{arena}-{mode}-{category}"
    if fmt == "json":
        response = HttpResponse(
            json.dumps(board_payload(view), indent=2), content_type="application/json"
        )
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=ROW_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(view.rows)
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


@csrf_exempt  # GET and HEAD only
@require_safe
def my_leaderboard(request: HttpRequest) -> HttpResponse:
    """The voter's own board, fitted on their counted votes alone."""
    voter = identity.current_voter(request, create=False)
    needed = settings.ARENA_PERSONAL_BOARD_MIN_VOTES
    votes = (
        Vote.objects.filter(voter=voter, attention_check=False).values_list(
            "model_a_id", "model_b_id", "winner"
        )
        if voter
        else []
    )
    counts: dict[str, list[int]] = {}
    total = 0
    for a, b, winner in votes:
        cell = counts.setdefault(f"{a},{b}", [0, 0, 0, 0])
        cell[["model_a", "model_b", "tie", "both_bad"].index(winner)] += 1
        total += 1
    rows: list[dict] = []
    if total >= needed:
        ids, wins, ties = leaderboards.matrices(counts)
        fit = ratings.fit_board(wins, ties, rounds=200, seed=0)
        generators = Generator.objects.in_bulk(ids)
        rows = sorted(
            (
                {
                    "model": generators[g].name,
                    "organisation": generators[g].organisation,
                    "rating": round(float(fit.rating[i]), 1),
                    "ci_low": round(float(fit.ci_low[i]), 1),
                    "ci_high": round(float(fit.ci_high[i]), 1),
                    "votes": int(fit.votes[i]),
                    "win_rate": float(fit.win_rate[i]),
                    "rank": int(fit.rank[i]),
                    "provisional": True,
                    "retired": False,
                }
                for i, g in enumerate(ids)
                if fit.fitted[i]
            ),
            key=lambda r: -r["rating"],
        )
    return render(
        request,
        "arena/my_leaderboard.html",
        {
            "total": total,
            "needed": needed,
            "rows": rows,
            "interval_svg": mark_safe(charts.intervals_chart(rows, title="Your ratings"))
            if rows
            else "",  # noqa: S308
            **_tabs(None, None),
        },
    )
