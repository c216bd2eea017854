"""Leaderboard speed on PostgreSQL: import, full recompute, incremental recompute, memory.

Generates synthetic votes (30 models, 1 000 prompts, 2 arenas x 2 modes x 8 categories) in
the dataset schema, loads them with `import_votes`, then times, end to end:
  - the import (rows per second);
  - a full recompute of every board (aggregation from the votes, fits with 1 000 bootstrap
    rounds each, snapshots written);
  - an incremental recompute after 10 000 new votes (folding them into the boards, then
    refitting every board they changed), three times over, with the time of each phase;
and prints the peak resident memory of the process. Each size runs in a fresh process on a
fresh database, so the memory figures are per size.

Run (PostgreSQL on 127.0.0.1:5432 with trust auth; the database is dropped and recreated):

    .venv/bin/python bench/ratings.py                      # 1M and 10M votes
    .venv/bin/python bench/ratings.py --votes 1000000      # one size
    .venv/bin/python bench/ratings.py --server postgres://postgres@127.0.0.1:5432
    .venv/bin/python bench/ratings.py --database my_bench   # another database name
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "arena_bench"  # the default; --database picks another


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def backend_cpu() -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL backend, if it runs here.

    On a shared machine wall times swing with the load; CPU times say what the work costs.
    """
    return pid_cpu(backend_pid())


def backend_pid() -> int:
    from django.db import connection

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def pid_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class OtherBackends:
    """CPU seconds of this database's other PostgreSQL backends while the block runs.

    import_votes writes from a second connection, whose backend ends with the import: it is
    sampled every 50 ms (so up to 50 ms of a backend's last moments can be missed, and short
    parallel workers are only partly counted).
    """

    def __init__(self, url: str, own_pid: int) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.skip = {own_pid, self.conn.info.backend_pid}
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self._sample(baseline=True)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self, baseline: bool = False) -> None:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchall()
        for (pid,) in rows:
            if pid in self.skip or (cpu := pid_cpu(pid)) is None:
                continue
            self.first.setdefault(pid, cpu if baseline else 0.0)
            self.last[pid] = cpu

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self._sample()

    def seconds(self) -> tuple[float, int]:
        """Stop; the CPU seconds used meanwhile, and by how many backends."""
        self.stop.set()
        self.thread.join()
        self._sample()
        self.conn.close()
        used = {pid: self.last[pid] - self.first[pid] for pid in self.last}
        return sum(used.values()), sum(1 for v in used.values() if v > 0)


INCREMENTAL_RUNS = 3  # each after another 10 000 new votes: one run alone is too noisy here


class PhaseLog(logging.Handler):
    """The phase times the last recompute logged (arena.leaderboards), in seconds."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.last: dict[str, float] = {}
        logger = logging.getLogger("arena.leaderboards")
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # the figures are printed below, not logged

    def emit(self, record: logging.LogRecord) -> None:
        self.last = dict(getattr(record, "phases_s", {}))


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def recreate_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def run_one(votes: int, server: str, rounds: int, database: str = DB_NAME) -> None:
    os.environ["DATABASE_URL"] = f"{server}/{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
    recreate_database(server, database)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from arena import boards as boards_module
    from arena import chord, leaderboards, resample
    from arena.models import Board
    from votes import importer, synthetic

    settings.ARENA_BOOTSTRAP_ROUNDS = rounds
    phases = PhaseLog()
    call_command("migrate", verbosity=0)
    models = synthetic.model_names(30)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "votes.parquet"
        started = time.perf_counter()
        synthetic.write_synthetic_parquet(data, votes, models, 1000, seed=1)
        generated = time.perf_counter() - started

        others = OtherBackends(os.environ["DATABASE_URL"], backend_pid())
        started, cpu, db_cpu = time.perf_counter(), own_cpu(), backend_cpu()
        result = importer.import_votes(data)
        imported_in = time.perf_counter() - started
        import_peak = peak_mb()
        cpu, db_cpu = own_cpu() - cpu, (backend_cpu() or 0.0) - (db_cpu or 0.0)
        other_cpu, other_backends = others.seconds()
        assert result.imported == votes, result

        # What an operator does after a bulk load, and what PostgreSQL would otherwise do in
        # the background during the timings below: vacuum and analyze the new rows, and write
        # the checkpoint. (Left to autovacuum, 10M rows kept a core busy for over a minute.)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) votes_vote")
            cursor.execute("VACUUM (ANALYZE) arena_tally")
            cursor.execute("CHECKPOINT")
        settled_in = time.perf_counter() - started

        # Every board refitted from the counts that import_votes folded as it went; the refits'
        # percentile kernel loaded first, as a worker does when it starts (arena/celery.py).
        chord.warm_up()
        started, cpu_full = time.perf_counter(), own_cpu()
        full = leaderboards.recompute(refit_all=True)
        full_in = time.perf_counter() - started
        cpu_full = own_cpu() - cpu_full
        boards = Board.objects.count()
        # And the same from scratch: every board recounted from all the votes, then refitted.
        started = time.perf_counter()
        rebuilt = leaderboards.recompute(full=True)
        rebuild_in = time.perf_counter() - started

        import pyarrow.parquet as pq

        # A worker does this when it starts (arena/celery.py): compile the kernels that update
        # the bootstrap (first run after an install) or load them from numba's disk cache.
        started = time.perf_counter()
        resample.warm_up()
        warm_in = time.perf_counter() - started
        incremental_runs = []
        for run in range(INCREMENTAL_RUNS):
            more = Path(tmp) / f"more{run}.parquet"
            table = synthetic.synthetic_votes(
                10_000, models, 1000, seed=2 + run, first_id=votes + run * 10_000
            )
            pq.write_table(table, more)
            # The 10 000 votes are stored but not folded, as if they had come through the
            # vote API: the incremental recompute below folds them into the boards and refits.
            fold, boards_module.fold_new_votes = boards_module.fold_new_votes, lambda: 0
            try:
                importer.import_votes(more)
            finally:
                boards_module.fold_new_votes = fold
            started, cpu_inc = time.perf_counter(), own_cpu()
            incremental = leaderboards.recompute()
            incremental_runs.append(
                (time.perf_counter() - started, own_cpu() - cpu_inc, len(incremental), phases.last)
            )

    print(
        f"{votes:>11,} votes  generate {generated:6.1f} s  "
        f"import {votes / imported_in:>9,.0f} rows/s ({imported_in:.1f} s, folding included)"
    )
    print(
        f"{'':>11}        import CPU: this process {cpu:.1f} s, its PostgreSQL backend "
        f"{db_cpu:.1f} s, other backends {other_cpu:.1f} s ({other_backends} sampled: the "
        "import's writer connection, parallel workers, autovacuum)"
    )
    print(f"{'':>11}        then VACUUM (ANALYZE) and CHECKPOINT {settled_in:6.1f} s")
    print(
        f"{'':>11}        full recompute {full_in:6.2f} s  ({len(full)} of {boards} boards "
        f"refitted, {rounds} rounds; CPU {cpu_full:.2f} s)"
    )
    print(
        f"{'':>11}        full rebuild from all votes {rebuild_in:6.2f} s  "
        f"(every board recounted from the votes and refitted: {len(rebuilt)})"
    )
    for run, (seconds, cpu_inc, refitted, split) in enumerate(incremental_runs, 1):
        parts = ", ".join(f"{name} {value:.2f}" for name, value in split.items())
        print(
            f"{'':>11}        incremental recompute after 10 000 votes ({run}) {seconds:6.2f} s "
            f"({refitted} boards refitted; CPU {cpu_inc:.2f} s; {parts})"
        )
    walls = sorted(run[0] for run in incremental_runs)
    print(
        f"{'':>11}        incremental recompute: median {walls[len(walls) // 2]:.2f} s, "
        f"worst {walls[-1]:.2f} s of {len(walls)} (kernels loaded before them in {warm_in:.2f} s)"
    )
    print(
        f"{'':>11}        peak memory {peak_mb():,.0f} MB ({import_peak:,.0f} MB by the end of "
        f"the import); {load()}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--database", default=DB_NAME, help="dropped and recreated")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.votes[0], args.server, args.rounds, args.database)
        return
    print(
        f"bench/ratings: PostgreSQL at {args.server}, 30 models, 1000 prompts, "
        f"{args.rounds} bootstrap rounds, {os.cpu_count()} cores, {load()}"
    )
    for votes in args.votes:
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                "--votes",
                str(votes),
                "--server",
                args.server,
                "--rounds",
                str(args.rounds),
                "--database",
                args.database,
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
