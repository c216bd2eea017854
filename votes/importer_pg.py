"""Loading checked vote rows into PostgreSQL for import_votes.

The fast path COPYs a batch straight into votes_vote: no staging table, no INSERT … SELECT,
no ON CONFLICT. That is only right when none of the batch's vote ids is stored yet, so:
- duplicates within the batch are dropped first (the first row of an id wins);
- while the import finds nothing already stored, the COPY is tried as is. A vote id that is
  stored makes it fail on the unique constraint, and it is rolled back to a savepoint;
- after such a failure the importer asks which ids are stored before each COPY and sends
  only the others, until a batch has none stored again (re-imports and resumed imports);
- if a COPY still meets a stored id (another import committed the same votes meanwhile), the
  batch goes the safe way: COPY into a temporary table, INSERT … ON CONFLICT DO NOTHING.
A vote that is already stored is therefore never written twice, whatever runs alongside.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from django.db import connection, transaction
from psycopg import errors

from .models import Vote

UID_CONSTRAINT = "vote_uid_unique"
FLAGS = ("attention_check", "quarantined", "invalidated")
# Sent as one newline-separated string, split by the server: adapting a list of 100 000
# Python strings costs the client more than the lookup costs the server.
SEPARATOR = "\n"


class PostgresLoader:
    """Inserts batches of rows (the columns of votes_vote, plus `n`, the file position)."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.optimistic = True  # nothing stored met yet: COPY without asking first

    def insert(self, rows: pa.Table) -> int:
        """Insert the rows whose vote id is not stored yet; returns how many were inserted.

        Call inside the batch's transaction.
        """
        with connection.cursor() as cursor:
            # The insert trigger's transition table holds the batch; keep it out of temp files.
            cursor.execute("SET LOCAL work_mem = '128MB'")
            # Not waiting for this batch's WAL to reach the disk: the import's last transaction
            # (see importer.import_votes) commits synchronously, which flushes every batch's
            # WAL before the command answers. A crash before then loses at most the batches
            # of the last moments, which re-running the import adds.
            cursor.execute("SET LOCAL synchronous_commit = off")
        rows = first_of_each_uid(rows)
        if self.optimistic and self._copied(rows):
            return rows.num_rows
        stored = stored_uids(rows["uid"])
        # Back to the plain COPY once a batch has nothing stored (a resumed import past the
        # rows of its first run).
        self.optimistic = not len(stored)
        if len(stored):
            rows = rows.filter(pc.invert(pc.is_in(rows["uid"], value_set=stored)))
        if not rows.num_rows:
            return 0
        if self._copied(rows):
            return rows.num_rows
        return self._insert_staged(rows)

    def _copied(self, rows: pa.Table) -> bool:
        """COPY the rows; False, and nothing written, if one of their ids is stored."""
        try:
            with transaction.atomic():
                self._copy(rows)
        except errors.UniqueViolation as exc:
            if exc.diag.constraint_name != UID_CONSTRAINT:
                raise
            return False
        return True

    def _copy(self, rows: pa.Table) -> None:
        flags = pa.repeat(False, rows.num_rows)
        data = rows.select(list(self.columns))
        for name in FLAGS:
            data = data.append_column(name, flags)
        columns = ", ".join((*self.columns, *FLAGS))
        _copy(f"COPY {Vote._meta.db_table} ({columns}) FROM STDIN (FORMAT csv)", data)

    def _insert_staged(self, rows: pa.Table) -> int:
        """COPY into a temporary table, then one INSERT … ON CONFLICT DO NOTHING."""
        columns = ", ".join(self.columns)
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE vote_import (n bigint, uid text, battle_uid text, "
                "created_at timestamptz, arena text, mode text, prompt_id bigint, "
                "model_a_id bigint, model_b_id bigint, ext_clip_a_url text, "
                "ext_clip_b_url text, winner text, time_to_vote_ms integer, source text)"
            )
            _copy("COPY vote_import FROM STDIN (FORMAT csv)", rows.select(["n", *self.columns]))
            cursor.execute(
                f"INSERT INTO {Vote._meta.db_table} ({columns}, {', '.join(FLAGS)}) "
                f"SELECT {columns}, false, false, false FROM vote_import ORDER BY n "
                "ON CONFLICT (uid) DO NOTHING"
            )
            inserted = cursor.rowcount
            cursor.execute("DROP TABLE vote_import")
        return inserted


class PipelinedWriter:
    """Inserts batches from a helper thread, on that thread's own connection, one at a time.

    The caller prepares batch k+1 (generators, prompts, rows) while batch k is being written;
    each batch is its own transaction on the helper's connection. One writer at a time keeps
    the vote ids of a batch together, which the fold's gap tracking relies on.
    """

    def __init__(self, loader: PostgresLoader) -> None:
        self.loader = loader
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-write")
        self.pending: tuple[Future[int], int] | None = None

    def submit(self, rows: pa.Table) -> list[tuple[int, int]]:
        """Start writing `rows` once the batch before is written; returns that batch's
        (rows offered, rows inserted), if there was one. Call outside a transaction: the
        rows may name prompts that the helper's connection must see committed."""
        done = self.wait()
        self.pending = (self.pool.submit(self._write, rows), rows.num_rows)
        return done

    def wait(self) -> list[tuple[int, int]]:
        """Wait for the batch being written; its (rows offered, rows inserted), if any."""
        if self.pending is None:
            return []
        future, offered = self.pending
        self.pending = None
        return [(offered, future.result())]

    def close(self) -> None:
        """Wait for the helper (dropping any error: call wait() first to see it) and close
        its connection."""
        if self.pending is not None:
            self.pending[0].exception()
        self.pool.submit(lambda: connection.close()).result()  # the helper's connection
        self.pool.shutdown()

    def _write(self, rows: pa.Table) -> int:
        with transaction.atomic():
            return self.loader.insert(rows)


def _copy(sql: str, table: pa.Table) -> None:
    # Arrow writes zoned timestamps twenty times slower than naive ones: write the UTC
    # wall-clock time, marked as UTC.
    at = table.schema.get_field_index("created_at")
    naive = pc.cast(table["created_at"], pa.timestamp("us"))
    text = pc.binary_join_element_wise(pc.cast(naive, pa.string()), "Z", "")
    table = table.set_column(at, "created_at", text)
    # In arrow's memory pool (see importer._returning_memory), not a BytesIO grown by copying.
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=False))
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.write(memoryview(sink.getvalue()))


def first_of_each_uid(rows: pa.Table) -> pa.Table:
    """The rows without later repeats of a vote id (rows are in file order)."""
    if len(pc.unique(rows["uid"])) == rows.num_rows:
        return rows
    index = pa.table({"uid": rows["uid"], "i": pa.array(np.arange(rows.num_rows))})
    firsts = index.group_by("uid").aggregate([("i", "min")])["i_min"]
    keep = np.zeros(rows.num_rows, dtype=bool)
    keep[firsts.to_numpy()] = True
    return rows.filter(pa.array(keep))


def stored_uids(uids: pa.ChunkedArray) -> pa.Array:
    """Which of these vote ids are stored (or being stored by a transaction we can see)."""
    # Sorted, the lookups walk the uid index in order instead of jumping about.
    values = pc.array_sort_indices(uids.combine_chunks())
    values = pc.take(uids.combine_chunks(), values)
    if pc.any(pc.match_substring(values, SEPARATOR)).as_py():
        params, split = [values.to_pylist()], "unnest(%s::text[])"
    else:
        one_list = pa.ListArray.from_arrays(pa.array([0, len(values)], pa.int32()), values)
        joined = pc.binary_join(one_list, SEPARATOR)[0].as_py()
        params, split = [joined], "string_to_table(%s, E'\\n')"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT v.uid FROM {split} AS u(uid) JOIN {Vote._meta.db_table} v ON v.uid = u.uid",
            params,
        )
        return pa.array([row[0] for row in cursor.fetchall()], pa.string())
