"""Battles drawn per hour and model, kept up to date from the battles issued since last time.

matchmaking.shares publishes each model's share of battles over the last day, week and all
time. Counted from the battles themselves, that is three scans of a table that grows by
every battle ever issued, at every recompute; counted here, a recompute reads the battles
issued since the previous one (by id, above a watermark) and adds them to hourly counts.

A battle's id is taken when its INSERT runs and it commits a moment later, so a smaller id
can become visible after a larger one: the watermark only moves past battles issued more
than SETTLE seconds ago, and never past one that is still younger.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Min, Sum
from django.db.models.functions import TruncHour

from .models import Battle, BattleCount, FoldState

SETTLE = timedelta(seconds=60)


@transaction.atomic
def fold_battles(*, now: datetime) -> int:
    """Count the battles issued since the last fold into BattleCount; returns how many."""
    FoldState.objects.get_or_create(pk=1)
    state = FoldState.objects.select_for_update().get(pk=1)
    newer = Battle.objects.filter(id__gt=state.battle_watermark)
    young = newer.filter(issued_at__gte=now - SETTLE).aggregate(first=Min("id"))["first"]
    settled = newer.filter(id__lt=young) if young is not None else newer
    top = settled.order_by("-id").values_list("id", flat=True).first()
    if top is None:
        return 0
    drawn = settled.filter(id__lte=top, attention_check=False).annotate(hour=TruncHour("issued_at"))
    added: Counter[tuple[str, str, datetime, int]] = Counter()
    for side in ("model_a", "model_b"):
        grouped = (
            drawn.values_list("arena", "mode", "hour", side).order_by().annotate(n=Count("id"))
        )
        for arena, mode, hour, model, n in grouped:
            added[(arena, mode, hour, model)] += n
    if added:
        _add(added)
    state.battle_watermark = top
    state.save(update_fields=["battle_watermark"])
    return sum(added.values()) // 2


def _add(added: Counter[tuple[str, str, datetime, int]]) -> None:
    hours = {key[2] for key in added}
    existing = {
        (row.arena, row.mode, row.hour, row.model_id): row
        for row in BattleCount.objects.filter(hour__in=hours)
    }
    rows = []
    for (arena, mode, hour, model), n in added.items():
        row = existing.get((arena, mode, hour, model))
        if row is None:
            row = BattleCount(arena=arena, mode=mode, hour=hour, model_id=model, battles=0)
        row.battles += n
        rows.append(row)
    BattleCount.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["arena", "mode", "hour", "model"],
        update_fields=["battles"],
    )


def counts(arena: str, mode: str, since: datetime | None) -> tuple[dict[int, int], int]:
    """(battles per model, battles) in the hours from `since`'s hour on; all time if None."""
    rows = BattleCount.objects.filter(arena=arena, mode=mode)
    if since is not None:
        rows = rows.filter(hour__gte=since.replace(minute=0, second=0, microsecond=0))
    per_model = dict(
        rows.values_list("model").order_by().annotate(n=Sum("battles")).values_list("model", "n")
    )
    return per_model, sum(per_model.values()) // 2
