"""Recomputing leaderboards: fold new votes, fit the boards that changed, store snapshots."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import boards, faults, matchmaking, ratings
from .models import Board, FoldState, Generator, Snapshot

log = logging.getLogger(__name__)
LEASE_SECONDS = 120

# Each board's last bootstrap (generator ids, replicates), kept by the process that recomputes
# so that the next incremental recompute updates it instead of drawing 1000 resamples afresh.
_replicates: dict[int, tuple[tuple[int, ...], ratings.Replicates]] = {}


class RecomputeBusy(Exception):
    """Another recompute holds the lease."""


@dataclass(frozen=True)
class BoardResult:
    board: str
    votes: int
    listed: int
    seconds: float


def new_owner() -> str:
    """A lease owner name that says where the holder runs: host and process id."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _holder_is_dead(owner: str) -> bool:
    """Whether `owner` ran on this host in a process that no longer exists (killed)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:30] or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # A killed process whose parent died with it stays a zombie until init reaps it, which
    # can take seconds: it still answers signal 0, but it will never release the lease.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in {"Z", "X"}


def acquire_lease(owner: str, now: datetime) -> bool:
    """Take the recompute lease by conditional update; False if someone else holds it.

    A lease held by a process of this host that died (a worker killed mid-recompute) is
    taken over at once rather than after LEASE_SECONDS, so the re-delivered task runs.
    """
    FoldState.objects.get_or_create(pk=1)
    until = now + timedelta(seconds=LEASE_SECONDS)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    if FoldState.objects.filter(free, pk=1).update(lease_owner=owner, lease_until=until):
        return True
    holder = FoldState.objects.filter(pk=1).values_list("lease_owner", flat=True).first()
    if holder and _holder_is_dead(holder):
        log.warning("taking over the recompute lease of %s, which is no longer running", holder)
        taken = FoldState.objects.filter(pk=1, lease_owner=holder).update(
            lease_owner=owner, lease_until=until
        )
        return taken == 1
    return False


def renew_lease(owner: str) -> None:
    FoldState.objects.filter(pk=1, lease_owner=owner).update(
        lease_until=timezone.now() + timedelta(seconds=LEASE_SECONDS)
    )


def release_lease(owner: str) -> None:
    FoldState.objects.filter(pk=1, lease_owner=owner).update(lease_owner="", lease_until=None)


def forget_replicates() -> None:
    """Drop every kept bootstrap: the next recompute of each board draws afresh."""
    _replicates.clear()


def matrices(counts: dict[str, list[int]]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Board counts -> (generator ids, wins[i, j] = i beat j, ties[i, j] upper triangle)."""
    if not counts:
        return [], np.zeros((0, 0), np.int64), np.zeros((0, 0), np.int64)
    pairs = np.array(",".join(counts).split(","), dtype=np.int64).reshape(-1, 2)
    tally = np.array(list(counts.values()), dtype=np.int64).reshape(-1, 4)
    ids, index = np.unique(pairs, return_inverse=True)
    a, b = index.reshape(-1, 2).T
    m = ids.size
    wins = np.zeros((m, m), dtype=np.int64)
    ties = np.zeros((m, m), dtype=np.int64)
    np.add.at(wins, (a, b), tally[:, 0])
    np.add.at(wins, (b, a), tally[:, 1])
    np.add.at(ties, (np.minimum(a, b), np.maximum(a, b)), tally[:, 2] + tally[:, 3])
    return [int(g) for g in ids], wins, ties


@dataclass(frozen=True)
class FittedBoard:
    """A board fitted from the counts it was loaded with (no database access)."""

    board: Board
    version: int
    ids: list[int]
    fit: ratings.BoardFit | None
    seconds: float


def fit_counts(board: Board, *, rounds: int, reuse: bool = False) -> FittedBoard:
    """Fit one board's counts; pure computation, safe to run on a worker thread.

    With ``reuse``, the board's previous bootstrap in this process (if any, over the same
    models) is updated to the new counts rather than drawn afresh (see ratings.fit_board);
    without it the intervals depend on the counts and the seed alone.
    """
    started = time.perf_counter()
    version = board.version
    ids, wins, ties = matrices(board.counts)
    if not ids:
        _replicates.pop(board.pk, None)
        return FittedBoard(board, version, [], None, time.perf_counter() - started)
    kept = _replicates.get(board.pk) if reuse else None
    previous = kept[1] if kept is not None and kept[0] == tuple(ids) else None
    fit = ratings.fit_board(wins, ties, rounds=rounds, seed=0, previous=previous)
    if settings.ARENA_BOOTSTRAP_REUSE and fit.replicates is not None:
        _replicates[board.pk] = (tuple(ids), fit.replicates)
    else:
        _replicates.pop(board.pk, None)
    return FittedBoard(board, version, ids, fit, time.perf_counter() - started)


def board_rows(
    fitted: FittedBoard, generators: dict[int, Generator]
) -> tuple[list[dict], list[str], list[str], dict | None]:
    """(listed rows, disconnected and unlisted names, sampling fit) of a fitted board."""
    ids, fit = fitted.ids, fitted.fit
    if fit is None:
        return [], [], [], None
    min_listed = settings.ARENA_MIN_VOTES_LISTED
    listed = [i for i in range(len(ids)) if fit.fitted[i] and fit.votes[i] >= min_listed]
    rows = []
    for i in listed:
        above = sum(1 for j in listed if fit.ci_low[j] > fit.ci_high[i])
        generator = generators[ids[i]]
        rows.append(
            {
                "rank": 1 + above,
                "model": generator.name,
                "model_id": generator.id,
                "organisation": generator.organisation,
                "rating": round(float(fit.rating[i]), 2),
                "ci_low": round(float(fit.ci_low[i]), 2),
                "ci_high": round(float(fit.ci_high[i]), 2),
                "votes": int(fit.votes[i]),
                "win_rate": round(float(fit.win_rate[i]), 4),
                "provisional": bool(fit.votes[i] < settings.ARENA_MIN_VOTES_STABLE),
                "retired": generator.status == Generator.Status.RETIRED,
            }
        )
    rows.sort(key=lambda r: (r["rank"], -r["rating"]))
    disconnected = [generators[ids[i]].name for i in fit.disconnected]
    unlisted = [
        generators[ids[i]].name for i in range(len(ids)) if fit.fitted[i] and i not in listed
    ]
    return rows, disconnected, unlisted, matchmaking.fit_payload(ids, fit)


def store_snapshot(
    fitted: FittedBoard, generators: dict[int, Generator], *, now: datetime
) -> tuple[Snapshot, dict | None]:
    board = fitted.board
    rows, disconnected, unlisted, fit = board_rows(fitted, generators)
    with transaction.atomic():
        snapshot = Snapshot.objects.create(
            board=board,
            computed_at=now,
            votes=board.votes,
            rows=rows,
            disconnected=disconnected,
            unlisted=unlisted,
        )
        # If votes arrived while we fitted, fitted_version stays behind and the next run refits.
        Board.objects.filter(pk=board.pk).update(latest=snapshot, fitted_version=fitted.version)
    return snapshot, fit


def recompute(
    *,
    full: bool = False,
    refit_all: bool = False,
    rounds: int | None = None,
    now: datetime | None = None,
) -> list[BoardResult]:
    """Fold new votes and refit every board whose counts changed.

    `full` recounts the boards from all votes instead of folding; `full` and `refit_all`
    refit every board, changed or not, with a fresh bootstrap (intervals that depend on the
    counts and the seed alone).  Otherwise a board's bootstrap from this process's previous
    recompute is updated to the new counts when that is cheaper (ARENA_BOOTSTRAP_REUSE).

    Holds a lease so that two recomputes never run at once. Safe to kill at any point and
    run again: the fold and each board's snapshot commit on their own, a board whose snapshot
    is current is not refitted, and the lease of a dead process is taken over (on another
    host it expires after LEASE_SECONDS).
    """
    owner = new_owner()
    now = now or timezone.now()
    rounds = rounds or settings.ARENA_BOOTSTRAP_ROUNDS
    if not acquire_lease(owner, now):
        raise RecomputeBusy("another recompute is running")
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        phases[name] = round(time.perf_counter() - clock, 4)
        clock = time.perf_counter()

    try:
        folded: list[Board] = []  # the boards as the fold stored them: no second load
        if full or FoldState.objects.filter(pk=1, needs_rebuild=True).exists():
            boards.rebuild_counts(keep=folded)
        else:
            boards.fold_new_votes(keep=folded)
        todo = folded or list(Board.objects.all())
        fresh = full or refit_all
        if not fresh:
            todo = [b for b in todo if b.version != b.fitted_version or b.latest_id is None]
        reuse = settings.ARENA_BOOTSTRAP_REUSE and not fresh
        # Fits touch no database, so two boards are fitted at once, one per core, on the
        # ratings threads; then this thread writes the snapshots, each in its own transaction.
        # The largest boards first, so that the two threads finish together.
        todo = sorted(todo, key=lambda b: -b.votes)
        generators = Generator.objects.in_bulk()
        renew_lease(owner)
        renewed = time.monotonic()
        phase("fold")
        fitted = ratings.parallel_map(lambda b: fit_counts(b, rounds=rounds, reuse=reuse), todo)
        phase("fits")
        results = []
        fits: dict[tuple[str, str], dict] = {}
        for one in fitted:
            started = time.perf_counter()
            snapshot, fit = store_snapshot(one, generators, now=now)
            board = one.board
            if board.category == Board.OVERALL and fit is not None:
                fits[(board.arena, board.mode)] = fit
            seconds = one.seconds + time.perf_counter() - started
            results.append(BoardResult(str(board), snapshot.votes, len(snapshot.rows), seconds))
            if time.monotonic() - renewed > LEASE_SECONDS / 4:
                renew_lease(owner)
                renewed = time.monotonic()
            faults.pause_point("recompute-between-boards")
        phase("snapshots")
        matchmaking.refresh(fits, now=now)
        phase("sampling")
        log.info(
            "recomputed %d boards in %.2f s",
            len(results),
            sum(phases.values()),
            extra={"boards": len(results), "phases_s": phases, "full": full},
        )
        return results
    finally:
        release_lease(owner)
