"""Server-rendered pages and the per-battle media endpoint."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.http import require_safe

from votes import identity
from votes.models import ClipReport
from votes.services import BattleNotFound, battle_for_voter

from . import health
from .models import Arena, Mode
from .ranges import serve_file


@csrf_exempt  # GET and HEAD only: any other method gets 405, not a CSRF 403
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "arena/home.html", {"arenas": Arena.choices, "modes": Mode.choices})


@csrf_exempt  # GET and HEAD only: any other method gets 405, not a CSRF 403
@require_safe
@ensure_csrf_cookie
@never_cache
def vote_page(request: HttpRequest, arena: str) -> HttpResponse:
    if arena not in Arena.values:
        raise Http404("no such arena")
    mode = request.GET.get("mode") or ""
    if mode and mode not in Mode.values:
        mode = ""
    return render(
        request,
        "arena/vote.html",
        {
            "arena": arena,
            "arena_label": Arena(arena).label,
            "arenas": Arena.choices,
            "mode": mode,
            "modes": Mode.choices,
            "report_reasons": ClipReport.Reason.choices,
        },
    )


@csrf_exempt  # GET and HEAD only: any other method gets 405, not a CSRF 403
@require_safe
def battle_media(request: HttpRequest, token: str, side: str, ext: str) -> HttpResponse:
    """A battle's clip or poster, under a URL that belongs to that battle alone."""
    voter = identity.current_voter(request, create=False)
    try:
        battle = battle_for_voter(token=token, voter=voter, now=timezone.now())
    except BattleNotFound as exc:
        raise Http404(str(exc)) from exc
    clip = battle.clip_a if side == "a" else battle.clip_b
    if ext == "jpg":
        return serve_file(request, default_storage, clip.poster.name, "image/jpeg")
    rendition = clip.rendition_for(battle.arena, broken=battle.broken_side == side)
    return serve_file(request, default_storage, rendition.name, "video/mp4")


@csrf_exempt  # GET and HEAD only: any other method gets 405, not a CSRF 403
@require_safe
def input_image(request: HttpRequest, name: str) -> HttpResponse:
    """Prompts' input images. Clip renditions are never served by their stored names."""
    path = f"inputs/{name}"
    if "/" in name or not default_storage.exists(path):
        raise Http404("no such image")
    return serve_file(
        request, default_storage, path, "image/png", cache_control="public, max-age=86400"
    )


@require_safe
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers and crawlers ask for /favicon.ico whatever the pages link to."""
    return HttpResponseRedirect(static("arena/favicon.ico"))


@csrf_exempt  # GET and HEAD only: any other method gets 405, not a CSRF 403
@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every check is ok (or the worker is unknown), else 503; see arena.health."""
    healthy, body = health.report()
    return JsonResponse(body, status=200 if healthy else 503)
