"""Reading a release's votes: counted votes in id order, one arrow table per page.

COPY of a keyset page on PostgreSQL (parsed by arrow, no Python object per row, the next
page fetched by a helper thread while the caller writes the last), a plain cursor elsewhere.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection

from .export_format import DICT, STRING
from .models import Vote

# Columns read per vote; created_at as integer microseconds since the epoch.
RAW = {
    "id": pa.int64(),
    "uid": STRING,
    "battle_uid": STRING,
    "created_us": pa.int64(),
    "arena": DICT,
    "mode": DICT,
    "prompt_id": pa.int64(),
    "model_a_id": pa.int64(),
    "model_b_id": pa.int64(),
    "clip_a_id": pa.int64(),
    "clip_b_id": pa.int64(),
    "ext_clip_a_url": STRING,
    "ext_clip_b_url": STRING,
    "winner": DICT,
    "voter_id": pa.int64(),
    "time_to_vote_ms": pa.int64(),
    "source": DICT,
}
# Mirrors VoteQuerySet.counted(); tests check the two agree.
COUNTED_SQL = "NOT (quarantined OR invalidated OR attention_check)"


def _select(created: str, last: int, limit: int) -> str:
    names = list(RAW)
    names[names.index("created_us")] = created
    return (
        f"SELECT {', '.join(names)} FROM {Vote._meta.db_table} "
        f"WHERE id > {int(last)} AND {COUNTED_SQL} ORDER BY id LIMIT {int(limit)}"
    )


def read_chunks(chunk_rows: int) -> Iterator[pa.Table]:
    """Counted votes in id order, `chunk_rows` at a time (keyset pagination)."""
    if connection.vendor == "postgresql":
        yield from _read_copy_ahead(chunk_rows)
        return
    last = 0
    while (raw := _read_cursor(last, chunk_rows)) is not None:
        yield raw
        if raw.num_rows < chunk_rows:
            return
        last = raw["id"][-1].as_py()


def _read_copy_ahead(chunk_rows: int) -> Iterator[pa.Table]:
    """PostgreSQL pages, each fetched by a helper thread while the caller writes the last.

    The thread uses the same (psycopg) connection, so the same transaction and snapshot; the
    caller does not touch the database while a fetch is pending.
    """
    connection.ensure_connection()
    raw_connection = connection.connection
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_read_copy, raw_connection, 0, chunk_rows)
        while pending is not None:
            raw = pending.result()
            if raw is None:
                return
            pending = None
            if raw.num_rows == chunk_rows:
                last = raw["id"][-1].as_py()
                pending = pool.submit(_read_copy, raw_connection, last, chunk_rows)
            yield raw


def _read_copy(raw_connection: Any, last: int, limit: int) -> pa.Table | None:
    """COPY one page as CSV and parse it with arrow: no Python object per row."""
    sql = _select("(extract(epoch FROM created_at) * 1000000)::bigint", last, limit)
    buffer = io.BytesIO()
    with raw_connection.cursor() as cursor:
        with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
            for data in copy:
                buffer.write(data)
    if not buffer.tell():
        return None
    buffer.seek(0)
    return pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=list(RAW), block_size=16 << 20),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=RAW, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )


def _read_cursor(last: int, limit: int) -> pa.Table | None:
    with connection.cursor() as cursor:
        cursor.execute(_select("created_at", last, limit))
        rows = cursor.fetchall()
    if not rows:
        return None
    columns = dict(zip(RAW, zip(*rows, strict=True), strict=True))
    columns["created_us"] = tuple(_micros(v) for v in columns["created_us"])
    return pa.table(
        {
            name: pa.array(columns[name], STRING).dictionary_encode()
            if kind == DICT
            else pa.array(columns[name], kind)
            for name, kind in RAW.items()
        }
    )


def _micros(value: datetime | str) -> int:
    if isinstance(value, str):  # SQLite hands back text
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
