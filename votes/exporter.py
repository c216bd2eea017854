"""Dataset releases: every counted vote, streamed to Parquet, JSONL and CSV, with a datasheet.

Contract:
- One row per counted vote (`Vote.objects.counted()`), ordered by vote id, in the columns of
  INTERFACES.md "Dataset release". All rows and counts of a release come from one snapshot
  (REPEATABLE READ on PostgreSQL when not already inside a transaction).
- Streaming: votes are read in id-ordered chunks (COPY of a keyset page on PostgreSQL, a plain
  cursor elsewhere) and each chunk becomes one pyarrow table written to every format, so
  memory stays bounded by the chunk, the catalogue and the pseudonym cache.
- Voters are pseudonymised with HMAC-SHA256 under a key drawn for this release and never
  stored: stable within a release, unlinkable across releases. Nothing else about voters.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection, transaction

from arena.mediastore import input_image_path
from arena.models import Clip, Generator, Prompt

from .datasheet import render_readme
from .export_format import COLUMNS, SCHEMA, STRING, WRITERS, digest, single
from .export_reader import COUNTED_SQL, read_chunks
from .export_tally import ReleaseTally
from .models import Vote

__all__ = ["COLUMNS", "FORMATS", "ExportResult", "export_release"]

FORMATS = {"parquet": "votes.parquet", "jsonl": "votes.jsonl.gz", "csv": "votes.csv.gz"}
# Votes per page read and row group written. Memory grows with the page and with the number
# of formats written at once (each holds a few copies of a page as text or arrow arrays, and
# the next page is read ahead); Parquet is faster with larger pages. Measured at 10M votes
# (bench/export.py): Parquet alone, 100 000: 226k rows/s, 430 MB; all three formats, 50 000:
# 397 MB, 100 000: 533 MB. So one format gets 100 000 and several get 50 000.
CHUNK_ROWS = {1: 100_000}
CHUNK_ROWS_SEVERAL = 50_000


def chunk_rows_for(formats: Sequence[str]) -> int:
    return CHUNK_ROWS.get(len(formats), CHUNK_ROWS_SEVERAL)


TRUNCATE_US = {"none": 1, "minute": 60_000_000, "hour": 3_600_000_000, "day": 86_400_000_000}


@dataclass
class ExportResult:
    version: str
    created_at: datetime
    rows: int
    files: list[dict]  # [{"format", "name", "sha256", "bytes"}]
    counts: dict  # rows, per arena / mode / category / model, date range, filtered out


def export_release(
    out_dir: Path,
    *,
    version: str,
    formats: Sequence[str] = ("parquet", "jsonl", "csv"),
    now: datetime,
    licence: str = "CC-BY-4.0",
    truncate_to: str = "hour",
    site_url: str = "",
    leaderboards: list[dict] | None = None,
    chunk_rows: int | None = None,
) -> ExportResult:
    """Write a release into `out_dir` (created; must be empty) and return what it holds.

    `site_url` prefixes the clip and input-image addresses of native votes ("" keeps them
    site-relative); `leaderboards`, if given, are written as they are to leaderboards.json.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats must be among {', '.join(FORMATS)}, got {list(formats)}")
    if truncate_to not in TRUNCATE_US:
        raise ValueError(f"truncate_to must be one of {', '.join(TRUNCATE_US)}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty")
    formats = list(dict.fromkeys(formats))
    written: list[Path] = []
    try:
        with _snapshot():
            catalogue = _Catalogue.load(site_url.rstrip("/"))
            filtered = _filtered_out()
            writers = [WRITERS[f](out_dir / FORMATS[f], now) for f in formats]
            written += [w.path for w in writers]
            tally = ReleaseTally(catalogue)
            rows = _Rows(catalogue, TRUNCATE_US[truncate_to])
            for raw in read_chunks(chunk_rows or chunk_rows_for(formats)):
                table = rows.build(raw)
                tally.add(table, rows.last_prompt_positions)
                for writer in writers:
                    writer.write(table)
            for writer in writers:
                writer.close()
        counts = tally.counts(voters=rows.voters) | {"filtered_out": filtered}
        files = [
            {"format": f, "name": w.path.name} | digest(w.path)
            for f, w in zip(formats, writers, strict=True)
        ]
        manifest: dict[str, Any] = {
            "version": version,
            "created": now.astimezone(UTC).isoformat(),
            "rows": counts["rows"],
            "counts": counts,
            "columns": list(COLUMNS),
            "licence": licence,
            "created_at_truncated_to": truncate_to,
            "files": files,
        }
        if leaderboards is not None:
            path = out_dir / "leaderboards.json"
            written.append(path)
            path.write_text(json.dumps(leaderboards, indent=2, default=str) + "\n")
            manifest["leaderboards"] = {"name": path.name} | digest(path)
        written.append(out_dir / "README.md")
        (out_dir / "README.md").write_text(
            render_readme(manifest, site_url=site_url, has_leaderboards=leaderboards is not None),
            encoding="utf-8",
        )
        written.append(out_dir / "manifest.json")
        (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        for path in written:  # only what this call created; the folder was empty
            path.unlink(missing_ok=True)
        raise
    return ExportResult(version, now, counts["rows"], files, counts)


# --- reading ----------------------------------------------------------------------------


@contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent view for every chunk and count of the release."""
    fresh = not connection.in_atomic_block
    with transaction.atomic():
        if fresh and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _filtered_out() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), "
            "COALESCE(SUM(CASE WHEN quarantined THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN invalidated THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN attention_check THEN 1 ELSE 0 END), 0) "
            f"FROM {Vote._meta.db_table} WHERE NOT {COUNTED_SQL}"
        )
        total, quarantined, invalidated, attention = cursor.fetchone()
    return {
        "total": int(total),
        "quarantined": int(quarantined),
        "invalidated": int(invalidated),
        "attention_check": int(attention),
    }


# --- building rows ----------------------------------------------------------------------


def _positions(pks: list[int]) -> np.ndarray:
    """pk -> position in `pks`, as an array indexed by pk (-1 for unknown pks)."""
    lookup = np.full(max(pks, default=0) + 1, -1, dtype=np.int32)
    lookup[np.array(pks, dtype=np.int64)] = np.arange(len(pks), dtype=np.int32)
    return lookup


@dataclass
class _Catalogue:
    """Prompts, generators and clips, loaded once; votes map into them by array lookup."""

    prompt_at: np.ndarray
    prompt_uids: pa.Array
    prompt_texts: pa.Array
    prompt_images: pa.Array
    prompt_categories: pa.Array  # list<string> per prompt
    generator_at: np.ndarray
    generator_names: pa.Array
    clip_at: np.ndarray
    clip_urls: pa.Array

    @classmethod
    def load(cls, site_url: str) -> _Catalogue:
        prompts = list(
            Prompt.objects.order_by("pk").values_list("pk", "uid", "text", "input_image")
        )
        slugs: dict[int, list[str]] = {}
        links = Prompt.categories.through.objects.order_by("category__slug")
        for prompt_id, slug in links.values_list("prompt_id", "category__slug"):
            slugs.setdefault(prompt_id, []).append(slug)

        def image_url(name: str) -> str | None:
            if not name:
                return None
            return site_url + input_image_path(name)

        generators = list(Generator.objects.order_by("pk").values_list("pk", "name"))
        clips = list(Clip.objects.order_by("pk").values_list("pk", "uid"))
        return cls(
            prompt_at=_positions([p[0] for p in prompts]),
            prompt_uids=pa.array([p[1] for p in prompts], STRING),
            prompt_texts=pa.array([p[2] for p in prompts], STRING),
            prompt_images=pa.array([image_url(p[3]) for p in prompts], STRING),
            prompt_categories=pa.array([slugs.get(p[0], []) for p in prompts], pa.list_(STRING)),
            generator_at=_positions([g[0] for g in generators]),
            generator_names=pa.array([g[1] for g in generators], STRING),
            clip_at=_positions([c[0] for c in clips]),
            clip_urls=pa.array([f"{site_url}/datasets/clips/{c[1]}.mp4" for c in clips], STRING),
        )


class _Rows:
    """Raw vote chunks -> release rows (SCHEMA), pseudonymising voters on the way."""

    def __init__(self, catalogue: _Catalogue, truncate_us: int) -> None:
        self.catalogue = catalogue
        self.truncate_us = truncate_us
        self.key = secrets.token_bytes(32)  # this release only; never stored
        # Pseudonyms by voter id, grown as ids appear: 16 bytes a voter (a dict of str cost
        # ~150), and a chunk's column is one gather rather than a Python loop over its voters.
        self.pseudonyms = np.zeros(0, dtype="S16")
        self.named = np.zeros(0, dtype=bool)
        self.last_prompt_positions = np.empty(0, dtype=np.int32)

    @property
    def voters(self) -> int:
        return int(np.count_nonzero(self.named))

    def build(self, raw: pa.Table) -> pa.Table:
        cat = self.catalogue
        prompt_at = cat.prompt_at[raw["prompt_id"].to_numpy()]
        self.last_prompt_positions = prompt_at
        # Only the prompts of this chunk go into its dictionaries (one per row group).
        used, indices = np.unique(prompt_at, return_inverse=True)
        used_arrow, indices_arrow = pa.array(used), pa.array(indices.astype(np.int32))
        images = cat.prompt_images.take(used_arrow)
        image_indices = pa.array(
            indices.astype(np.int32),
            mask=~images.is_valid().to_numpy(zero_copy_only=False)[indices],
        )
        created = raw["created_us"].to_numpy()
        if self.truncate_us > 1:
            created = created - created % self.truncate_us
        columns = {
            "vote_id": raw["uid"],
            "battle_id": _blank_to_null(raw["battle_uid"]),
            "created_at": pa.array(created, pa.int64()).cast(SCHEMA.field("created_at").type),
            "arena": raw["arena"],
            "mode": raw["mode"],
            "categories": cat.prompt_categories.take(pa.array(prompt_at)),
            "prompt_id": _dictionary(indices_arrow, cat.prompt_uids.take(used_arrow)),
            "prompt": _dictionary(indices_arrow, cat.prompt_texts.take(used_arrow)),
            "input_image_url": _dictionary(image_indices, images.fill_null("")),
            "model_a": self._generators(raw["model_a_id"]),
            "model_b": self._generators(raw["model_b_id"]),
            "clip_a_url": self._clips(raw["clip_a_id"], raw["ext_clip_a_url"]),
            "clip_b_url": self._clips(raw["clip_b_id"], raw["ext_clip_b_url"]),
            "winner": raw["winner"],
            "voter": self._voters(raw["voter_id"]),
            "time_to_vote_ms": raw["time_to_vote_ms"],
            "source": raw["source"],
        }
        return pa.Table.from_pydict(
            {name: single(value) for name, value in columns.items()}, schema=SCHEMA
        )

    def _generators(self, ids: pa.ChunkedArray) -> pa.Array:
        at = self.catalogue.generator_at[ids.to_numpy()]
        return _dictionary(pa.array(at), self.catalogue.generator_names)

    def _clips(self, ids: pa.ChunkedArray, external: pa.ChunkedArray) -> pa.Array:
        ids = single(ids)
        native = pa.array(
            self.catalogue.clip_at[ids.fill_null(0).to_numpy()],
            mask=~ids.is_valid().to_numpy(zero_copy_only=False),
        )
        return pc.coalesce(self.catalogue.clip_urls.take(native), _blank_to_null(external))

    def _voters(self, ids: pa.ChunkedArray) -> pa.Array:
        ids = single(ids)
        valid = ids.is_valid().to_numpy(zero_copy_only=False)
        at = ids.fill_null(0).to_numpy()
        if at.size and at.max() >= self.named.size:
            grown = max(int(at.max()) + 1, 2 * self.named.size)
            pseudonyms, named = np.zeros(grown, dtype="S16"), np.zeros(grown, dtype=bool)
            pseudonyms[: self.named.size], named[: self.named.size] = self.pseudonyms, self.named
            self.pseudonyms, self.named = pseudonyms, named
        new = np.unique(at[valid & ~self.named[at]])
        key = self.key
        for voter_id in new.tolist():
            digest = hmac.digest(key, str(voter_id).encode(), "sha256")
            self.pseudonyms[voter_id] = digest.hex()[:16].encode()
        self.named[new] = True
        names = pa.array(self.pseudonyms[at], pa.binary(16), mask=~valid)
        return names.cast(pa.binary()).cast(STRING)


def _dictionary(indices: pa.Array, values: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(indices.cast(pa.int32()), values)


def _blank_to_null(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    values = single(values)
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, STRING), values)
