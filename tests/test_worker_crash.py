"""A worker killed with SIGKILL in the middle of a recompute or an export: the next run finishes.

"The middle" is made deterministic by a test-only pause point (arena.faults): the worker
processes started here get ARENA_FAULT_PAUSE_DIR, and the first run to reach a named point
writes its pid there and sleeps until it is killed. The re-delivered or next run passes the
point and finishes; the tests then check that nothing is doubled or half-written.

Two deaths: the pool process running the task (what the OOM killer picks), after which the
worker re-queues the task itself (acks_late + reject_on_worker_lost) on any broker; and the
whole worker, after which a broker that tracks unacknowledged messages (AMQP) hands the task
to the next worker. The filesystem broker cannot: there the next scheduled run does the work,
which the test stands in for by sending it again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Count
from django.test import Client

from arena import boards, demo_votes
from arena import tasks as arena_tasks
from arena.celery import app as celery_app
from arena.models import Board, FoldState, Snapshot
from votes import tasks as votes_tasks
from votes.models import DatasetRelease, Vote
from votes.releases import release_files

from .test_worker import start_worker, stop_worker

pytestmark = [pytest.mark.worker, pytest.mark.slow]

PAUSE_RECOMPUTE = "recompute-between-boards"
PAUSE_EXPORT = "release-publish-midway"


def wait_for(condition: Callable[[], object], what: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    output = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    pytest.fail(f"timed out waiting for {what}; worker output:\n{output}")


class Workers:
    """Worker processes for one test, with the pause point armed."""

    def __init__(self, media_root: Path, tmp_path: Path) -> None:
        self.queue = f"crash-{uuid.uuid4().hex[:8]}"
        self.media_root = media_root
        self.pauses = tmp_path / "pauses"
        self.pauses.mkdir()
        self.log = tmp_path / "worker.log"
        self.procs: list = []

    def start(self):  # noqa: ANN201
        env = {
            "ARENA_FAULT_PAUSE_DIR": str(self.pauses),
            "ARENA_BOOTSTRAP_ROUNDS": "50",
            "ARENA_MIN_VOTES_LISTED": "5",
        }
        proc = start_worker(
            self.queue, self.media_root, pool="prefork", env=env, output=self.log
        )
        self.procs.append(proc)
        return proc

    def paused_pid(self, point: str) -> int:
        """Wait until a run reaches `point`; the pid of the process that sleeps there."""
        marker = self.pauses / f"{point}.paused"
        wait_for(lambda: marker.exists() and marker.read_text().strip(), point, self.log)
        return int(marker.read_text())

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                stop_worker(proc)


@pytest.fixture
def workers(demo_live, media_root: Path, tmp_path: Path) -> Iterator[Workers]:  # noqa: ANN001
    demo_votes.simulate_votes(120, voters=10, seed=7)
    crew = Workers(media_root, tmp_path)
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False  # the tests' default; these go to the broker
    yield crew
    celery_app.conf.task_always_eager = eager
    crew.stop()


def kill_pool_process(crew: Workers, pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def kill_whole_worker(crew: Workers, pid: int) -> None:  # noqa: ARG001
    proc = crew.procs[-1]
    os.killpg(proc.pid, signal.SIGKILL)  # the main process and its pool, no goodbye
    proc.wait(timeout=20)
    crew.start()


KILLS = {"pool-process": kill_pool_process, "whole-worker": kill_whole_worker}


def resend_if_lost(crew: Workers, kill: str, send: Callable[[], object]) -> None:
    if kill == "whole-worker" and settings.CELERY_BROKER_URL.startswith("filesystem"):
        send()  # the filesystem broker lost the message with its consumer: the next run


def recompute_done() -> bool:
    lease_free = FoldState.objects.filter(pk=1, lease_owner="").exists()
    stale = [b for b in Board.objects.all() if b.latest_id is None or b.version != b.fitted_version]
    return lease_free and Board.objects.exists() and not stale


@pytest.mark.parametrize("kill", list(KILLS))
def test_a_recompute_killed_between_boards_finishes_on_the_next_run_without_doubling(
    workers: Workers, kill: str
) -> None:
    counted = Vote.objects.counted().count()
    assert counted > 50 and not Snapshot.objects.exists()
    send = lambda: arena_tasks.recompute_leaderboards.apply_async(queue=workers.queue)  # noqa: E731
    workers.start()
    send()

    pid = workers.paused_pid(PAUSE_RECOMPUTE)
    # Killed after the fold and the first board's snapshot, before the other boards.
    assert Snapshot.objects.count() == 1
    assert FoldState.objects.get(pk=1).vote_watermark > 0
    KILLS[kill](workers, pid)
    resend_if_lost(workers, kill, send)
    wait_for(recompute_done, "the recompute to finish", workers.log)

    # One snapshot per board: the board done before the kill was not fitted again.
    per_board = Snapshot.objects.values("board").annotate(n=Count("id"))
    assert {row["n"] for row in per_board} == {1}
    assert len(per_board) == Board.objects.count() > 1
    # The votes were folded once: the counts equal a recount from scratch.
    folded = {b.pk: b.counts for b in Board.objects.all()}
    boards.rebuild_counts()
    assert {b.pk: b.counts for b in Board.objects.all()} == folded
    overall = Board.objects.filter(category=Board.OVERALL)
    assert sum(b.votes for b in overall) == counted


def storage_files(folder: str) -> set[str]:
    try:
        return set(default_storage.listdir(folder)[1])
    except FileNotFoundError:
        return set()


@pytest.mark.parametrize("kill", list(KILLS))
def test_an_export_killed_while_publishing_lists_nothing_half_written(
    workers: Workers, kill: str
) -> None:
    # Releases of earlier tests (their rows are gone with the flushed database) would muddle it.
    shutil.rmtree(Path(default_storage.path("datasets")), ignore_errors=True)
    send = lambda: votes_tasks.build_dataset_release.apply_async(queue=workers.queue)  # noqa: E731
    workers.start()
    send()

    pid = workers.paused_pid(PAUSE_EXPORT)
    # Half the files are in storage, but no release is listed.
    assert not DatasetRelease.objects.exists()
    assert Client().get("/api/v1/datasets/").json() == []
    [partial] = default_storage.listdir("datasets")[0]
    assert storage_files(f"datasets/{partial}") and "manifest.json" not in storage_files(
        f"datasets/{partial}"
    )
    KILLS[kill](workers, pid)
    resend_if_lost(workers, kill, send)
    wait_for(DatasetRelease.objects.exists, "the export to finish", workers.log)

    [release] = DatasetRelease.objects.all()
    assert release.rows == Vote.objects.counted().count()
    listed = Client().get("/api/v1/datasets/").json()
    assert [r["version"] for r in listed] == [release.version]
    # The one folder in storage is the release's, complete: the manifest's files and sizes
    # and hashes match, nothing of the killed run is left beside them.
    assert default_storage.listdir("datasets")[0] == [release.version]
    names = storage_files(release.folder)
    manifest = release.manifest
    assert {f["name"] for f in manifest["files"]} | {"manifest.json", "README.md"} <= names
    for entry in manifest["files"]:
        with default_storage.open(f"{release.folder}/{entry['name']}", "rb") as handle:
            data = handle.read()
        assert len(data) == entry["bytes"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert names == set(release_files(release))  # no leftover, no renamed duplicate
