"""Dataset releases end to end: the command, storage, the API, downloads, the round trip."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.test import Client

from arena import boards, leaderboards
from arena.models import Board
from votes import importer
from votes.models import DatasetRelease, Vote

from .test_leaderboards import cast

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_boards(settings) -> None:  # noqa: ANN001
    settings.ARENA_MIN_VOTES_LISTED = 5
    settings.ARENA_BOOTSTRAP_ROUNDS = 50


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_dataset", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_each_export_is_a_new_release_listed_by_the_api(client: Client) -> None:
    cast(20)
    first = Path(export())
    second = Path(export("--format", "parquet"))
    assert first != second and first.is_dir() and second.is_dir()
    listing = client.get("/api/v1/datasets/").json()
    assert [r["version"] for r in listing] == list(
        DatasetRelease.objects.values_list("version", flat=True)
    )
    assert len({r["version"] for r in listing}) == 2
    newest = listing[0]
    assert newest["votes"] == Vote.objects.counted().count()
    assert [f["format"] for f in newest["files"]] == ["parquet"]
    assert {"format", "url", "sha256", "bytes"} <= set(newest["files"][0])


def test_downloads_match_the_manifest_and_support_ranges(client: Client) -> None:
    cast(15)
    export()
    release = client.get("/api/v1/datasets/").json()[0]
    for entry in release["files"]:
        response = client.get(entry["url"])
        body = b"".join(response.streaming_content)
        assert response.status_code == 200
        assert len(body) == entry["bytes"]
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        partial = client.get(entry["url"], HTTP_RANGE="bytes=0-9")
        assert partial.status_code == 206 and b"".join(partial.streaming_content) == body[:10]
    readme = client.get(f"/datasets/{release['version']}/README.md")
    assert readme.status_code == 200
    assert client.get(f"/datasets/{release['version']}/../../settings.py").status_code == 404
    assert client.get(f"/datasets/{release['version']}/secrets.txt").status_code == 404


def test_out_dir_holds_the_documented_folder(tmp_path: Path) -> None:
    cast(10)
    folder = Path(export("--out", str(tmp_path)))
    assert folder.parent == tmp_path
    names = {p.name for p in folder.iterdir()}
    expected = {"votes.parquet", "votes.jsonl.gz", "votes.csv.gz", "README.md", "manifest.json"}
    assert expected <= names
    manifest = json.loads((folder / "manifest.json").read_text())
    assert isinstance(manifest["rows"], int) and manifest["rows"] == 10
    table = pq.read_table(folder / "votes.parquet")
    assert table.column_names == [
        "vote_id",
        "battle_id",
        "created_at",
        "arena",
        "mode",
        "categories",
        "prompt_id",
        "prompt",
        "input_image_url",
        "model_a",
        "model_b",
        "clip_a_url",
        "clip_b_url",
        "winner",
        "voter",
        "time_to_vote_ms",
        "source",
    ]
    assert pa.types.is_list(table.schema.field("categories").type)


def test_uncounted_votes_are_left_out(tmp_path: Path) -> None:
    votes = cast(12)
    boards.set_vote_flags([votes[0].id], quarantined=True)
    boards.set_vote_flags([votes[1].id], invalidated=True)
    folder = Path(export("--out", str(tmp_path), "--format", "parquet"))
    ids = set(pq.read_table(folder / "votes.parquet")["vote_id"].to_pylist())
    assert ids == set(Vote.objects.counted().values_list("uid", flat=True))
    assert votes[0].uid not in ids and votes[1].uid not in ids


def test_datasets_page_lists_releases_with_checksums(client: Client) -> None:
    assert "No release yet" in client.get("/datasets/").content.decode()
    cast(5)
    export()
    html = client.get("/datasets/").content.decode()
    release = DatasetRelease.objects.get()
    assert release.version in html
    assert release.manifest["files"][0]["sha256"] in html
    assert "read_parquet" in html


def test_leaderboard_recomputed_from_a_reimported_release_equals_the_original(
    tmp_path: Path,
) -> None:
    cast(80)
    leaderboards.recompute(full=True)
    original = {str(b): b.latest.rows for b in Board.objects.all()}
    folder = Path(export("--out", str(tmp_path), "--format", "parquet"))
    # Re-import as new votes (fresh ids) and take the originals out of the count.
    table = pq.read_table(folder / "votes.parquet")
    renamed = table.set_column(
        0, "vote_id", pc.binary_join_element_wise("again", table["vote_id"], "-")
    )
    copy = tmp_path / "again.parquet"
    pq.write_table(renamed, copy)
    originals = list(Vote.objects.values_list("id", flat=True))
    result = importer.import_votes(copy)
    assert result.imported == table.num_rows and not result.errors
    boards.set_vote_flags(originals, invalidated=True)
    leaderboards.recompute(full=True)
    again = {str(b): b.latest.rows for b in Board.objects.filter(votes__gt=0)}
    assert again == {k: v for k, v in original.items() if v}
