"""Plain SQL for the vote loop: prepared statements on PostgreSQL, one-row inserts.

The ORM compiles every query anew on every request; on the two endpoints that make up
most of the traffic that compiling costs more CPU than PostgreSQL spends running them.
These helpers keep Django's connection handling (health checks, error translation, query
logging in tests) and skip the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Model

try:
    from django.db.backends.postgresql.base import ServerBindingCursor
except ImportError:  # psycopg is not installed: only SQLite is in use
    ServerBindingCursor = None


if ServerBindingCursor is not None:

    class PreparedCursor(ServerBindingCursor):
        """Binds parameters on the server and prepares each statement on first use.

        Django turns psycopg's automatic preparing off for the connection (it would break
        transaction-pooling proxies); these few fixed statements opt back in, because
        planning the vote's statement costs PostgreSQL more than running it. Behind
        PgBouncer in transaction mode, set DATABASE_PREPARED=false (settings).
        """

        def execute(self, query, params=None, *, prepare=None, binary=None):  # noqa: ANN001, ANN201
            return super().execute(query, params, prepare=True, binary=binary)


@contextmanager
def cursor(*, prepared: bool = True) -> Iterator[Any]:
    """A cursor on the default connection; on PostgreSQL its statements are prepared."""
    from django.conf import settings

    # The connection itself, once: each attribute read through django.db.connection goes
    # through a thread-local lookup, and this runs three times per battle and vote.
    conn = connections[DEFAULT_DB_ALIAS]
    if (
        conn.vendor != "postgresql"
        or ServerBindingCursor is None
        or not prepared
        or not settings.DATABASE_PREPARED
    ):
        with conn.cursor() as plain:
            yield plain
        return
    # What connection.cursor() does, with our cursor class instead of the connection's.
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    conn.validate_thread_sharing()
    with conn.wrap_database_errors:
        raw = PreparedCursor(conn.connection)
    wrap = conn.make_debug_cursor if conn.queries_logged else conn.make_cursor
    with wrap(raw) as wrapped:
        yield wrapped


def _value(field: Any, values: dict[str, Any]) -> Any:
    return values[field.attname] if field.attname in values else field.get_default()


_inserts: dict[tuple[type[Model], str], tuple[str, list, list[bool]]] = {}
# Fields whose Python values psycopg sends as they are: their get_db_prep_save only checks
# and converts what the hot path never passes (strings for numbers, naive datetimes...).
_PLAIN = {
    models.AutoField,
    models.BigAutoField,
    models.BigIntegerField,
    models.BooleanField,
    models.CharField,
    models.DateTimeField,
    models.FloatField,
    models.IntegerField,
    models.PositiveIntegerField,
}


def _needs_prep(field: Any, vendor: str) -> bool:
    if vendor != "postgresql":
        return True
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    # Exact classes only: a subclass may convert (a JSON or an encrypted field, say).
    return type(field) not in _PLAIN


def insert_row(
    model: type[Model],
    values: dict[str, Any],
    *,
    also: tuple[str, list] | None = None,
    durable: bool = True,
) -> int:
    """INSERT one row of `model` (fields by attname, defaults for the rest); its new id.

    No signals and no save(): for models whose rows are written only like this on the hot
    path (battles). The statement is built once per model from its fields, so a field
    added to the model is written too. `also` is one more data-modifying statement and its
    parameters, run with the insert: on PostgreSQL in the same statement (one round trip,
    one atomic write), elsewhere just before it.

    `durable=False` commits the row without waiting for the WAL to reach the disk, on
    PostgreSQL: for a row that a crash may lose (it is not acknowledged as kept), such as a
    battle not yet voted on. A later durable commit (the vote) flushes it first.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    key = (model, connection.vendor)
    if key not in _inserts:
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} "
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        if connection.features.can_return_columns_from_insert:
            sql += f" RETURNING {quote(model._meta.pk.column)}"
        _inserts[key] = (sql, fields, [_needs_prep(f, connection.vendor) for f in fields])
    sql, fields, prep = _inserts[key]
    if not durable and connection.vendor == "postgresql":
        # Set for this transaction only, which the statement is; it is read at commit.
        sql += ", set_config('synchronous_commit', 'off', true)"
    params = []
    for field, needs_prep in zip(fields, prep, strict=True):
        value = values[field.attname] if field.attname in values else field.get_default()
        params.append(field.get_db_prep_save(value, connection) if needs_prep else value)
    with cursor() as c:
        if also is not None and connection.vendor == "postgresql":
            sql = f"WITH also AS ({also[0]}) {sql}"
            params = also[1] + params
        elif also is not None:
            c.execute(*also)
        c.execute(sql, params)
        if connection.features.can_return_columns_from_insert:
            return c.fetchone()[0]
        return c.lastrowid
