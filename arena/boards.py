"""Folding counted votes into per-board pair counts, incrementally and exactly once.

Votes are read through arena.Tally, their narrow mirror kept by database triggers. A vote
is folded once: when the watermark passes it (or, if its transaction committed late, when
it fills a gap below the watermark). A change of a folded vote's counted status moves its
count at once, under the same lock as the fold, so the counts always equal an aggregation
of the counted votes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
from django.db import connection, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from .models import Arena, Board, Category, FoldState, Mode, Tally

ARENAS = (Arena.AUDIO, Arena.NO_AUDIO)  # code = arena index * 2 + mode index
MODES = (Mode.TEXT_TO_VIDEO, Mode.IMAGE_TO_VIDEO)
OUTCOME = {"model_a": 0, "model_b": 1, "tie": 2, "both_bad": 3}
# How far below the newest id a vote may still be in flight when the watermark moves.
GAP_WINDOW = 100_000
GAP_TTL_SECONDS = 3600

Key = tuple[str, str, str]


def lock_state() -> FoldState:
    """The fold state, locked until the end of the caller's transaction."""
    FoldState.objects.get_or_create(pk=1)
    return FoldState.objects.select_for_update().get(pk=1)


def aggregate(tallies: QuerySet[Tally]) -> np.ndarray:
    """Counted tallies grouped by (code, mask, a, b): int64 rows of those and 4 outcome counts."""
    if connection.vendor == "postgresql":
        # The grouping can have hundreds of thousands of keys on a long history: keep the
        # hash table in memory rather than spilling it to disk.
        # Parallel workers make a full recount of millions of votes a matter of seconds.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL parallel_setup_cost = 0")
            cursor.execute("SET LOCAL parallel_tuple_cost = 0")
    grouped = (
        tallies.filter(counted=True)
        .values_list("code", "mask", "model_a", "model_b")
        .order_by()
        .annotate(**{f"o{i}": Count("vote_id", filter=Q(outcome=i)) for i in range(4)})
    )
    # A plain cursor: building ORM tuples for every group costs more than the query.
    sql, params = grouped.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return np.array(rows, dtype=np.int64).reshape(-1, 8)


def board_deltas(groups: np.ndarray) -> dict[Key, dict[str, list[int]]]:
    """Spread grouped counts over the overall board and each category board."""
    if not len(groups):
        return {}
    slugs = dict(Category.objects.values_list("bit", "slug"))
    code, mask, a, b = groups[:, :4].T
    outcomes = groups[:, 4:]
    pairs, pair_index = np.unique(a * (1 << 32) + b, return_inverse=True)
    n_pairs = len(pairs)
    names = [f"{p >> 32},{p & 0xFFFFFFFF}" for p in pairs.tolist()]  # once, for every board
    boards: list[tuple[int, str, np.ndarray]] = [(c, Board.OVERALL, code == c) for c in range(4)]
    for bit, slug in slugs.items():
        has = ((mask >> bit) & 1).astype(bool)
        boards += [(c, slug, has & (code == c)) for c in range(4)]
    deltas: dict[Key, dict[str, list[int]]] = {}
    for c, category, selected in boards:
        if not selected.any():
            continue
        cells = np.zeros((n_pairs, 4), dtype=np.int64)
        np.add.at(cells, pair_index[selected], outcomes[selected])
        present = np.flatnonzero(cells.any(axis=1))
        key = (ARENAS[c // 2].value, MODES[c % 2].value, category)
        deltas[key] = dict(
            zip([names[p] for p in present.tolist()], cells[present].tolist(), strict=True)
        )
    return deltas


def apply_groups(
    groups: np.ndarray, *, sign: int = 1, replace: bool = False, keep: list[Board] | None = None
) -> int:
    """Add (or subtract) grouped counts to the boards; returns how many boards changed.

    ``keep`` receives every board as stored afterwards (the caller's copy, saving a reload).

    A count that would go below zero means the boards drifted from the votes (a prompt's
    categories changed after its votes were folded): it stops at zero and a full rebuild
    is requested.
    """
    deltas = board_deltas(groups)
    boards = {(b.arena, b.mode, b.category): b for b in Board.objects.select_for_update()}
    changed = 0
    updated: list[Board] = []
    for key in set(deltas) | (set(boards) if replace else set()):
        board = boards.get(key) or Board(arena=key[0], mode=key[1], category=key[2])
        counts = {} if replace else dict(board.counts)
        for pair, delta in deltas.get(key, {}).items():
            cell = [
                x + sign * d for x, d in zip(counts.get(pair, [0, 0, 0, 0]), delta, strict=True)
            ]
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
        if board.pk:
            updated.append(board)
        else:
            board.save()
        boards[key] = board
        changed += 1
    # One statement for every board that changed, not one round trip each.
    Board.objects.bulk_update(updated, ["counts", "votes", "version"])
    if keep is not None:
        keep.extend(boards.values())
    return changed


def _track_gaps(state: FoldState, low: int, high: int, now: float) -> None:
    """Remember ids in (low, high] that are not visible yet, near the top of the range."""
    start = max(low, high - GAP_WINDOW)
    expected = high - start
    if expected <= 0:
        return
    window = Tally.objects.filter(vote_id__gt=start, vote_id__lte=high)
    if window.count() == expected:
        return
    seen = set(window.values_list("vote_id", flat=True))
    for missing in range(start + 1, high + 1):
        if missing not in seen:
            state.gaps[str(missing)] = now


def _present(vote_ids: list[int]) -> set[int]:
    """Which of these vote ids have a tally now.

    There can be up to GAP_WINDOW of them (an import re-run over votes already present burns
    an id per skipped row): one array parameter on PostgreSQL, not an IN list whose hundred
    thousand parameters took seconds to build, and chunks elsewhere (SQLite caps them).
    """
    if not vote_ids:
        return set()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT vote_id FROM {Tally._meta.db_table} WHERE vote_id = ANY(%s)", [vote_ids]
            )
            return {row[0] for row in cursor.fetchall()}
    found: set[int] = set()
    for start in range(0, len(vote_ids), 10_000):
        chunk = vote_ids[start : start + 10_000]
        found.update(Tally.objects.filter(vote_id__in=chunk).values_list("vote_id", flat=True))
    return found


@transaction.atomic
def fold_new_votes(*, keep: list[Board] | None = None) -> int:
    """Fold votes committed since the last fold into the boards. Returns boards changed.

    ``keep`` receives every board as stored afterwards when anything was folded.
    """
    state = lock_state()
    now = time.time()
    low = state.vote_watermark
    high = Tally.objects.aggregate(top=Max("vote_id"))["top"] or 0
    live = {i: seen for i, seen in state.gaps.items() if now - seen < GAP_TTL_SECONDS}
    filled = _present([int(i) for i in live])
    state.gaps = {i: seen for i, seen in live.items() if int(i) not in filled}
    changed = 0
    if high > low or filled:
        # Two queries, not one with OR: the range alone is an index range scan.
        groups = aggregate(Tally.objects.filter(vote_id__gt=low, vote_id__lte=high))
        if filled:
            groups = np.concatenate([groups, aggregate(Tally.objects.filter(vote_id__in=filled))])
        changed = apply_groups(groups, keep=keep)
        if high > low:
            _track_gaps(state, low, high, now)
            state.vote_watermark = high
    state.folded_at = timezone.now()
    state.save()
    return changed


@transaction.atomic
def rebuild_counts(*, keep: list[Board] | None = None) -> int:
    """Recount every board from all counted votes (the full rebuild); ``keep`` as above."""
    state = lock_state()
    high = Tally.objects.aggregate(top=Max("vote_id"))["top"] or 0
    changed = apply_groups(
        aggregate(Tally.objects.filter(vote_id__lte=high)), replace=True, keep=keep
    )
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
    from votes.models import Vote

    unknown = set(flags) - {"quarantined", "invalidated", "attention_check"}
    if unknown:
        raise ValueError(f"not a vote flag: {', '.join(sorted(unknown))}")
    state = lock_state()
    ids = list(vote_ids)
    before = {t.vote_id: t for t in Tally.objects.select_for_update().filter(vote_id__in=ids)}
    Vote.objects.filter(id__in=ids).update(**flags)  # the trigger updates the tallies
    after = dict(Tally.objects.filter(vote_id__in=ids).values_list("vote_id", "counted"))
    moved = {+1: [], -1: []}
    for vote_id, tally in before.items():
        folded = vote_id <= state.vote_watermark and str(vote_id) not in state.gaps
        if folded and tally.counted != after[vote_id]:
            counts = [0, 0, 0, 0]
            counts[tally.outcome] = 1
            moved[+1 if after[vote_id] else -1].append(
                (tally.code, tally.mask, tally.model_a, tally.model_b, *counts)
            )
    for sign, rows in moved.items():
        if rows:
            apply_groups(np.array(rows, dtype=np.int64), sign=sign)
    return len(moved[+1]) + len(moved[-1])
