"""The moderation pages: the queue, a voter's evidence, a clip, the audit log, and actions.

Moderators are the users in the `moderators` group, and no one else: not anonymous
visitors, not other staff, not even a superuser outside the group (the issue says
"everyone else gets 403"). Every view here, pages and actions alike, is wrapped in
`moderator_required`. Actions are POSTs (CSRF-checked by the middleware) that call
votes.moderation, which writes each change and its audit entry in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from arena.models import Clip
from arena.ranges import serve_file

from . import audit
from . import moderation_queries as queries
from .models import AuditEntry, ClipReport, Voter
from .moderation import (
    CLIP_ACTIONS,
    VOTER_ACTIONS,
    ModerationError,
    act_on_clips,
    act_on_voters,
    is_moderator,
)
from .stats import arena_stats

View = Callable[..., HttpResponse]
VOTES_PER_PAGE = 100
AUDIT_PER_PAGE = 50
QUEUE_PER_PAGE = 100


def forbidden(request: HttpRequest) -> HttpResponse:
    login = reverse("moderation-login") + "?" + urlencode({"next": request.get_full_path()})
    return render(request, "votes/moderation/forbidden.html", {"login_url": login}, status=403)


def moderator_required(view: View) -> View:
    """403 (a page that says how to sign in) for anyone outside the moderators group."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_moderator(request.user):
            return forbidden(request)
        response = view(request, *args, **kwargs)
        # Evidence pages are personal to the moderator and change with every action.
        response.headers.setdefault("Cache-Control", "private, no-store")
        return response

    return wrapped


@moderator_required
@require_safe
def queue(request: HttpRequest) -> HttpResponse:
    view = request.GET.get("show", "review")
    view = view if view in queries.QUEUE_VIEWS else "review"
    voters = Paginator(queries.queued_voters(view), QUEUE_PER_PAGE).get_page(
        request.GET.get("page")
    )
    reasons = queries.named_reasons(list(voters.object_list))
    for voter in voters.object_list:
        voter.reasons = reasons[voter.id]
    return render(
        request,
        "votes/moderation/queue.html",
        {
            "section": "queue",
            "view": view,
            "views": [(key, label) for key, (label, _) in queries.QUEUE_VIEWS.items()],
            "voters": voters,
            "clips": queries.reported_clips(),
            "stats": arena_stats(),
            "audit_head": queries.audit_head(),
            "voter_actions": [(k, label) for k, (label, _) in VOTER_ACTIONS.items()],
            "clip_actions": [(k, label) for k, (label, _) in CLIP_ACTIONS.items()],
        },
    )


@moderator_required
@require_safe
def voter_detail(request: HttpRequest, uid: str) -> HttpResponse:
    voter = get_object_or_404(queries.with_vote_counts(Voter.objects.all()), uid=uid)
    page = Paginator(queries.voter_votes(voter), VOTES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "votes/moderation/voter.html",
        {
            "voter": voter,
            "page": page,
            "rows": queries.vote_rows(list(page.object_list)),
            "tests": queries.named_tests(voter.evidence),
            "reasons": queries.named_reasons([voter])[voter.id],
            "preferences": queries.preferences(voter),
            "shared": queries.shared_sessions(voter),
            "history": queries.audit_history("voter", voter.uid),
            "actions": [(k, label) for k, (label, _) in VOTER_ACTIONS.items()],
        },
    )


@moderator_required
@require_safe
def clip_detail(request: HttpRequest, uid: str) -> HttpResponse:
    clip = get_object_or_404(Clip.objects.select_related("generator", "prompt"), uid=uid)
    reports = queries.clip_reports(clip)
    return render(
        request,
        "votes/moderation/clip.html",
        {
            "clip": clip,
            "categories": list(clip.prompt.categories.values_list("slug", flat=True)),
            "reports": reports,
            "open_reports": sum(not r.resolved for r in reports),
            "reason_labels": dict(ClipReport.Reason.choices),
            "history": queries.audit_history("clip", clip.uid),
            "actions": [(k, label) for k, (label, _) in CLIP_ACTIONS.items()],
        },
    )


CLIP_FILES = {
    "silent": ("rendition_silent", "video/mp4"),
    "sound": ("rendition_sound", "video/mp4"),
    "poster": ("poster", "image/jpeg"),
}


@moderator_required
@require_safe
def clip_media(request: HttpRequest, uid: str, kind: str) -> HttpResponse:
    """A clip's rendition or poster for the moderator's player: never reachable by voters."""
    clip = get_object_or_404(Clip, uid=uid)
    field, content_type = CLIP_FILES[kind]
    stored = getattr(clip, field)
    if not stored or not default_storage.exists(stored.name):
        raise Http404("this clip has no such file")
    return serve_file(
        request, default_storage, stored.name, content_type, cache_control="private, no-store"
    )


VERDICT_KEY = "moderation:audit-verdict"


@moderator_required
@require_safe
def audit_log(request: HttpRequest) -> HttpResponse:
    """Recent entries, newest first. The full chain check runs when asked (?verify=1).

    Walking the chain costs about 0.15 ms an entry (3 s for 20 000), too much for every
    page view; the last verdict is kept in the shared cache with the time it was reached.
    """
    entries = AuditEntry.objects.order_by("-id")
    target = request.GET.get("target", "").strip()
    if target:
        entries = entries.filter(target=target)
    page = Paginator(entries, AUDIT_PER_PAGE).get_page(request.GET.get("page"))
    if request.GET.get("verify"):
        verdict = {"verdict": audit.verify(), "at": timezone.now()}
        cache.set(VERDICT_KEY, verdict, timeout=7 * 24 * 3600)
    else:
        verdict = cache.get(VERDICT_KEY)
    return render(
        request,
        "votes/moderation/audit.html",
        {
            "section": "audit",
            "page": page,
            "head": queries.audit_head(),
            "checked": verdict,
            "target": target,
        },
    )


def _back(request: HttpRequest) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("moderation:queue")
    return HttpResponseRedirect(target)


def _summary(action: str, noun: str, entries: list[AuditEntry]) -> str:
    n = len(entries)
    what = f"{action}: {n} {noun}{'s' if n != 1 else ''}"
    if noun == "voter":
        before = sum(e.before.get("counted", 0) for e in entries)
        after = sum(e.after.get("counted", 0) for e in entries)
        what += f"; counted votes {before} → {after}"
    else:
        hidden = sum(bool(e.after.get("hidden")) for e in entries)
        what += f"; {hidden} hidden now"
    ids = f"#{entries[0].pk}" + (f"–#{entries[-1].pk}" if n > 1 else "")
    return f"Done. {what}. Audit log {ids}."


TARGETS: dict[str, tuple[type, Callable[..., list[AuditEntry]], str]] = {
    "voter": (Voter, act_on_voters, "voters"),
    "clip": (Clip, act_on_clips, "clips"),
}


@moderator_required
@require_POST
@never_cache
def act(request: HttpRequest) -> HttpResponseRedirect:
    """Apply one action to the chosen voters or clips, all or nothing, with a reason."""
    target_type = request.POST.get("target_type", "")
    uids = list(dict.fromkeys(u for u in request.POST.getlist("ids") if u))
    action = request.POST.get("action", "")
    reason = request.POST.get("reason", "")
    try:
        if target_type not in TARGETS:
            raise ModerationError(f"unknown target type {target_type!r}")
        model, service, keyword = TARGETS[target_type]
        found = list(model.objects.filter(uid__in=uids).order_by("id"))
        missing = set(uids) - {obj.uid for obj in found}
        if missing:
            raise ModerationError(f"no {target_type} {', '.join(sorted(missing))}")
        entries = service(
            **{keyword: found}, action=action, actor=request.user.get_username(), reason=reason
        )
    except ModerationError as exc:
        messages.error(request, f"Nothing was changed: {exc}.")
    else:
        messages.success(request, _summary(action, target_type, entries))
    return _back(request)
