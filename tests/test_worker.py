"""A real Celery worker, on the configured broker, processes clip ingest."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from arena import demo_media, ingest, tasks
from arena.models import Clip

pytestmark = [pytest.mark.worker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] or "postgres"
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(
    queue: str,
    media_root: Path,
    *,
    pool: str = "solo",
    env: dict[str, str] | None = None,
    output: Path | None = None,
) -> subprocess.Popen:
    """A worker process on its own queue, reading the test database and media."""
    env = (
        os.environ
        | {
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(media_root),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        }
        | (env or {})
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "arena",
            "worker",
            "--pool",
            pool,
            "--concurrency",
            "1",
            "--queues",
            queue,
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=output.open("ab") if output else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a test can kill it whole
    )


def stop_worker(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)


@pytest.fixture
def worker(transactional_db, media_root):  # noqa: ANN001, ANN201
    """A worker process on a queue of its own, reading the test database and media."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    proc = start_worker(queue, media_root)
    yield queue
    stop_worker(proc)


def test_worker_turns_a_pending_clip_ready(worker, tmp_path) -> None:  # noqa: ANN001
    source = tmp_path / "clip.mp4"
    demo_media.render_clip(
        demo_media.MODELS[0],
        demo_media.PROMPTS[0],
        source,
        width=160,
        height=96,
        seconds=1.0,
        seed=4242,
    )
    clip = ingest.add_clip(
        model="Worker Test Model",
        prompt="A worker test prompt",
        mode="text-to-video",
        categories=["nature"],
        file=source,
        process=False,
    )
    assert clip.status == Clip.Status.PENDING
    tasks.ingest_clip.apply_async((clip.pk,), queue=worker)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        clip.refresh_from_db()
        if clip.status != Clip.Status.PENDING:
            break
        time.sleep(0.25)
    assert clip.status == Clip.Status.READY, clip.reject_reason
    assert clip.rendition_silent.name and clip.poster.name
