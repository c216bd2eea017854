"""/healthz reports the database, the cache, the broker and the workers' heartbeat."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from django.test import Client

from arena import health, tasks
from arena.settings import cache_from_url

from .test_worker import worker  # noqa: F401 - the real-worker fixture


def healthz() -> tuple[int, dict]:
    response = Client().get("/healthz")
    return response.status_code, response.json()


@pytest.fixture
def shared_cache(settings, tmp_path: Path) -> str:  # noqa: ANN001
    """A cache that web and worker processes share (a file cache: Redis works the same)."""
    url = f"file://{tmp_path / 'cache'}"
    settings.CACHES = {"default": cache_from_url(url)}
    return url


def test_it_reports_database_cache_and_broker(db) -> None:  # noqa: ANN001
    health.record_heartbeat()  # on a shared cache (Redis) the worker check needs one
    status, body = healthz()
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"] == "ok"
    assert body["checks"]["broker"] == "ok"


def test_it_says_the_worker_is_unknown_with_a_per_process_cache(db, settings) -> None:  # noqa: ANN001
    settings.CACHES = {"default": cache_from_url("locmem://healthz")}
    status, body = healthz()
    assert status == 200
    assert body["checks"]["worker"].startswith("unknown: ")


def test_it_fails_when_no_worker_was_ever_seen(db, shared_cache) -> None:  # noqa: ANN001
    status, body = healthz()
    assert status == 503
    assert body["status"] == "error"
    assert body["checks"]["worker"] == "error: no worker seen"


def test_the_heartbeat_task_makes_the_worker_healthy(db, shared_cache) -> None:  # noqa: ANN001
    tasks.heartbeat()
    status, body = healthz()
    assert status == 200, body
    assert body["checks"]["worker"] == "ok"
    assert 0 <= body["worker"]["last_seen_seconds"] < 5
    assert body["worker"]["hostname"] == socket.gethostname()


def test_a_stale_heartbeat_fails_with_its_age(db, shared_cache, settings) -> None:  # noqa: ANN001
    settings.ARENA_HEARTBEAT_MAX_AGE = 120
    health.record_heartbeat(hostname="w1", now=time.time() - 600)
    status, body = healthz()
    assert status == 503
    assert body["checks"]["worker"].startswith("error: last heartbeat 600 s ago (limit 120 s)")
    assert body["worker"]["hostname"] == "w1"


def test_an_unreachable_broker_fails_quickly(db, settings) -> None:  # noqa: ANN001
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{port}//"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    started = time.monotonic()
    status, body = healthz()
    assert time.monotonic() - started < health.BROKER_TIMEOUT_SECONDS
    assert status == 503
    assert body["checks"]["broker"].startswith("error: ")
    assert body["checks"]["database"] == "ok"


def test_only_get_and_head_are_allowed(db) -> None:  # noqa: ANN001
    response = Client().post("/healthz")
    assert response.status_code == 405


@pytest.fixture
def cache_shared_with_worker(settings, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Redis when the run has it (CACHE_URL), else a file cache the worker is pointed at."""
    if health._cache_is_local():
        url = f"file://{tmp_path / 'cache'}"
        monkeypatch.setenv("CACHE_URL", url)
        settings.CACHES = {"default": cache_from_url(url)}


@pytest.mark.worker
@pytest.mark.slow
def test_a_real_worker_reports_in_on_start(cache_shared_with_worker, worker) -> None:  # noqa: ANN001, F811
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, body = healthz()
        if body["checks"]["worker"] == "ok":
            break
        time.sleep(0.25)
    assert status == 200, body
    assert body["worker"]["last_seen_seconds"] < 60
