"""export_release: files, manifest, filtering, pseudonyms, formats agreeing, re-import."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.contrib.sessions.models import Session

from arena import boards
from arena.battles import issue_battle
from votes.exporter import COLUMNS, export_release
from votes.importer import import_votes
from votes.models import Vote, Voter
from votes.services import cast_vote
from votes.synthetic import synthetic_votes

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SITE = "https://arena.example"
IP_HASH, UA_HASH = "ip0123456789abcdef", "ua0123456789abcdef"


@pytest.fixture
def votes(demo, tmp_path: Path) -> dict[str, Any]:  # noqa: ANN001
    """Native votes from two voters in both arenas, imported ones, and some flagged."""
    voters = [Voter.objects.create(ip_hash=IP_HASH, ua_hash=UA_HASH) for _ in range(2)]
    native = []
    for i in range(8):
        voter = voters[i % 2]
        # Both modes for sure in the no-audio arena, counted (votes 0 and 1 are flagged
        # below): vote 3 image to video, vote 5 text; the others at random.
        mode = {1: "image-to-video", 3: "image-to-video", 5: "text-to-video"}.get(i)
        battle = issue_battle(voter_id=voter.id, arena=("audio", "no-audio")[i % 2], mode=mode)
        native.append(cast_vote(token=battle.token, voter=voter, choice="abab"[i % 4])[1])
    path = tmp_path / "imported.parquet"
    pq.write_table(synthetic_votes(12, models=3, prompts=4, seed=7), path)
    assert import_votes(path).imported == 12
    imported = list(Vote.objects.filter(uid__startswith="s7-").order_by("id"))
    boards.set_vote_flags([native[0].id], quarantined=True)
    boards.set_vote_flags([native[1].id], invalidated=True)
    boards.set_vote_flags([imported[0].id], attention_check=True)
    return {"voters": voters, "native": native, "imported": imported}


def export(path: Path, version: str = "2025.06.01", **options: Any) -> Any:
    options = {"now": NOW, "site_url": SITE, "chunk_rows": 5} | options
    return export_release(path, version=version, **options)


def parquet_rows(folder: Path) -> list[dict[str, Any]]:
    return pq.read_table(folder / "votes.parquet").to_pylist()


def jsonl_rows(folder: Path) -> list[dict[str, Any]]:
    with gzip.open(folder / "votes.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def csv_rows(folder: Path) -> list[dict[str, Any]]:
    with gzip.open(folder / "votes.csv.gz", "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_it_writes_the_files_and_a_manifest_that_matches_them(votes, tmp_path: Path) -> None:  # noqa: ANN001
    result = export(tmp_path / "r", leaderboards=[{"arena": "audio", "rows": []}])
    folder = tmp_path / "r"
    names = {"votes.parquet", "votes.jsonl.gz", "votes.csv.gz", "manifest.json", "README.md"}
    assert {p.name for p in folder.iterdir()} == names | {"leaderboards.json"}
    manifest = json.loads((folder / "manifest.json").read_text())
    counted = Vote.objects.counted().count()
    assert manifest["rows"] == manifest["counts"]["rows"] == result.rows == counted == 17
    assert isinstance(manifest["rows"], int)
    assert manifest["version"] == result.version == "2025.06.01"
    assert manifest["created"] == NOW.isoformat()
    assert [f["format"] for f in manifest["files"]] == ["parquet", "jsonl", "csv"]
    assert manifest["files"] == result.files
    for entry in manifest["files"]:
        data = (folder / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    boards_file = (folder / "leaderboards.json").read_bytes()
    assert manifest["leaderboards"]["sha256"] == hashlib.sha256(boards_file).hexdigest()
    assert json.loads(boards_file) == [{"arena": "audio", "rows": []}]


def test_it_releases_every_counted_vote_once_and_no_other(votes, tmp_path: Path) -> None:  # noqa: ANN001
    export(tmp_path / "r")
    ids = [row["vote_id"] for row in parquet_rows(tmp_path / "r")]
    assert ids == list(Vote.objects.counted().order_by("id").values_list("uid", flat=True))
    left_out = {votes["native"][0].uid, votes["native"][1].uid, votes["imported"][0].uid}
    assert not left_out & set(ids)
    assert len(ids) == len(set(ids)) == Vote.objects.count() - 3


def test_the_three_formats_hold_the_same_rows(votes, tmp_path: Path) -> None:  # noqa: ANN001
    export(tmp_path / "r")
    rows = parquet_rows(tmp_path / "r")
    for row in rows:
        row["created_at"] = row["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert jsonl_rows(tmp_path / "r") == rows
    from_csv = csv_rows(tmp_path / "r")
    assert list(from_csv[0]) == list(COLUMNS)
    for row in from_csv:
        row["categories"] = json.loads(row["categories"])
        row["time_to_vote_ms"] = int(row["time_to_vote_ms"]) if row["time_to_vote_ms"] else None
        for name, value in row.items():
            row[name] = None if value == "" else value
    assert from_csv == rows


def test_rows_have_the_release_schema(votes, tmp_path: Path) -> None:  # noqa: ANN001
    export(tmp_path / "r")
    table = pq.read_table(tmp_path / "r" / "votes.parquet")
    assert table.column_names == list(COLUMNS)
    assert table.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    rows = {row["vote_id"]: row for row in table.to_pylist()}
    native = Vote.objects.select_related("clip_a", "prompt", "battle").get(
        uid=votes["native"][2].uid
    )
    row = rows[native.uid]
    assert row["battle_id"] == native.battle.uid
    assert row["clip_a_url"] == f"{SITE}/datasets/clips/{native.clip_a.uid}.mp4"
    assert row["model_a"] == native.model_a.name and row["prompt"] == native.prompt.text
    assert row["categories"] == sorted(native.prompt.categories.values_list("slug", flat=True))
    assert row["created_at"] == native.created_at.replace(minute=0, second=0, microsecond=0)
    imported = votes["imported"][1]
    assert rows[imported.uid]["clip_a_url"] == imported.ext_clip_a_url
    assert rows[imported.uid]["voter"] is None
    for row in rows.values():
        assert isinstance(row["categories"], list)
        assert (row["created_at"].minute, row["created_at"].second) == (0, 0)
    images = {row["input_image_url"] for row in rows.values() if row["mode"] == "image-to-video"}
    assert images and all(url.startswith(f"{SITE}/media/inputs/") for url in images if url)


def test_created_at_is_kept_whole_when_asked(votes, tmp_path: Path) -> None:  # noqa: ANN001
    export(tmp_path / "r", truncate_to="none", formats=["parquet"])
    native = votes["native"][2]
    rows = {row["vote_id"]: row for row in parquet_rows(tmp_path / "r")}
    assert rows[native.uid]["created_at"] == Vote.objects.get(pk=native.pk).created_at


def test_pseudonyms_are_stable_in_a_release_and_differ_across_releases(votes, tmp_path) -> None:  # noqa: ANN001
    export(tmp_path / "one", formats=["parquet"])
    export(tmp_path / "two", version="2", formats=["parquet"])
    by_voter: list[dict[int, set[str]]] = []
    for folder in ("one", "two"):
        names = {row["vote_id"]: row["voter"] for row in parquet_rows(tmp_path / folder)}
        seen: dict[int, set[str]] = {}
        for vote in Vote.objects.counted().exclude(voter=None):
            seen.setdefault(vote.voter_id, set()).add(names[vote.uid])
        by_voter.append(seen)
    one, two = by_voter
    assert len(one) == 2 and all(len(names) == 1 for names in one.values())
    assert len({next(iter(n)) for n in one.values()}) == 2  # two voters, two pseudonyms
    for voter_id in one:
        assert one[voter_id] != two[voter_id]
        assert len(next(iter(one[voter_id]))) == 16


def test_each_voter_has_one_pseudonym_across_chunks(demo, tmp_path) -> None:  # noqa: ANN001
    # Voters appear chunk after chunk with ever larger ids (the pseudonym table grows), and
    # come back in later chunks; some votes have no voter.
    voters = [Voter.objects.create(ip_hash=IP_HASH, ua_hash=UA_HASH) for _ in range(12)]
    for i in range(30):
        voter = voters[(i * 5) % 12 if i % 3 else i % 12]
        battle = issue_battle(voter_id=voter.id, arena="no-audio")
        cast_vote(token=battle.token, voter=voter, choice="ab"[i % 2])
    path = tmp_path / "imported.parquet"
    pq.write_table(synthetic_votes(6, models=3, prompts=2, seed=3), path)
    import_votes(path)
    result = export(tmp_path / "r", formats=["parquet"], chunk_rows=4)
    names = {row["vote_id"]: row["voter"] for row in parquet_rows(tmp_path / "r")}
    by_voter: dict[int | None, set[str | None]] = {}
    for vote in Vote.objects.all():
        by_voter.setdefault(vote.voter_id, set()).add(names[vote.uid])
    assert by_voter.pop(None) == {None}
    assert all(len(pseudonyms) == 1 for pseudonyms in by_voter.values())
    assert len({next(iter(p)) for p in by_voter.values()}) == len(by_voter) == 12
    assert result.counts["voters"] == 12


def test_nothing_about_voters_but_the_pseudonym_is_released(votes, client, tmp_path) -> None:  # noqa: ANN001
    client.get("/vote/no-audio/")
    export(tmp_path / "r")
    text = "".join(
        [
            gzip.decompress((tmp_path / "r" / name).read_bytes()).decode()
            for name in ("votes.jsonl.gz", "votes.csv.gz")
        ]
        + [(tmp_path / "r" / name).read_text() for name in ("manifest.json", "README.md")]
    )
    secrets = [IP_HASH, UA_HASH, *(v.uid for v in votes["voters"])]
    secrets += list(Session.objects.values_list("session_key", flat=True))
    assert len(secrets) > 3
    for secret in secrets:
        assert secret not in text
    assert str(pq.read_table(tmp_path / "r" / "votes.parquet").to_pylist()).find(IP_HASH) < 0


def test_manifest_counts_add_up_from_the_rows(votes, tmp_path: Path) -> None:  # noqa: ANN001
    result = export(tmp_path / "r")
    rows = parquet_rows(tmp_path / "r")
    counts = json.loads((tmp_path / "r" / "manifest.json").read_text())["counts"]
    assert counts == result.counts

    def tally(values: list[str]) -> dict[str, int]:
        return {v: values.count(v) for v in sorted(set(values))}

    assert counts["arenas"] == tally([r["arena"] for r in rows])
    assert counts["modes"] == tally([r["mode"] for r in rows])
    assert counts["models"] == tally([r[m] for r in rows for m in ("model_a", "model_b")])
    assert counts["categories"] == tally([c for r in rows for c in r["categories"]])
    assert counts["voters"] == 2
    first = min(r["created_at"] for r in rows)
    assert counts["date_range"]["first"] == first.isoformat()
    assert counts["filtered_out"] == {
        "total": 3,
        "quarantined": 1,
        "invalidated": 1,
        "attention_check": 1,
    }


def test_the_datasheet_gives_schema_counts_and_filtering(votes, tmp_path: Path) -> None:  # noqa: ANN001
    export(tmp_path / "r", licence="CC-BY-SA-4.0")
    readme = (tmp_path / "r" / "README.md").read_text()
    for column in COLUMNS:
        assert f"`{column}`" in readme
    for phrase in ("17 votes", "1 quarantined", "1 invalidated", "1 attention checks"):
        assert phrase in readme
    for phrase in ("CC-BY-SA-4.0", "HMAC-SHA256", "pd.read_parquet", "pl.read_parquet"):
        assert phrase in readme
    assert "load_dataset" in readme and "Synth-00" in readme


@pytest.mark.parametrize("name", ["votes.parquet", "votes.jsonl.gz", "votes.csv.gz"])
def test_a_release_imports_back_as_already_present(votes, tmp_path: Path, name: str) -> None:  # noqa: ANN001
    result = export(tmp_path / "r")
    before = Vote.objects.count()
    imported = import_votes(tmp_path / "r" / name)
    assert (imported.read, imported.already_present) == (result.rows, result.rows)
    assert (imported.imported, imported.refused) == (0, 0), imported.errors
    assert Vote.objects.count() == before


def test_it_refuses_a_folder_that_is_not_empty(votes, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "other.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        export(tmp_path / "r")
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["other.txt"]


def test_an_empty_release_still_has_a_manifest(db, tmp_path: Path) -> None:  # noqa: ANN001
    Vote.objects.all().delete()
    result = export(tmp_path / "r")
    assert result.rows == 0
    assert pq.read_table(tmp_path / "r" / "votes.parquet").num_rows == 0
    assert jsonl_rows(tmp_path / "r") == []
    assert io.StringIO(gzip.decompress((tmp_path / "r" / "votes.csv.gz").read_bytes()).decode())
