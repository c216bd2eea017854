"""import_votes: the dataset schema in every format, idempotency, bad rows, foreign logs."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from arena import boards
from arena.models import Board, Generator, Prompt
from votes import importer_pg
from votes.importer import import_votes
from votes.importer_formats import DATASET_FIELDS
from votes.importer_rows import parse_categories
from votes.models import Vote
from votes.synthetic import synthetic_votes

pytestmark = pytest.mark.django_db

COLUMNS = list(DATASET_FIELDS)


def make_row(number: int, **changes: Any) -> dict[str, Any]:
    row = {
        "vote_id": f"imp-{number}",
        "battle_id": f"bat-{number}",
        "created_at": f"2025-03-0{1 + number % 9}T12:30:00Z",
        "arena": "no-audio",
        "mode": "text-to-video",
        "categories": ["ocean", "nature"],
        "prompt_id": "pr-ocean",
        "prompt": "Waves breaking on a basalt shore at dusk",
        "input_image_url": None,
        "model_a": "Imported Alpha",
        "model_b": "Imported Beta",
        "clip_a_url": f"https://old.example.org/{number}/a.mp4",
        "clip_b_url": f"https://old.example.org/{number}/b.mp4",
        "winner": "model_a",
        "voter": "pseudonym-1",
        "time_to_vote_ms": 4200 + number,
        "source": "web",
    }
    return row | changes


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows in the format that the file name says."""
    name = path.name
    opener = gzip.open if name.endswith(".gz") else open
    if ".jsonl" in name:
        with opener(path, "wt", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    elif ".csv" in name:
        with opener(path, "wt", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in rows:
                if "categories" in row:
                    row = row | {"categories": json.dumps(row["categories"] or [])}
                writer.writerow(row)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def run(path: Path, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_votes", str(path), *args, "-v0", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_refusing(path: Path, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="refused"):
        call_command("import_votes", str(path), *args, "-v0", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", ["v.jsonl", "v.jsonl.gz", "v.csv", "v.csv.gz", "v.parquet"])
def test_each_format_round_trips_rows(tmp_path: Path, name: str) -> None:
    rows = [make_row(1), make_row(2, winner="tie", source=""), make_row(3, winner="both_bad")]
    out, _ = run(write(tmp_path / name, rows))

    assert "3 read, 3 imported, 0 already present, 0 refused" in out
    vote = Vote.objects.select_related("prompt", "model_a", "model_b").get(uid="imp-1")
    assert (vote.arena, vote.mode, vote.winner) == ("no-audio", "text-to-video", "model_a")
    assert (vote.model_a.name, vote.model_b.name) == ("Imported Alpha", "Imported Beta")
    assert vote.created_at == datetime(2025, 3, 2, 12, 30, tzinfo=UTC)
    assert vote.battle is None and vote.battle_uid == "bat-1"
    assert vote.clip_a is None and vote.ext_clip_a_url == "https://old.example.org/1/a.mp4"
    assert vote.voter is None and vote.time_to_vote_ms == 4201
    assert vote.source == "web"
    assert Vote.objects.get(uid="imp-2").source == "import"
    assert Vote.objects.get(uid="imp-3").winner == "both_bad"
    prompt = vote.prompt
    assert prompt.uid == "pr-ocean"
    assert sorted(prompt.categories.values_list("slug", flat=True)) == ["nature", "ocean"]
    bits = prompt.categories.values_list("bit", flat=True)
    assert prompt.category_mask == sum(1 << b for b in bits)


def test_reimporting_the_same_file_adds_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "v.jsonl", [make_row(n) for n in range(5)])
    run(path)
    counts = (Vote.objects.count(), Prompt.objects.count(), Generator.objects.count())

    out, _ = run(path)

    assert "5 read, 0 imported, 5 already present, 0 refused" in out
    assert (Vote.objects.count(), Prompt.objects.count(), Generator.objects.count()) == counts


def test_a_duplicate_vote_id_within_a_file_is_imported_once(tmp_path: Path) -> None:
    rows = [make_row(1), make_row(1, winner="model_b"), make_row(2)]
    path = write(tmp_path / "v.parquet", rows)

    result = import_votes(path, batch_rows=2)  # the repeat falls in the next batch

    assert (result.read, result.imported, result.already_present) == (3, 2, 1)
    assert Vote.objects.get(uid="imp-1").winner == "model_a"  # the first one wins


def test_a_partly_imported_file_adds_only_the_missing_rows(tmp_path: Path) -> None:
    run(write(tmp_path / "first.parquet", [make_row(n) for n in (1, 2, 5)]))
    rows = [make_row(n) for n in range(8)] + [make_row(6, winner="tie")]
    path = write(tmp_path / "all.parquet", rows)

    # Batches of three: some stored, some new, one new id twice in a batch, then all new.
    result = import_votes(path, batch_rows=3)

    assert (result.read, result.imported, result.already_present) == (9, 5, 4)
    assert Vote.objects.filter(uid__startswith="imp-").count() == 8
    assert Vote.objects.get(uid="imp-6").winner == "model_a"


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_ids_stored_behind_the_lookups_back_are_still_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if another import stored the same votes between the lookup and the COPY: the COPY
    # meets the unique constraint and the batch goes through ON CONFLICT DO NOTHING.
    run(write(tmp_path / "first.parquet", [make_row(n) for n in (1, 4)]))
    monkeypatch.setattr(importer_pg, "stored_uids", lambda uids: pa.array([], pa.string()))
    path = write(tmp_path / "all.parquet", [make_row(n) for n in range(6)])

    result = import_votes(path, batch_rows=3)

    assert (result.read, result.imported, result.already_present) == (6, 4, 2)
    assert Vote.objects.filter(uid__startswith="imp-").count() == 6


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_votes_written_by_the_helper_connection_are_all_counted(tmp_path: Path) -> None:
    # Outside a transaction the votes go through a second connection, one batch behind the
    # prompts and generators that this one creates: every vote is stored and folded once.
    first, whole = tmp_path / "first.parquet", tmp_path / "whole.parquet"
    pq.write_table(synthetic_votes(900, models=6, prompts=50, seed=4), first)
    pq.write_table(synthetic_votes(2_000, models=6, prompts=50, seed=4), whole)
    import_votes(first, batch_rows=400)

    result = import_votes(whole, batch_rows=300)

    assert (result.read, result.imported, result.already_present) == (2_000, 1_100, 900)
    assert Vote.objects.filter(uid__startswith="s4-").count() == 2_000
    folded = {(b.arena, b.mode, b.category): b.counts for b in Board.objects.all()}
    boards.rebuild_counts()
    assert folded == {(b.arena, b.mode, b.category): b.counts for b in Board.objects.all()}
    assert sum(b.votes for b in Board.objects.filter(category="overall")) == 2_000


def test_bad_rows_are_reported_by_line_and_the_rest_is_imported(tmp_path: Path) -> None:
    rows = [
        make_row(1),
        make_row(2, arena="smell-o-vision"),
        make_row(3, model_b="Imported Alpha"),
        make_row(4, winner="model_c"),
        make_row(5, vote_id=""),
        make_row(6, created_at="yesterday"),
        make_row(7),
    ]
    path = write(tmp_path / "v.jsonl", rows)
    with path.open("a") as handle:
        handle.write("\n{not json\n")  # a blank line 8, a broken line 9
        handle.write(json.dumps(make_row(10)) + "\n")

    out, err = run_refusing(path)

    assert "9 read, 3 imported, 0 already present, 6 refused" in out
    assert "line 2: arena 'smell-o-vision' is not one of" in err
    assert "line 3: model_a and model_b are the same" in err
    assert "line 4: winner 'model_c' is not one of" in err
    assert "line 5: vote_id is missing" in err
    assert "line 6: created_at is missing or not ISO 8601" in err
    assert "line 9: not valid JSON" in err
    assert set(Vote.objects.filter(uid__startswith="imp-").values_list("uid", flat=True)) == {
        "imp-1",
        "imp-7",
        "imp-10",
    }


def test_a_bad_csv_row_is_reported_by_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "v.csv", [make_row(1), make_row(2, mode="radio"), make_row(3)])
    with path.open("a") as handle:
        handle.write("too,few,fields\n")

    out, err = run_refusing(path)

    assert "4 read, 2 imported, 0 already present, 2 refused" in out
    assert "line 3: mode 'radio' is not one of" in err
    assert "line 5: has 3 fields" in err


def test_csv_takes_semicolon_categories_and_naive_times_as_utc(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    row = make_row(1, created_at="2025-04-05 06:07:08", prompt_id="", categories=None)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row | {"categories": "Urban; night"})

    run(path)

    vote = Vote.objects.get(uid="imp-1")
    assert vote.created_at == datetime(2025, 4, 5, 6, 7, 8, tzinfo=UTC)
    assert sorted(vote.prompt.categories.values_list("slug", flat=True)) == ["night", "urban"]


def test_a_known_prompt_is_matched_by_id_then_by_text(tmp_path: Path) -> None:
    existing = Prompt.objects.filter(mode="text-to-video").first()
    assert existing is not None
    before = Prompt.objects.count()
    rows = [
        make_row(1, prompt_id=existing.uid, prompt="some other wording"),
        make_row(2, prompt_id="", prompt=existing.text),
        make_row(3, prompt_id="unknown-id", prompt=existing.text),
        make_row(4, prompt_id=existing.uid, prompt=None),
    ]

    run(write(tmp_path / "v.jsonl", rows))

    assert Prompt.objects.count() == before
    assert set(Vote.objects.filter(uid__startswith="imp-").values_list("prompt", flat=True)) == {
        existing.pk
    }


def test_an_unknown_prompt_id_without_text_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "v.jsonl", [make_row(1, prompt_id="nowhere", prompt=None)])

    _, err = run_refusing(path)

    assert "line 1: prompt_id 'nowhere' is unknown and the row has no prompt text" in err


def test_an_imported_vote_is_counted_and_marked_import(tmp_path: Path) -> None:
    row = make_row(1)
    del row["source"]
    run(write(tmp_path / "v.jsonl", [row]))

    vote = Vote.objects.get(uid="imp-1")
    assert vote.source == "import"
    assert vote.counted and Vote.objects.counted().filter(pk=vote.pk).exists()


def test_a_fastchat_log_is_imported_idempotently(tmp_path: Path) -> None:
    battles = [
        {"model_a": "gpt-v", "model_b": "sora-x", "winner": "model_a", "tstamp": 1700000000.5,
         "judge": "arena_user_1", "question_id": "q1",
         "conversation_a": [{"role": "user", "content": "A cat surfing"}]},
        {"model_a": "gpt-v", "model_b": "sora-x", "winner": "tie (bothbad)",
         "tstamp": 1700000100, "judge": "arena_user_2"},
        {"model_a": "sora-x", "model_b": "gpt-v", "winner": "model_b", "tstamp": 1700000200,
         "question_id": "q2"},
        {"model_a": "sora-x", "model_b": "gpt-v", "winner": "nobody", "tstamp": 1700000300},
    ]  # fmt: skip
    path = tmp_path / "battles.json"
    path.write_text(json.dumps(battles))

    out, err = run_refusing(path, "--from", "fastchat", "--arena", "audio")
    again, _ = run_refusing(path, "--from", "fastchat", "--arena", "audio")

    assert "4 read, 3 imported, 0 already present, 1 refused" in out
    assert "row 4: winner 'nobody' is not one of" in err
    assert "4 read, 0 imported, 3 already present, 1 refused" in again
    votes = list(Vote.objects.filter(source="fastchat").order_by("created_at"))
    assert [v.winner for v in votes] == ["model_a", "both_bad", "model_b"]
    assert {v.arena for v in votes} == {"audio"} and {v.mode for v in votes} == {"text-to-video"}
    assert votes[0].created_at == datetime.fromtimestamp(1700000000.5, UTC)
    assert votes[0].prompt.text == "A cat surfing" and votes[0].prompt.uid == "q1"
    assert votes[1].prompt.text == "(imported from FastChat)"
    assert votes[2].prompt.text == "FastChat question q2"


def test_a_fastchat_jsonl_log_is_imported(tmp_path: Path) -> None:
    path = tmp_path / "battles.jsonl"
    path.write_text(
        json.dumps({"model_a": "a", "model_b": "b", "winner": "tie", "tstamp": 1.7e9}) + "\n"
    )

    out, _ = run(path, "--from", "fastchat")

    assert "1 read, 1 imported" in out
    assert Vote.objects.get(source="fastchat").winner == "tie"


@pytest.mark.parametrize("name", ["genai.jsonl", "genai.csv", "genai.parquet"])
def test_a_genai_arena_log_is_imported(tmp_path: Path, name: str) -> None:
    rows = [
        {"prompt": "A red kite", "left_model": "m1", "right_model": "m2",
         "vote_type": "leftvote", "tstamp": 1710000000.0},
        {"prompt": "A red kite", "left_model": "m2", "right_model": "m1",
         "vote_type": "rightvote", "tstamp": 1710000001.0},
        {"prompt": "A blue kite", "left_model": "m1", "right_model": "m3",
         "vote_type": "tievote", "tstamp": 1710000002.0},
        {"prompt": "A blue kite", "left_model": "m3", "right_model": "m2",
         "vote_type": "bothbad_vote", "tstamp": 1710000003.0},
    ]  # fmt: skip
    path = write(tmp_path / name, rows)

    out, _ = run(path, "--from", "genai-arena", "--mode", "image-to-video")
    again, _ = run(path, "--from", "genai-arena", "--mode", "image-to-video")

    assert "4 read, 4 imported" in out and "4 read, 0 imported, 4 already present" in again
    votes = list(Vote.objects.filter(source="genai-arena").order_by("created_at"))
    assert [v.winner for v in votes] == ["model_a", "model_b", "tie", "both_bad"]
    assert votes[0].model_a.name == "m1" and votes[0].model_b.name == "m2"
    assert votes[0].created_at == datetime.fromtimestamp(1710000000, UTC)
    assert {v.mode for v in votes} == {"image-to-video"} and {v.arena for v in votes} == {
        "no-audio"
    }
    assert Prompt.objects.filter(text__endswith="kite", mode="image-to-video").count() == 2


def test_a_synthetic_file_imports_over_several_batches(tmp_path: Path) -> None:
    path = tmp_path / "syn.parquet"
    pq.write_table(synthetic_votes(2_000, models=5, prompts=40, seed=3), path)

    result = import_votes(path, batch_rows=300)

    assert (result.read, result.imported, result.refused) == (2_000, 2_000, 0)
    assert result.generators_created == 5 and result.prompts_created == 40
    assert Vote.objects.filter(uid__startswith="s3-").count() == 2_000


def test_categories_parse_lists_json_and_semicolons() -> None:
    assert parse_categories(["Food", " food ", "urban"]) == ["food", "urban"]
    assert parse_categories('["a", "b"]') == ["a", "b"]
    assert parse_categories("a;b;") == ["a", "b"]
    with pytest.raises(ValueError):
        parse_categories("not a slug!")
