"""Folding counted votes into per-board pair counts, incrementally and exactly once.

A vote is folded once: when the watermark passes it (or, if its transaction committed
late, when it fills a gap below the watermark). A change of a folded vote's counted status
(quarantine, invalidation, restore) moves its count at once, under the same lock as the
fold, so the counts always equal an aggregation of the counted votes.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from votes.models import Vote

from .models import Board, Category, FoldState

OUTCOME = {"model_a": 0, "model_b": 1, "tie": 2, "both_bad": 3}
# How far below the newest id a vote may still be in flight when the watermark moves.
GAP_WINDOW = 100_000
GAP_TTL_SECONDS = 3600

Key = tuple[str, str, str]
Group = tuple[str, str, int, int, int, str]  # arena, mode, category mask, a, b, winner


def lock_state() -> FoldState:
    """The fold state, locked until the end of the caller's transaction."""
    FoldState.objects.get_or_create(pk=1)
    return FoldState.objects.select_for_update().get(pk=1)


def category_slugs() -> dict[int, str]:
    return dict(Category.objects.values_list("bit", "slug"))


def board_keys(arena: str, mode: str, mask: int, slugs: dict[int, str]) -> list[Key]:
    keys = [(arena, mode, Board.OVERALL)]
    bit = 0
    while mask:
        if mask & 1 and bit in slugs:
            keys.append((arena, mode, slugs[bit]))
        mask >>= 1
        bit += 1
    return keys


def aggregate(queryset: QuerySet[Vote]) -> dict[Group, int]:
    """Votes grouped by the fields that place them on boards, counted by the database."""
    rows = (
        queryset.values_list(
            "arena", "mode", "prompt__category_mask", "model_a_id", "model_b_id", "winner"
        )
        .order_by()
        .annotate(n=Count("id"))
    )
    return {tuple(row[:6]): row[6] for row in rows}


def apply_groups(groups: dict[Group, int], *, sign: int = 1, replace: bool = False) -> int:
    """Add (or subtract) grouped counts to the boards; returns how many boards changed.

    A count that would go below zero means the boards drifted from the votes (a prompt's
    categories changed after its votes were folded): it stops at zero and a full rebuild
    is requested.
    """
    slugs = category_slugs()
    deltas: dict[Key, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * 4))
    for (arena, mode, mask, a, b, winner), n in groups.items():
        for key in board_keys(arena, mode, mask or 0, slugs):
            deltas[key][f"{a},{b}"][OUTCOME[winner]] += sign * n
    boards = {(b.arena, b.mode, b.category): b for b in Board.objects.select_for_update()}
    changed = 0
    for key in set(deltas) | (set(boards) if replace else set()):
        board = boards.get(key) or Board(arena=key[0], mode=key[1], category=key[2])
        counts = {} if replace else dict(board.counts)
        for pair, delta in deltas.get(key, {}).items():
            cell = [x + d for x, d in zip(counts.get(pair, [0, 0, 0, 0]), delta, strict=True)]
            if any(x < 0 for x in cell):
                cell = [max(x, 0) for x in cell]
                FoldState.objects.filter(pk=1).update(needs_rebuild=True)
            if any(cell):
                counts[pair] = cell
            else:
                counts.pop(pair, None)
        if counts == board.counts and board.pk:
            continue
        board.counts = counts
        board.votes = sum(sum(cell) for cell in counts.values())
        board.version += 1
        board.save()
        changed += 1
    return changed


def _track_gaps(state: FoldState, low: int, high: int, now: float) -> None:
    """Remember ids in (low, high] that are not visible yet, near the top of the range."""
    start = max(low, high - GAP_WINDOW)
    expected = high - start
    if expected <= 0:
        return
    present = Vote.objects.filter(id__gt=start, id__lte=high).count()
    if present == expected:
        return
    seen = set(Vote.objects.filter(id__gt=start, id__lte=high).values_list("id", flat=True))
    for missing in range(start + 1, high + 1):
        if missing not in seen:
            state.gaps[str(missing)] = now


@transaction.atomic
def fold_new_votes() -> int:
    """Fold votes committed since the last fold into the boards. Returns boards changed."""
    state = lock_state()
    now = time.time()
    low = state.vote_watermark
    high = Vote.objects.aggregate(top=Max("id"))["top"] or 0
    gap_ids = [int(i) for i, seen in state.gaps.items() if now - seen < GAP_TTL_SECONDS]
    filled = list(Vote.objects.filter(id__in=gap_ids).values_list("id", flat=True))
    state.gaps = {
        i: seen
        for i, seen in state.gaps.items()
        if now - seen < GAP_TTL_SECONDS and int(i) not in set(filled)
    }
    changed = 0
    if high > low or filled:
        queryset = Vote.objects.counted().filter(Q(id__gt=low, id__lte=high) | Q(id__in=filled))
        changed = apply_groups(aggregate(queryset))
        if high > low:
            _track_gaps(state, low, high, now)
            state.vote_watermark = high
    state.folded_at = timezone.now()
    state.save()
    return changed


@transaction.atomic
def rebuild_counts() -> int:
    """Recount every board from all counted votes (the full rebuild)."""
    state = lock_state()
    high = Vote.objects.aggregate(top=Max("id"))["top"] or 0
    changed = apply_groups(aggregate(Vote.objects.counted().filter(id__lte=high)), replace=True)
    state.gaps = {}
    state.needs_rebuild = False
    _track_gaps(state, 0, high, time.time())
    state.vote_watermark = high
    state.folded_at = timezone.now()
    state.save()
    return changed


def set_vote_flags(vote_ids: Iterable[int], **flags: bool) -> int:
    """Set quarantined / invalidated / attention_check on votes and move the board counts.

    Call inside transaction.atomic. Takes the fold lock first, so a concurrent fold either
    saw the votes before this change (and we correct the counts) or sees them after.
    Returns how many already-folded votes moved in or out of the counts.
    """
    unknown = set(flags) - {"quarantined", "invalidated", "attention_check"}
    if unknown:
        raise ValueError(f"not a vote flag: {', '.join(sorted(unknown))}")
    state = lock_state()
    ids = list(vote_ids)
    before = {
        v.id: v
        for v in Vote.objects.select_for_update().filter(id__in=ids).select_related("prompt")
    }
    Vote.objects.filter(id__in=ids).update(**flags)
    gone: dict[Group, int] = defaultdict(int)
    back: dict[Group, int] = defaultdict(int)
    for vote in before.values():
        was = vote.counted
        for name, value in flags.items():
            setattr(vote, name, value)
        if was == vote.counted or vote.id > state.vote_watermark or str(vote.id) in state.gaps:
            continue  # not folded yet: the fold will read its new status
        group = (
            vote.arena,
            vote.mode,
            vote.prompt.category_mask,
            vote.model_a_id,
            vote.model_b_id,
            vote.winner,
        )
        (back if vote.counted else gone)[group] += 1
    if gone:
        apply_groups(dict(gone), sign=-1)
    if back:
        apply_groups(dict(back))
    return sum(gone.values()) + sum(back.values())
