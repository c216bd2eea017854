"""Dataset releases: build one (export_dataset, the nightly task), list them, find their files."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from arena import faults

from .exporter import export_release
from .models import DatasetRelease, Vote

FORMATS = ("parquet", "jsonl", "csv")
EXTRA_FILES = ("README.md", "manifest.json", "leaderboards.json")


def next_version(now: datetime) -> str:
    """Date-based and increasing: 2026-11-25.1, 2026-11-25.2, ...

    A version whose folder already exists in storage is skipped too: files of a release are
    never overwritten, even if the database was reset and the media kept.
    """
    day = now.strftime("%Y-%m-%d")
    n = DatasetRelease.objects.filter(version__startswith=f"{day}.").count() + 1
    while default_storage.exists(f"datasets/{day}.{n}/manifest.json"):
        n += 1
    return f"{day}.{n}"


def current_leaderboards() -> list[dict]:
    from arena import selectors
    from arena.leaderboard_api import board_payload

    views = (
        selectors.board_view(b.arena, b.mode, b.category) for b in selectors.boards_with_votes()
    )
    return [board_payload(view) for view in views if view is not None and view.snapshot]


def create_release(
    *, formats: tuple[str, ...] = FORMATS, out: Path | None = None, now: datetime | None = None
) -> tuple[DatasetRelease, Path | str]:
    """Build a new release; returns it and where its folder is (DIR if given, else storage).

    Releases are immutable: every call makes a new version and new files; nothing is
    overwritten. The files are also put in media storage, so /datasets/ lists and serves
    every release.
    """
    now = now or timezone.now()
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f"formats: choose from {', '.join(FORMATS)}")
    for _ in range(5):
        version = next_version(now)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(out) / version if out else Path(tmp) / version
            if folder.exists():
                raise ValueError(f"{folder} already exists")
            result = export_release(
                folder,
                version=version,
                formats=formats,
                now=now,
                licence=settings.ARENA_DATASET_LICENCE,
                truncate_to=settings.ARENA_DATASET_TIME,
                site_url=settings.ARENA_SITE_URL.rstrip("/"),
                leaderboards=current_leaderboards(),
            )
            try:
                with transaction.atomic():
                    # The row claims the version (unique) and commits only once every file
                    # is in storage: a build killed half-way lists nothing, and the next run
                    # draws the same version and clears what the killed one left.
                    release = DatasetRelease.objects.create(
                        version=version,
                        created_at=result.created_at,
                        rows=result.rows,
                        folder=f"datasets/{version}",
                        manifest=_manifest(folder),
                        licence=settings.ARENA_DATASET_LICENCE,
                    )
                    publish(folder, release.folder)
            except IntegrityError:
                if out:
                    shutil.rmtree(folder)
                continue  # another release took this version meanwhile: draw the next
            where: Path | str = folder if out else _storage_location(release.folder)
            return release, where
    raise RuntimeError("could not allocate a release version")


def publish(folder: Path, name: str) -> None:
    """Copy a built release into storage, manifest.json last (a folder without one is partial).

    Call while holding the release's row uncommitted: leftovers of a killed build of the
    same version are removed first, so names are never suffixed by the storage.
    """
    _clear(name)
    try:
        paths = sorted(folder.iterdir(), key=lambda p: (p.name == "manifest.json", p.name))
        for index, path in enumerate(paths):
            with path.open("rb") as handle:
                default_storage.save(f"{name}/{path.name}", File(handle))
            if index == 0:
                faults.pause_point("release-publish-midway")
    except BaseException:
        _clear(name)
        raise


def _clear(name: str) -> None:
    try:
        _, files = default_storage.listdir(name)
    except FileNotFoundError:
        return
    for leftover in files:
        default_storage.delete(f"{name}/{leftover}")


def _manifest(folder: Path) -> dict:
    import json

    return json.loads((folder / "manifest.json").read_text())


def _storage_location(name: str) -> Path | str:
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:
        return name


def latest_is_current() -> bool:
    """Whether the newest release already holds every counted vote (nothing new since)."""
    latest = DatasetRelease.objects.order_by("-created_at").first()
    if latest is None:
        return False
    counted = Vote.objects.counted()
    return (
        counted.count() == latest.rows
        and not counted.filter(created_at__gt=latest.created_at).exists()
    )


def release_files(release: DatasetRelease) -> list[str]:
    names = [f["name"] for f in release.manifest.get("files", [])]
    return names + [n for n in EXTRA_FILES if default_storage.exists(f"{release.folder}/{n}")]
