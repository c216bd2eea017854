"""Django's PostgreSQL backend, whose per-request health check costs no round trip.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first query of every request
on a persistent connection: on the vote path that is one round trip in three, and
PostgreSQL CPU for each. A connection that PostgreSQL closed (a restart, a terminated
backend, a proxy or the network dropping it) has something waiting on its socket: the
server's last error message, or the end of the stream. So the check polls the socket
first, without blocking: nothing there (an idle, healthy connection) means usable, as far
as `SELECT 1` could tell too; anything there, or a connection psycopg already knows is
broken, gets Django's own check, which closes it if it fails. A connection that errored
during a request is still checked (and closed) at the end of it by Django, as before.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper


def _quiet(fd: int) -> bool:
    """True if nothing (no data, no hang-up, no error) is waiting on this socket now."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return not poller.poll(0)


class DatabaseWrapper(PostgresWrapper):
    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.pool
            and not self.connection.closed
            and not getattr(self.connection, "broken", False)  # psycopg 3; psycopg2 has none
            and _quiet(self.connection.fileno())
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
