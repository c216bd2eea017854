"""Bulk import of votes in the dataset-release schema (and of other arenas' battle logs).

Contract:
- Idempotent on `vote_id` (stored as Vote.uid): rows whose id is present are skipped, by the
  database (ON CONFLICT DO NOTHING / INSERT OR IGNORE), so re-running an import, or running one
  after a crash, adds only what is missing. Within a file the first row of an id wins.
- Each batch (generators, prompts and votes together) is one transaction; a crash leaves whole
  batches behind, never half of one.
- A row that cannot be imported is refused with its position and reason; the others go in.
- Validation and mapping are vectorised over arrow batches; on PostgreSQL the rows go through
  COPY into a temporary table, then one INSERT … SELECT per batch.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from django.db import connection, transaction

from arena import boards
from arena.ingest import IngestError, ensure_categories
from arena.models import Arena, Generator, Mode, Prompt, new_uid

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
from .importer_rows import normalise, parse_categories, validate
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


class VoteImportError(ValueError):
    """The file as a whole cannot be imported (unknown format, unreadable)."""


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


@dataclass
class Catalogue:
    """Names -> ids seen so far, so that ten million rows cost a few thousand queries."""

    generators: dict[str, int] = field(default_factory=dict)
    prompt_keys: dict[str, int] = field(default_factory=dict)
    by_uid: dict[str, tuple[int, str]] = field(default_factory=dict)  # uid -> (pk, mode)
    by_text: dict[tuple[str, str], int] = field(default_factory=dict)  # (mode, text) -> pk


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
    try:
        result = ImportResult(label=position_label(path))
        batches = _prefetched(_checked(_batches(path, origin, arena, mode, batch_rows)))
        catalogue = Catalogue()
        unfolded = 0
        for batch, checked in batches:
            result.read += batch.read
            result.refuse(batch.errors)
            if batch.table.num_rows:
                before = result.imported
                with transaction.atomic():
                    _import_batch(batch, checked, catalogue, result)
                unfolded += result.imported - before
                # Fold as we go, as the schedule would: the boards' counts keep up with a long
                # import, and the recompute after it has only the fits left to do.
                if unfolded >= FOLD_ROWS:
                    boards.fold_new_votes()
                    unfolded = 0
            if progress is not None:
                progress(batch.read)
        if unfolded:
            boards.fold_new_votes()
    except (OSError, ValueError, pa.ArrowException) as exc:
        if isinstance(exc, VoteImportError):
            raise
        raise VoteImportError(f"{path.name}: {exc}") from exc
    if result.imported and connection.vendor == "postgresql":
        # Fresh statistics, so that the next fold plans a parallel scan of the new rows.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE votes_vote, arena_tally")
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


def _import_batch(
    batch: Batch, checked: Checked, catalogue: Catalogue, result: ImportResult
) -> None:
    table, bad, errors = checked.table, checked.bad, checked.errors
    result.refuse(errors)
    if errors:
        keep = pc.invert(bad)
        table, positions = table.filter(keep), batch.positions.filter(keep)
    else:
        positions = batch.positions
    if not table.num_rows:
        return
    model_a, model_b = _generator_ids(table, catalogue, result)
    prompt_ids, keys, prompt_errors = _prompt_ids(table, catalogue, result)
    if prompt_errors:
        refused = pc.is_null(prompt_ids)
        result.refuse(
            [
                RowError(positions[int(i)].as_py(), prompt_errors[keys[int(i)].as_py()])
                for i in np.flatnonzero(refused.to_numpy(zero_copy_only=False))
            ]
        )
        keep = pc.invert(refused)
        table, positions = table.filter(keep), positions.filter(keep)
        model_a, model_b, prompt_ids = (c.filter(keep) for c in (model_a, model_b, prompt_ids))
    rows = pa.table(
        {
            "n": positions,
            "uid": table["vote_id"],
            "battle_uid": pc.fill_null(table["battle_id"], ""),
            "created_at": table["created_at"],
            "arena": table["arena"],
            "mode": table["mode"],
            "prompt_id": prompt_ids,
            "model_a_id": model_a,
            "model_b_id": model_b,
            "ext_clip_a_url": pc.fill_null(table["clip_a_url"], ""),
            "ext_clip_b_url": pc.fill_null(table["clip_b_url"], ""),
            "winner": table["winner"],
            "time_to_vote_ms": table["time_to_vote_ms"],
            "source": pc.fill_null(table["source"], "import"),
        }
    )
    inserted = _insert_postgres(rows) if connection.vendor == "postgresql" else _insert_other(rows)
    result.imported += inserted
    result.already_present += rows.num_rows - inserted


# --- generators and prompts -------------------------------------------------------------


def _chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _lookup(values: pa.Array, ids: dict[str, int]) -> pa.Array:
    """Map each value to ids[value], vectorised over the batch's distinct values."""
    distinct = pc.unique(values)
    names = distinct.to_pylist()
    known = pa.array([ids.get(name) if name is not None else None for name in names], pa.int64())
    return pc.take(known, pc.index_in(values, value_set=distinct))


def _generator_ids(
    table: pa.Table, catalogue: Catalogue, result: ImportResult
) -> tuple[pa.Array, pa.Array]:
    both = pa.concat_arrays([table["model_a"].combine_chunks(), table["model_b"].combine_chunks()])
    names = pc.unique(both).to_pylist()
    unknown = [name for name in names if name not in catalogue.generators]
    for chunk in _chunks(unknown):
        found = dict(Generator.objects.filter(name__in=chunk).values_list("name", "pk"))
        new = [Generator(name=name) for name in chunk if name not in found]
        if new:
            Generator.objects.bulk_create(new, ignore_conflicts=True)
            found |= dict(Generator.objects.filter(name__in=chunk).values_list("name", "pk"))
            result.generators_created += len(new)
        catalogue.generators.update(found)
    return (
        _lookup(table["model_a"].combine_chunks(), catalogue.generators),
        _lookup(table["model_b"].combine_chunks(), catalogue.generators),
    )


def _prompt_ids(
    table: pa.Table, catalogue: Catalogue, result: ImportResult
) -> tuple[pa.Array, pa.Array, dict[str, str]]:
    """Prompt pk per row (null where refused), each row's prompt key, and reasons by key."""
    keys = pc.binary_join_element_wise(
        pc.fill_null(table["prompt_id"], ""), table["mode"], pc.fill_null(table["prompt"], ""),
        "\x00",
    )  # fmt: skip
    distinct = pc.unique(keys)
    unknown = [k for k in distinct.to_pylist() if k not in catalogue.prompt_keys]
    failed: dict[str, str] = {}
    if unknown:
        first = pc.index_in(pa.array(unknown, pa.string()), value_set=keys).to_pylist()
        failed = _resolve_prompts(table, unknown, first, catalogue, result)
    return _lookup(keys, catalogue.prompt_keys), keys, failed


def _resolve_prompts(
    table: pa.Table,
    keys: list[str],
    first_rows: list[int],
    catalogue: Catalogue,
    result: ImportResult,
) -> dict[str, str]:
    """Find or create the prompts of new keys; returns the reasons for keys that cannot be."""
    picked = table.take(pa.array(first_rows, pa.int64()))
    rows = list(
        zip(
            keys,
            picked["prompt_id"].to_pylist(),
            picked["mode"].to_pylist(),
            picked["prompt"].to_pylist(),
            first_rows,
            strict=True,
        )
    )
    uids = list({uid for _, uid, _, _, _ in rows if uid and uid not in catalogue.by_uid})
    for chunk in _chunks(uids):
        for pk, uid, mode in Prompt.objects.filter(uid__in=chunk).values_list("pk", "uid", "mode"):
            catalogue.by_uid[uid] = (pk, mode)
    texts = list(
        {text for _, _, mode, text, _ in rows if text and (mode, text) not in catalogue.by_text}
    )
    for chunk in _chunks(texts, 100):
        for pk, mode, text in Prompt.objects.filter(text__in=chunk).values_list(
            "pk", "mode", "text"
        ):
            catalogue.by_text[(mode, text)] = pk
    failed: dict[str, str] = {}
    new: dict[tuple[str, str], tuple[Prompt, list[str], list[str]]] = {}  # (mode, text) -> …
    pending: dict[str, tuple[str, str]] = {}  # prompt_id -> (mode, text) of a prompt to create
    for key, uid, mode, text, i in rows:
        if uid and uid in pending:
            if pending[uid][0] != mode:
                failed[key] = f"prompt_id {uid!r} is a {pending[uid][0]} prompt, not {mode}"
            else:
                new[pending[uid]][1].append(key)
        elif uid and uid in catalogue.by_uid:
            pk, prompt_mode = catalogue.by_uid[uid]
            if prompt_mode != mode:
                failed[key] = f"prompt_id {uid!r} is a {prompt_mode} prompt, not {mode}"
            else:
                catalogue.prompt_keys[key] = pk
        elif text and (mode, text) in catalogue.by_text:
            catalogue.prompt_keys[key] = catalogue.by_text[(mode, text)]
        elif not text:
            failed[key] = f"prompt_id {uid!r} is unknown and the row has no prompt text"
        elif (mode, text) in new:
            new[(mode, text)][1].append(key)
        else:
            try:
                slugs = parse_categories(table["categories"][i].as_py())
            except ValueError as exc:
                failed[key] = str(exc)
                continue
            usable = uid if uid and len(uid) <= 32 and uid not in catalogue.by_uid else new_uid()
            new[(mode, text)] = (Prompt(uid=usable, mode=mode, text=text), [key], slugs)
            if uid:
                pending[uid] = (mode, text)
    if new:
        _create_prompts(list(new.values()), catalogue)
        result.prompts_created += len(new)
        for uid, (mode, text) in pending.items():
            catalogue.by_uid[uid] = (catalogue.by_text[(mode, text)], mode)
    return failed


def _create_prompts(new: list[tuple[Prompt, list[str], list[str]]], catalogue: Catalogue) -> None:
    slugs = sorted({slug for _, _, cats in new for slug in cats})
    try:
        categories = {c.slug: c for c in ensure_categories(slugs)} if slugs else {}
    except IngestError as exc:
        raise VoteImportError(str(exc)) from exc
    for prompt, _, cats in new:
        prompt.category_mask = sum(1 << categories[s].bit for s in cats)
    prompts = Prompt.objects.bulk_create([p for p, _, _ in new], batch_size=1000)
    links = [
        Prompt.categories.through(prompt_id=prompt.pk, category_id=categories[s].pk)
        for prompt, (_, _, cats) in zip(prompts, new, strict=True)
        for s in cats
    ]
    Prompt.categories.through.objects.bulk_create(links, batch_size=5000)
    for prompt, keys, _ in new:
        catalogue.by_text[(prompt.mode, prompt.text)] = prompt.pk
        catalogue.by_uid[prompt.uid] = (prompt.pk, prompt.mode)
        for key in keys:
            catalogue.prompt_keys[key] = prompt.pk


# --- inserting --------------------------------------------------------------------------


def _insert_postgres(rows: pa.Table) -> int:
    """COPY into a temporary table, then one INSERT … ON CONFLICT DO NOTHING; rows inserted."""
    buffer = io.BytesIO()
    pacsv.write_csv(rows, buffer, write_options=pacsv.WriteOptions(include_header=False))
    columns = ", ".join(INSERT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE vote_import (n bigint, uid text, battle_uid text, "
            "created_at timestamptz, arena text, mode text, prompt_id bigint, model_a_id bigint, "
            "model_b_id bigint, ext_clip_a_url text, ext_clip_b_url text, winner text, "
            "time_to_vote_ms integer, source text)"
        )
        with cursor.cursor.copy("COPY vote_import FROM STDIN (FORMAT csv)") as copy:
            copy.write(buffer.getbuffer())
        cursor.execute(
            f"INSERT INTO {Vote._meta.db_table} ({columns}, attention_check, quarantined, "
            f"invalidated) SELECT {columns}, false, false, false FROM vote_import ORDER BY n "
            "ON CONFLICT (uid) DO NOTHING"
        )
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE vote_import")
    return inserted


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
