"""Reads that span models: leaderboards as the pages and the API show them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .models import Board, Snapshot


@dataclass
class BoardView:
    board: Board
    snapshot: Snapshot | None

    @property
    def rows(self) -> list[dict]:
        return self.snapshot.rows if self.snapshot else []


def boards_with_votes() -> list[Board]:
    return list(Board.objects.filter(votes__gt=0).order_by("arena", "mode", "category"))


def board_view(arena: str, mode: str, category: str) -> BoardView | None:
    board = (
        Board.objects.select_related("latest")
        .filter(arena=arena, mode=mode, category=category)
        .first()
    )
    if board is None:
        return None
    return BoardView(board=board, snapshot=board.latest)


def pair_matrices(board: Board, model_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(win rate of row over column, battles between them) for the listed models, in order."""
    index = {g: i for i, g in enumerate(model_ids)}
    m = len(model_ids)
    score = np.zeros((m, m))
    games = np.zeros((m, m), dtype=np.int64)
    for pair, (a_wins, b_wins, tie, both_bad) in board.counts.items():
        a, b = (int(g) for g in pair.split(","))
        if a not in index or b not in index:
            continue
        i, j = index[a], index[b]
        half = (tie + both_bad) / 2
        score[i, j] += a_wins + half
        score[j, i] += b_wins + half
        total = a_wins + b_wins + tie + both_bad
        games[i, j] += total
        games[j, i] += total
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(games > 0, score / np.maximum(games, 1), np.nan)
    return rate, games


def rating_history(board: Board, *, limit: int = 500) -> dict[str, list[tuple[str, float]]]:
    """Each listed model's rating in the board's last `limit` snapshots, oldest first."""
    history: dict[str, list[tuple[str, float]]] = {}
    snapshots = list(
        Snapshot.objects.filter(board=board)
        .order_by("-computed_at")
        .values_list("computed_at", "rows")[:limit]
    )
    for computed_at, rows in reversed(snapshots):
        for row in rows:
            history.setdefault(row["model"], []).append((computed_at.isoformat(), row["rating"]))
    return history
