"""Health of the deployment for /healthz: database, cache, broker and the workers' heartbeat.

Each check is cheap (one query, one cache round trip, one broker connection with a short
timeout, one cache read) and returns "ok", "error: <why>" or, for the worker when it cannot
be known, "unknown: <why>"; only an error makes the site unhealthy.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

HEARTBEAT_KEY = "arena:worker-heartbeat"
BROKER_TIMEOUT_SECONDS = 2.0


def record_heartbeat(*, hostname: str | None = None, now: float | None = None) -> None:
    """Called by every worker on start and by the periodic heartbeat task."""
    beat = {"at": time.time() if now is None else now, "hostname": hostname or socket.gethostname()}
    # Kept well past the max age, so that a stale heartbeat reads as stale, not as missing.
    cache.set(HEARTBEAT_KEY, beat, timeout=max(settings.ARENA_HEARTBEAT_MAX_AGE * 10, 3600))


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure is what a health check reports
        return f"error: {exc.__class__.__name__}"
    return "ok"


def check_cache() -> str:
    try:
        cache.set("healthz", "ok", 10)
        return "ok" if cache.get("healthz") == "ok" else "error: no round trip"
    except Exception as exc:  # noqa: BLE001
        return f"error: {exc.__class__.__name__}"


def check_broker() -> str:
    from kombu import Connection

    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=BROKER_TIMEOUT_SECONDS,
        ) as conn:
            # One attempt, no retry (max_retries=1 would sleep 2 s and try again): a health
            # probe must answer quickly.
            conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001
        return f"error: {exc.__class__.__name__}"
    return "ok"


def _cache_is_local() -> bool:
    backend = settings.CACHES["default"]["BACKEND"]
    return backend.endswith(("LocMemCache", "DummyCache"))


def check_worker(now: float | None = None) -> tuple[str, dict[str, Any]]:
    """The newest heartbeat: its age decides; with a per-process cache it cannot be seen."""
    if _cache_is_local():
        return "unknown: the cache is local to each process (set CACHE_URL)", {}
    try:
        beat = cache.get(HEARTBEAT_KEY)
    except Exception as exc:  # noqa: BLE001
        return f"error: {exc.__class__.__name__}", {}
    if not beat:
        return "error: no worker seen", {}
    age = max(0.0, (time.time() if now is None else now) - float(beat["at"]))
    detail = {"last_seen_seconds": round(age, 1), "hostname": beat.get("hostname", "")}
    limit = settings.ARENA_HEARTBEAT_MAX_AGE
    if age > limit:
        return f"error: last heartbeat {age:.0f} s ago (limit {limit} s)", detail
    return "ok", detail


def report() -> tuple[bool, dict[str, Any]]:
    """(healthy, the /healthz body)."""
    worker, worker_detail = check_worker()
    checks = {
        "database": check_database(),
        "cache": check_cache(),
        "broker": check_broker(),
        "worker": worker,
    }
    healthy = not any(value.startswith("error") for value in checks.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "error", "checks": checks}
    if worker_detail:
        body["worker"] = worker_detail
    return healthy, body
