"""Server time to issue a battle, with 1 000 prompts and 30 models, on PostgreSQL.

Builds a catalogue of 30 generators x 1 000 prompts (30 000 ready clip rows; issuing a
battle reads only their metadata), votes a little so the sampling weights are active, then
issues battles through the real service (arena.battles.issue_battle) for many voters and
prints the latency percentiles and the number of queries per battle.

Run (PostgreSQL on 127.0.0.1:5432 with trust auth; the database is dropped and recreated):

    .venv/bin/python bench/battle_latency.py [--battles 3000] [--server postgres://...]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "arena_bench_battles"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=3000)
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()

    import psycopg

    with psycopg.connect(f"{args.server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = f"{args.server}/{DB_NAME}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
    os.environ["ARENA_RECOMPUTE_BURST"] = "0"  # the bench recomputes itself
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from arena import leaderboards
    from arena.battles import issue_battle
    from arena.models import Clip, Generator, Prompt
    from votes.models import Voter
    from votes.services import cast_vote

    call_command("migrate", verbosity=0)
    generators = Generator.objects.bulk_create(
        Generator(
            name=f"Model {i:02d}",
            organisation="Bench",
            has_sound=i % 2 == 0,
            modes=["text-to-video"],
        )
        for i in range(args.models)
    )
    prompts = Prompt.objects.bulk_create(
        Prompt(text=f"Bench prompt {i}", mode="text-to-video") for i in range(args.prompts)
    )
    Clip.objects.bulk_create(
        Clip(
            generator=g,
            prompt=p,
            status=Clip.Status.READY,
            source=f"sources/{g.id}-{p.id}.mp4",
            sha256=f"{g.id:08d}{p.id:056d}",
            duration=5.0,
            width=1280,
            height=720,
            fps=24.0,
            has_audio=g.has_sound,
            rendition_silent=f"r/{g.id}-{p.id}-s.mp4",
            rendition_sound=f"r/{g.id}-{p.id}-a.mp4" if g.has_sound else "",
            poster=f"r/{g.id}-{p.id}.jpg",
        )
        for g in generators
        for p in prompts
    )
    # Some votes, so that the weights come from a real fit.
    rng = random.Random(0)
    crowd = [Voter.objects.create() for _ in range(50)]
    for _ in range(2000):
        voter = rng.choice(crowd)
        battle = issue_battle(voter_id=voter.id, arena="no-audio")
        cast_vote(
            token=battle.token,
            voter=voter,
            choice=rng.choice("ab"),
            now=battle.issued_at + (battle.expires_at - battle.issued_at) / 2,
        )
    leaderboards.recompute(rounds=100)

    voters = [Voter.objects.create() for _ in range(200)]
    issue_battle(voter_id=voters[0].id, arena="no-audio")  # warm the caches
    timings, queries = [], []
    for i in range(args.battles):
        voter = voters[i % len(voters)]
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            issue_battle(voter_id=voter.id, arena="no-audio")
            timings.append((time.perf_counter() - started) * 1000)
        queries.append(len(captured))
    timings.sort()
    p = lambda q: timings[min(len(timings) - 1, int(q * len(timings)))]  # noqa: E731
    print(
        f"bench/battle_latency: {args.models} models, {args.prompts} prompts, "
        f"{args.models * args.prompts} clips, PostgreSQL, {args.battles} battles"
    )
    print(
        f"  issue_battle server time: p50 {p(0.50):.2f} ms  p90 {p(0.90):.2f} ms  "
        f"p99 {p(0.99):.2f} ms  max {timings[-1]:.2f} ms  mean {statistics.mean(timings):.2f} ms"
    )
    print(f"  queries per battle: min {min(queries)}  max {max(queries)}")


if __name__ == "__main__":
    main()
