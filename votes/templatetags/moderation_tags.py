"""`{% load moderation_tags %}`: what the templates ask about moderators and evidence."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from votes.moderation import is_moderator as _is_moderator

register = template.Library()


@register.filter
def is_moderator(user: Any) -> bool:
    # Anonymous visitors cost no query: is_moderator checks is_authenticated first. A page
    # rendered without a request has no user at all (the template variable is "").
    return hasattr(user, "is_authenticated") and _is_moderator(user)


@register.filter
def seconds(ms: int | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.1f} s"


@register.filter
def pvalue(p: float | None) -> str:
    if p is None:
        return "—"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


@register.filter
def compact_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)


@register.filter
def get(mapping: dict, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


CHOICE_LABELS = {"model_a": "A", "model_b": "B", "tie": "tie", "both_bad": "both bad"}


@register.filter
def choice_label(winner: str) -> str:
    return CHOICE_LABELS.get(winner, winner)


@register.filter
def changes(entry: Any) -> list[tuple[str, Any, Any]]:
    """The keys an audit entry's action changed: (key, before, after)."""
    before, after = entry.before or {}, entry.after or {}
    keys = sorted(set(before) | set(after))
    return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


@register.filter
def target_url(entry: Any) -> str:
    """The page of an audit entry's target, or "" when it has none.

    The log is immutable, so a row whose target no longer fits a URL (another target type,
    an older uid shape) must still render, just without a link.
    """
    name = {"voter": "moderation:voter", "clip": "moderation:clip"}.get(entry.target_type)
    if not name:
        return ""
    try:
        return reverse(name, args=[entry.target])
    except NoReverseMatch:
        return ""
