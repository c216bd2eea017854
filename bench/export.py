"""Dataset release speed on PostgreSQL: rows per second and peak memory, per format.

Builds a database of synthetic votes: the catalogue (30 models, 1 000 prompts, categories)
and 20 000 imported votes through `import_votes`, then native votes (clips, voters, 10 % with
no voter, about 2 % flagged) with `INSERT … SELECT generate_series`, which fires the same
arena_tally triggers. Then times `export_release` for each format alone, and for all three in
one release as export_dataset builds it ("all"), each in a fresh process so that the peak
resident memory is that run's.

Run (PostgreSQL on 127.0.0.1:5432 with trust auth; database arena_bench_export is dropped,
recreated, and dropped at the end):

    .venv/bin/python bench/export.py                        # 1M and 10M votes
    .venv/bin/python bench/export.py --votes 1000000        # one size
    .venv/bin/python bench/export.py --formats parquet --chunk-rows 200000
    .venv/bin/python bench/export.py --formats all          # one release, all three formats
    .venv/bin/python bench/export.py --database my_bench --keep   # another name; keep it
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHUNK_ROWS = 0  # 0: votes.exporter's default for the formats written
DB_NAME = "arena_bench_export"  # the default; --database picks another
IMPORTED = 20_000


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def admin(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def setup_django(server: str) -> None:
    os.environ["DATABASE_URL"] = f"{server}/{DB_NAME}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
    import django

    django.setup()


def load(votes: int, server: str) -> None:
    admin(server, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    admin(server, f"CREATE DATABASE {DB_NAME}")
    setup_django(server)
    from django.core.management import call_command
    from django.db import connection, transaction

    from arena.models import Clip, Generator, Prompt
    from votes import importer, synthetic

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "votes.parquet"
        synthetic.write_synthetic_parquet(data, IMPORTED, synthetic.model_names(30), 1000, seed=1)
        assert importer.import_votes(data).imported == IMPORTED
    Clip.objects.bulk_create(
        [
            Clip(generator_id=g, prompt_id=p, status=Clip.Status.READY, source=f"b/{g}-{p}.mp4")
            for g in Generator.objects.values_list("pk", flat=True)
            for p in Prompt.objects.values_list("pk", flat=True)
        ],
        batch_size=5000,
    )
    native = votes - IMPORTED
    voters = max(1, native // 20)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO votes_voter (uid, created_at, last_seen, ip_hash, net_hash, ua_hash, "
            "status, suspicion, evidence) SELECT md5(g::text), now(), now(), '', '', '', 'ok', "
            "0, '{}' "
            "FROM generate_series(1, %s) g",
            [voters],
        )
        cursor.execute("SELECT min(id) FROM votes_voter")
        first_voter = cursor.fetchone()[0]
        # About 87 000 (prompt, clip, clip) pairs with two different models.
        cursor.execute(
            "CREATE TEMP TABLE bench_pair AS SELECT (row_number() OVER () - 1)::int AS k, "
            "a.prompt_id, p.mode, a.id AS clip_a, a.generator_id AS gen_a, b.id AS clip_b, "
            "b.generator_id AS gen_b FROM arena_clip a JOIN arena_clip b ON "
            "a.prompt_id = b.prompt_id AND a.generator_id <> b.generator_id "
            "JOIN arena_prompt p ON p.id = a.prompt_id WHERE random() < 0.1"
        )
        cursor.execute("SELECT count(*) FROM bench_pair")
        pairs = cursor.fetchone()[0]
        cursor.execute("CREATE INDEX ON bench_pair (k)")
        for start in range(0, native, 1_000_000):
            with transaction.atomic():
                cursor.execute(
                    "INSERT INTO votes_vote (uid, battle_uid, created_at, arena, mode, prompt_id, "
                    "model_a_id, model_b_id, clip_a_id, clip_b_id, ext_clip_a_url, ext_clip_b_url,"
                    " winner, voter_id, time_to_vote_ms, source, attention_check, quarantined, "
                    "invalidated) SELECT 'bench-' || g, 'bb-' || g, "
                    "timestamptz '2025-02-01' + g * interval '731 milliseconds', "
                    "CASE WHEN g %% 5 < 2 THEN 'audio' ELSE 'no-audio' END, bp.mode, bp.prompt_id, "
                    "bp.gen_a, bp.gen_b, bp.clip_a, bp.clip_b, '', '', "
                    "(ARRAY['model_a', 'model_b', 'tie', 'both_bad'])[1 + g %% 4], "
                    "CASE WHEN g %% 10 = 0 THEN NULL ELSE %s + (g * 7919) %% %s END, "
                    "2000 + g %% 40000, 'web', g %% 97 = 0, g %% 101 = 0, g %% 499 = 0 "
                    "FROM generate_series(%s::bigint, %s::bigint) g JOIN bench_pair bp "
                    "ON bp.k = (g * 2654435761) %% %s",
                    [first_voter, voters, start + 1, min(native, start + 1_000_000), pairs],
                )
        cursor.execute("ANALYZE")
        cursor.execute("SELECT count(*) FROM votes_vote")
        total = cursor.fetchone()[0]
    print(
        f"{total:>11,} votes loaded in {time.perf_counter() - started:5.0f} s "
        f"({IMPORTED:,} imported, {voters:,} voters)",
        flush=True,
    )


def export_one(fmt: str, server: str, chunk_rows: int) -> None:
    setup_django(server)
    from votes.exporter import FORMATS, export_release

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = export_release(
            Path(tmp) / "release",
            version="bench",
            formats=list(FORMATS) if fmt == "all" else [fmt],
            now=datetime.now(UTC),
            site_url="https://arena.example",
            chunk_rows=chunk_rows or None,
        )
        took = time.perf_counter() - started
    size = sum(f["bytes"] for f in result.files)
    print(
        f"{'':>11}  {fmt:<8} {result.rows:>11,} rows in {took:6.1f} s = "
        f"{result.rows / took:>9,.0f} rows/s  file {size / 1e6:8.1f} MB  "
        f"peak memory {peak_mb():6,.0f} MB",
        flush=True,
    )


def main() -> None:
    global DB_NAME
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--formats",
        nargs="+",
        default=["parquet", "jsonl", "csv", "all"],
        help="'all': one release in every format, as export_dataset builds it",
    )
    parser.add_argument(
        "--chunk-rows", type=int, default=CHUNK_ROWS, help="0: the exporter's default"
    )
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default=DB_NAME, help="dropped, recreated, dropped")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--export", help=argparse.SUPPRESS)
    args = parser.parse_args()
    DB_NAME = args.database
    if args.load:
        load(args.votes[0], args.server)
        return
    if args.export:
        export_one(args.export, args.server, args.chunk_rows)
        return
    print(
        f"bench/export: PostgreSQL at {args.server}, 30 models, 1000 prompts, "
        f"chunks of {args.chunk_rows or 'the default'} rows "
        f"(100,000 for one format, 50,000 for several), {os.cpu_count()} cores"
    )
    common = ["--server", args.server, "--chunk-rows", str(args.chunk_rows)]
    common += ["--database", args.database]
    try:
        for votes in args.votes:
            run = [sys.executable, __file__, "--votes", str(votes), *common]
            subprocess.run([*run, "--load"], check=True)
            for fmt in args.formats:
                subprocess.run([*run, "--export", fmt], check=True)
    finally:
        if not args.keep:
            admin(args.server, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    main()
