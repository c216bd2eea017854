"""Matchmaking state: battle weights from the latest fits, and the published sampling shares.

The recompute stores, per arena and mode, the overall board's fit (ids, ratings, votes,
covariance) and the shares of battles each model was drawn into. Issuing a battle reads
the weights from a per-process cache refreshed when the recompute bumps a version in the
shared cache (or, with a per-process cache, after a short age), so it costs no query.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import numpy as np
from django.core.cache import cache

from . import battle_counts, catalogue, sampling
from .catalogue import Pool
from .models import Arena, Generator, Mode, SamplingState

VERSION_KEY = "arena:sampling-version"


def fit_payload(ids: list[int], fit) -> dict:  # noqa: ANN001 - ratings.BoardFit
    keep = [i for i in range(len(ids)) if fit.fitted[i]]
    covariance = (
        fit.covariance[np.ix_(keep, keep)].round(3).tolist() if fit.covariance is not None else []
    )
    return {
        "ids": [ids[i] for i in keep],
        "ratings": [round(float(fit.rating[i]), 3) for i in keep],
        "votes": {str(ids[i]): int(fit.votes[i]) for i in range(len(ids))},
        "covariance": covariance,
    }


def shares(
    arena: str, mode: str, weights: dict[tuple[int, int], float], now: datetime
) -> list[dict]:
    """Each model's share of battles (day, week, all time) and its weight now in force.

    A share is the fraction of battles that included the model; a weight, the probability
    that the next battle includes it. Both sum to 2 over the models, as a battle has two.
    Shares are counted by the hour (arena.battle_counts): the day is the last 24 hours and
    the one under way, and battles of the last minute wait for the next recompute.
    """
    windows = {
        "day": battle_counts.counts(arena, mode, now - timedelta(days=1)),
        "week": battle_counts.counts(arena, mode, now - timedelta(days=7)),
        "all": battle_counts.counts(arena, mode, None),
    }
    in_force: dict[int, float] = {}
    for (a, b), w in weights.items():
        in_force[a] = in_force.get(a, 0.0) + w
        in_force[b] = in_force.get(b, 0.0) + w
    ids = set(in_force) | set(windows["all"][0])
    names = dict(Generator.objects.filter(id__in=ids).values_list("id", "name"))
    rows = []
    for model_id in ids:
        row = {
            "model": names.get(model_id, str(model_id)),
            "weight": round(in_force.get(model_id, 0.0), 6),
        }
        for label, (counts, total) in windows.items():
            row[f"share_{label}"] = round(counts.get(model_id, 0) / total, 6) if total else 0.0
        row["battles_all"] = windows["all"][0].get(model_id, 0)
        rows.append(row)
    rows.sort(key=lambda r: (-r["weight"], r["model"]))
    return rows


def refresh(fits: dict[tuple[str, str], dict], *, now: datetime) -> None:
    """Store new fits (where given) and recompute every arena and mode's published shares."""
    battle_counts.fold_battles(now=now)
    snap = catalogue.current()
    for arena in Arena.values:
        for mode in Mode.values:
            state = SamplingState.objects.filter(arena=arena, mode=mode).first()
            fit = fits.get((arena, mode)) or (state.fit if state else {})
            pool = snap.pool(arena, mode)
            weights = compute_weights(pool, fit)
            if not weights and state is None:
                continue
            SamplingState.objects.update_or_create(
                arena=arena,
                mode=mode,
                defaults={
                    "computed_at": now,
                    "fit": fit,
                    "shares": shares(arena, mode, weights, now),
                },
            )
    try:
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.set(VERSION_KEY, int(time.time() * 1000), timeout=None)
    catalogue.forget_versions()


def compute_weights(pool: Pool, fit: dict) -> dict[tuple[int, int], float]:
    pairs = pool.pairs
    if not pairs:
        return {}
    ids = fit.get("ids", [])
    covariance = np.array(fit.get("covariance") or np.zeros((0, 0)), dtype=float)
    return sampling.pair_weights(
        pairs,
        ratings=dict(zip(ids, fit.get("ratings", []), strict=True)),
        covariance={(a, b): covariance[i, j] for i, a in enumerate(ids) for j, b in enumerate(ids)}
        if len(covariance)
        else {},
        votes={int(k): v for k, v in fit.get("votes", {}).items()},
    )


_lock = threading.Lock()
_states: dict[tuple[str, str], dict] = {}
_loaded: tuple[object, float] | None = None
_weights: dict[tuple[str, str, float], dict[tuple[int, int], float]] = {}


_UNREAD = object()


def weights_for(
    arena: str, mode: str, pool: Pool, stamp: float, version: object = _UNREAD
) -> dict[tuple[int, int], float]:
    """The weights in force for this pool (`stamp` identifies the catalogue snapshot).

    No query while the cached state is fresh. `version` is the sampling version when the
    caller read it already.
    """
    global _loaded
    if version is _UNREAD:
        version = cache.get(VERSION_KEY)
    if (
        _loaded is None
        or _loaded[0] != version
        or time.monotonic() - _loaded[1] > catalogue.max_age()
    ):
        with _lock:
            _states.clear()
            _states.update({(s.arena, s.mode): s.fit for s in SamplingState.objects.all()})
            _weights.clear()
            _loaded = (version, time.monotonic())
    key = (arena, mode, stamp)
    if key not in _weights:
        # Weights of older catalogue snapshots are never asked for again.
        for stale in [k for k in _weights if k[2] != stamp]:
            del _weights[stale]
        _weights[key] = compute_weights(pool, _states.get((arena, mode), {}))
    return _weights[key]


def published(arena: str, mode: str) -> SamplingState | None:
    return SamplingState.objects.filter(arena=arena, mode=mode).first()
