"""Ingest generated clips from a JSONL manifest."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from arena import ingest, tasks

FIELDS = {"model", "prompt", "mode", "categories", "file", "input_image"}


def parse_line(raw: str, base: Path) -> dict:
    """One manifest line -> add_clip's keyword arguments; IngestError says what is wrong."""
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ingest.IngestError(f"not valid JSON ({exc.msg})") from exc
    if not isinstance(item, dict):
        raise ingest.IngestError("a line must be a JSON object")
    unknown = set(item) - FIELDS
    if unknown:
        raise ingest.IngestError(f"unknown field(s): {', '.join(sorted(unknown))}")
    for key in ("model", "prompt", "mode", "file"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise ingest.IngestError(f"{key!r} is required and must be a non-empty string")
    categories = item.get("categories", [])
    if not isinstance(categories, list) or not all(
        isinstance(c, str) and c.strip() for c in categories
    ):
        raise ingest.IngestError("'categories' must be a list of slugs")
    image = item.get("input_image")
    if image is not None and not isinstance(image, str):
        raise ingest.IngestError("'input_image' must be a path")
    return {
        "model": item["model"],
        "prompt": item["prompt"],
        "mode": item["mode"],
        "categories": [c.strip().lower() for c in categories],
        "file": (base / item["file"]).resolve(),
        "input_image": (base / image).resolve() if image else None,
    }


class Command(BaseCommand):
    help = (
        "Ingest clips listed in a JSONL manifest, one clip a line: "
        '{"model", "prompt", "mode", "categories", "file", "input_image" (image-to-video)}. '
        "Paths are relative to the manifest. Each line stands alone: a bad line or file is "
        "reported with its line number and reason and nothing of it is stored; the good "
        "lines are imported. Exits non-zero if any line was refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("manifest", type=Path)
        parser.add_argument(
            "--background",
            action="store_true",
            help="validate and store now, but leave renditions and posters to the workers",
        )

    def handle(self, *args, manifest: Path, background: bool, verbosity: int, **options) -> None:
        if not manifest.is_file():
            raise CommandError(f"{manifest}: no such file")
        lines = manifest.read_text(encoding="utf-8").splitlines()
        base = manifest.resolve().parent
        added, errors = 0, []
        for number, raw in enumerate(
            tqdm(lines, desc="clips", unit="clip", disable=verbosity == 0, file=self.stderr),
            start=1,
        ):
            if not raw.strip():
                continue
            try:
                clip = ingest.add_clip(**parse_line(raw, base), process=not background)
            except ingest.IngestError as exc:
                errors.append(f"line {number}: {exc}")
                continue
            if background:
                tasks.ingest_clip.delay_on_commit(clip.pk)
            added += 1
        for error in errors:
            self.stderr.write(self.style.ERROR(error))
        self.stdout.write(f"{added} clip(s) imported, {len(errors)} line(s) refused.")
        if errors:
            raise CommandError(f"{len(errors)} line(s) refused; see above")
