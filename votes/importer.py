"""Bulk import of votes in the dataset-release schema (and of other arenas' battle logs).

Contract:
- Idempotent on `vote_id` (stored as Vote.uid): rows whose id is present are skipped, enforced
  by the database's unique constraint (see importer_pg; INSERT OR IGNORE elsewhere), so
  re-running an import, or running one after a crash, adds only what is missing. Within a file
  the first row of an id wins.
- A batch's votes are one transaction; a crash leaves whole batches behind, never half of
  one. On PostgreSQL the generators and prompts a batch names are committed just before its
  votes (a second connection writes the votes, see importer_pg.PipelinedWriter), so a crash
  can also leave some that no vote names yet; the re-run finds and uses them. Elsewhere, or
  inside a caller's transaction, a batch's generators, prompts and votes are one transaction.
- The command answers once every imported vote is durably stored (see importer_pg on the
  batches' asynchronous commits).
- A row that cannot be imported is refused with its position and reason; the others go in.
- Validation and mapping are vectorised over arrow batches; on PostgreSQL each batch is one
  COPY into the votes table (importer_pg).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection, transaction

from arena import boards
from arena.models import Arena, Mode

from .importer_catalogue import Catalogue, VoteImportError, generator_ids, prompt_ids
from .importer_formats import (
    DATASET_FIELDS,
    Batch,
    RowError,
    parquet_rows,
    position_label,
    read_fastchat,
    read_genai_arena,
    read_rows,
)
from .importer_pg import PipelinedWriter, PostgresLoader
from .importer_rows import normalise, validate
from .models import Vote

_Item = TypeVar("_Item")

__all__ = ["ImportResult", "RowError", "VoteImportError", "import_votes", "ORIGINS"]

ORIGINS = ("dataset", "fastchat", "genai-arena")
BATCH_ROWS = 100_000
# Votes imported between two folds into the board counts. A fold has a fixed cost (boards
# locked and rewritten, gaps checked) besides its aggregation: folding each 100 000-row batch
# took ~10 s of a 1M-vote import, one fold of the 1M ~2.3 s.
FOLD_ROWS = 1_000_000
MAX_ERRORS = 1000
INSERT_COLUMNS = (
    "uid",
    "battle_uid",
    "created_at",
    "arena",
    "mode",
    "prompt_id",
    "model_a_id",
    "model_b_id",
    "ext_clip_a_url",
    "ext_clip_b_url",
    "winner",
    "time_to_vote_ms",
    "source",
)


@dataclass
class ImportResult:
    label: str = "row"  # what positions count: "line" (JSONL, CSV) or "row"
    read: int = 0
    imported: int = 0
    already_present: int = 0  # in the database, or earlier in the same file
    refused: int = 0
    generators_created: int = 0
    prompts_created: int = 0
    errors: list[RowError] = field(default_factory=list)  # the first MAX_ERRORS

    def refuse(self, errors: list[RowError]) -> None:
        self.refused += len(errors)
        self.errors.extend(errors[: max(0, MAX_ERRORS - len(self.errors))])


def import_votes(
    path: Path,
    *,
    origin: str = "dataset",
    arena: str = Arena.NO_AUDIO,
    mode: str = Mode.TEXT_TO_VIDEO,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import a vote file; see the module docstring for the contract.

    `arena` and `mode` apply to foreign logs (fastchat, genai-arena), which have neither.
    `progress` is called with the number of rows read after each batch.
    """
    if origin not in ORIGINS:
        raise VoteImportError(f"unknown origin {origin!r} (use {', '.join(ORIGINS)})")
    with _returning_memory():
        return _import(path, origin, arena, mode, batch_rows, progress)


@contextlib.contextmanager
def _returning_memory() -> Iterator[None]:
    """Arrow allocations from jemalloc while importing, if this pyarrow has it.

    Batches are made in one thread and dropped in another; pyarrow's default mimalloc pool
    kept much of what was freed that way, and a 10M-row import grew by ~40 MB per million
    rows (peak 960 MB). jemalloc gives it back: the resident size follows the batches.
    """
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        yield
        return
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _import(
    path: Path,
    origin: str,
    arena: str,
    mode: str,
    batch_rows: int,
    progress: Callable[[int], None] | None,
) -> ImportResult:
    try:
        result = ImportResult(label=position_label(path))
        batches = _prefetched(_checked(_batches(path, origin, arena, mode, batch_rows)))
        catalogue = Catalogue()
        loader = PostgresLoader(INSERT_COLUMNS)
        # On PostgreSQL, outside a caller's transaction, votes are written by a helper thread
        # on its own connection while this one prepares the next batch.
        pipelined = connection.vendor == "postgresql" and not connection.in_atomic_block
        writer = PipelinedWriter(loader) if pipelined else None
        unfolded = 0
        try:
            for batch, checked in batches:
                result.read += batch.read
                result.refuse(batch.errors)
                written: list[tuple[int, int]] = []  # (rows offered, rows inserted)
                with transaction.atomic():
                    rows = _batch_rows(batch, checked, catalogue, result)
                    if rows is not None and writer is None:
                        written.append((rows.num_rows, _insert(loader, rows)))
                if rows is not None and writer is not None:
                    # After the commit above: the votes' tally trigger must see new prompts.
                    written += writer.submit(rows)
                unfolded += _count(result, written)
                # Fold as we go, as the schedule would: the boards' counts keep up with a long
                # import, and the recompute after it has only the fits left to do.
                if unfolded >= FOLD_ROWS:
                    if writer is not None:
                        unfolded += _count(result, writer.wait())
                    boards.fold_new_votes()
                    unfolded = 0
                if progress is not None:
                    progress(batch.read)
            if writer is not None:
                unfolded += _count(result, writer.wait())
        finally:
            if writer is not None:
                writer.close()
        if unfolded or result.imported or result.generators_created or result.prompts_created:
            # Synchronous commit: this also makes every batch before it durable (see
            # importer_pg), so the command answers only for rows that are on disk.
            boards.fold_new_votes()
    except (OSError, ValueError, pa.ArrowException) as exc:
        if isinstance(exc, VoteImportError):
            raise
        raise VoteImportError(f"{path.name}: {exc}") from exc
    if result.imported and connection.vendor == "postgresql":
        # Fresh statistics, so that the next fold plans a parallel scan of the new rows. The
        # votes themselves are left to autovacuum: only the boards read them right after.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE arena_tally")
    return result


def expected_rows(path: Path) -> int | None:
    """Rows in the file if known without reading it (Parquet), for a progress bar."""
    return parquet_rows(path)


def _batches(path: Path, origin: str, arena: str, mode: str, batch_rows: int) -> Iterator[Batch]:
    if origin == "dataset":
        return read_rows(path, DATASET_FIELDS, batch_rows)
    fallback = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    reader = read_fastchat if origin == "fastchat" else read_genai_arena
    return reader(path, arena=arena, mode=mode, fallback_time=fallback, batch_rows=batch_rows)


@dataclass
class Checked:
    """A batch normalised and validated: its table, and which rows were refused and why."""

    table: pa.Table
    bad: pa.Array
    errors: list[RowError]


def _checked(batches: Iterator[Batch]) -> Iterator[tuple[Batch, Checked | None]]:
    """Each batch with its normalised table and row checks (pure arrow work, no database)."""
    for batch in batches:
        if not batch.table.num_rows:
            yield batch, None
            continue
        table = normalise(batch.table)
        bad, errors = validate(table, batch.positions)
        yield batch, Checked(table, bad, errors)


def _prefetched(items: Iterator[_Item]) -> Iterator[_Item]:
    """`items`, each computed by a helper thread while the caller works on the one before.

    Reading, normalising and validating a batch is arrow work that releases the GIL, and the
    caller mostly waits on the database: on two cores the two overlap. The thread never
    touches the database (the caller's connection and transaction stay its own).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-read") as pool:
        pending = pool.submit(next, items, None)
        try:
            while (item := pending.result()) is not None:
                pending = pool.submit(next, items, None)
                yield item
        finally:
            pending.cancel()
            with contextlib.suppress(Exception):
                pending.result()  # let a running read finish before the generator closes
            close = getattr(items, "close", None)
            if close is not None:
                close()


def _batch_rows(
    batch: Batch, checked: Checked | None, catalogue: Catalogue, result: ImportResult
) -> pa.Table | None:
    """The batch's votes as rows of the votes table (and `n`, their position), with the
    generators and prompts they name found or created; None if no row is left."""
    if checked is None:
        return None
    table, bad, errors = checked.table, checked.bad, checked.errors
    result.refuse(errors)
    if errors:
        keep = pc.invert(bad)
        table, positions = table.filter(keep), batch.positions.filter(keep)
    else:
        positions = batch.positions
    if not table.num_rows:
        return None
    model_a, model_b = generator_ids(table, catalogue, result)
    prompt_pks, keys, prompt_errors = prompt_ids(table, catalogue, result)
    if prompt_errors:
        refused = pc.is_null(prompt_pks)
        result.refuse(
            [
                RowError(positions[int(i)].as_py(), prompt_errors[keys[int(i)].as_py()])
                for i in np.flatnonzero(refused.to_numpy(zero_copy_only=False))
            ]
        )
        keep = pc.invert(refused)
        table, positions = table.filter(keep), positions.filter(keep)
        model_a, model_b, prompt_pks = (c.filter(keep) for c in (model_a, model_b, prompt_pks))
    return pa.table(
        {
            "n": positions,
            "uid": table["vote_id"],
            "battle_uid": pc.fill_null(table["battle_id"], ""),
            "created_at": table["created_at"],
            "arena": table["arena"],
            "mode": table["mode"],
            "prompt_id": prompt_pks,
            "model_a_id": model_a,
            "model_b_id": model_b,
            "ext_clip_a_url": pc.fill_null(table["clip_a_url"], ""),
            "ext_clip_b_url": pc.fill_null(table["clip_b_url"], ""),
            "winner": table["winner"],
            "time_to_vote_ms": table["time_to_vote_ms"],
            "source": pc.fill_null(table["source"], "import"),
        }
    )


def _insert(loader: PostgresLoader, rows: pa.Table) -> int:
    return loader.insert(rows) if connection.vendor == "postgresql" else _insert_other(rows)


def _count(result: ImportResult, written: list[tuple[int, int]]) -> int:
    """Record batches written; returns how many votes they inserted."""
    inserted = sum(n for _, n in written)
    result.imported += inserted
    result.already_present += sum(offered for offered, _ in written) - inserted
    return inserted


# --- inserting ---------------------------------------------------------------------------


def _insert_other(rows: pa.Table) -> int:
    """SQLite: executemany of plain tuples, INSERT OR IGNORE; rows inserted."""
    created = pc.strftime(rows["created_at"], "%Y-%m-%d %H:%M:%S")
    columns = [
        (created if name == "created_at" else rows[name]).to_pylist() for name in INSERT_COLUMNS
    ]
    marks = ", ".join(["%s"] * (len(INSERT_COLUMNS) + 3))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT OR IGNORE INTO {Vote._meta.db_table} ({', '.join(INSERT_COLUMNS)}, "
            f"attention_check, quarantined, invalidated) VALUES ({marks})",
            [(*row, False, False, False) for row in zip(*columns, strict=True)],
        )
        return cursor.rowcount
