"""Load test of the vote path: simulated voters against gunicorn + PostgreSQL + Redis.

How to run (PostgreSQL on 127.0.0.1:5432 with trust auth, Redis on 127.0.0.1:6379, the
dev extra installed: `make setup`; the client is bench/rawhttp.py, or aiohttp with --client):

    .venv/bin/python bench/load.py                                # 8, 32, 64, 128 voters, 60 s each
    .venv/bin/python bench/load.py --duration 10 --concurrency 8 32   # a quicker look

It sets up everything itself: drops and recreates the database --database (default
arena_load) on --pg, migrates it, collects the static files, seeds a small demo catalogue
(seed_demo with 1 s 160x96 clips and a few hundred demo votes, so that matchmaking draws
from a real fit), empties Redis database --redis (default db 14: it is FLUSHED), and starts
`gunicorn -c gunicorn.conf.py arena.wsgi` with DEBUG off, ARENA_MIN_WATCH_MS=--watch-ms and
the rate limits off (or --rate-session/--rate-ip), then stops it at the end.

Each simulated voter is one session: it GETs the vote page (session-less, which sets the
CSRF cookie), then loops for --duration seconds: POST /api/v1/battles/, wait the battle's
min_watch_ms (times 1 to 1.5, as people take longer; each voter also starts at a random
moment of its first 1.5 watch times, so that voters do not move in step), then POST
/api/v1/battles/<token>/vote/ with a random choice. With --watch-ms 0 (the default)
voters do not wait at all, which finds the most the server can take; a realistic
--watch-ms needs many more voters for the same load (e.g. --watch-ms 4000
--concurrency 1600 for about 300 votes/s). Per concurrency it prints votes per second,
p50 and p99 latency of the vote and of the battle request, errors by kind, and the votes
acknowledged (201) against the Vote rows stored during that run (compared battle by
battle, not only counted). It also measures the same server on trivial endpoints
(GET /healthz, a static file) for comparison.

The client runs on the same machine and competes with the server for its cores: its own
CPU use and the whole machine's are printed with every row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import rawhttp  # noqa: E402 - bench/rawhttp.py, beside this file

CHOICES = ("a", "b", "tie", "both_bad")


@dataclass
class Stats:
    latency: dict[str, list[float]] = field(default_factory=lambda: {"battle": [], "vote": []})
    errors: Counter = field(default_factory=Counter)
    acked: set[str] = field(default_factory=set)
    battles: int = 0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def proc_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of these processes."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(stat[11]) + int(stat[12])) / tick
    return used


def server_pids(master: int | None, dsn: str) -> dict[str, list[int]]:
    """gunicorn's workers, and the PostgreSQL backends serving the bench database."""
    workers = []
    if master is not None:
        children = Path(f"/proc/{master}/task/{master}/children")
        workers = [int(x) for x in children.read_text().split()] if children.exists() else []
    # A backend's title names its database: "postgres: 15/main: USER DATABASE HOST(PORT) ...".
    database = dsn.rsplit("/", 1)[1].split("?")[0]
    backends = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().decode(errors="replace").split()
            except OSError:
                continue
            if title[:1] == ["postgres:"] and database in title[3:5]:
                backends.append(int(entry.name))
    return {"gunicorn": workers, "postgres": backends}


class Meter:
    """CPU used over an interval: this client, the server's processes, the whole machine."""

    def __init__(self, master: int | None, dsn: str) -> None:
        self.master, self.dsn = master, dsn

    def _server(self) -> dict[str, dict[int, float]]:
        return {k: proc_cpu(v) for k, v in server_pids(self.master, self.dsn).items()}

    def _sample(self) -> None:
        # Processes come and go (connections are recycled after CONN_MAX_AGE): keep each
        # one's last reading, so that one that ended during the run still counts.
        while not self.done.wait(0.5):
            for kind, now in self._server().items():
                self.last.setdefault(kind, {}).update(now)

    def __enter__(self) -> Meter:
        self.server = self._server()
        self.last = {kind: dict(now) for kind, now in self.server.items()}
        self.done = threading.Event()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()
        self.cpu, self.wall, self.busy = time.process_time(), time.monotonic(), machine_busy()
        return self

    def __exit__(self, *exc: object) -> None:
        busy = machine_busy()
        self.seconds = time.monotonic() - self.wall
        self.client = (time.process_time() - self.cpu) / self.seconds
        self.machine = (busy[0] - self.busy[0]) / max(1, busy[1] - self.busy[1])
        self.done.set()
        self.sampler.join()
        for kind, now in self._server().items():
            self.last.setdefault(kind, {}).update(now)
        self.used = {
            kind: sum(t - self.server.get(kind, {}).get(pid, 0.0) for pid, t in now.items())
            for kind, now in self.last.items()
        }

    def per(self, count: int) -> str:
        """Server CPU milliseconds per unit of work (a vote, a request)."""
        if not self.used or not count:
            return ""
        parts = [f"{kind} {seconds * 1000 / count:.2f}" for kind, seconds in self.used.items()]
        return "server CPU ms each: " + ", ".join(parts) + "; "

    def capacity(self, count: int) -> str:
        """Units per second the cores could serve if nothing else ran (Redis not counted)."""
        if not self.used or not count:
            return ""
        per = sum(self.used.values()) / count
        cores = os.cpu_count() or 1
        return f"=> at most {cores / per:.0f}/s on {cores} idle cores; " if per else ""

    def __str__(self) -> str:
        cores = os.cpu_count() or 1
        return (
            f"client {self.client * 100:.0f}% of a core, "
            f"machine {self.machine * cores:.2f}/{cores} cores busy"
        )


async def call(
    http: rawhttp.Connection,
    method: str,
    path: str,
    jar: dict[str, str],
    stats: Stats,
    kind: str,
    expect: int,
    body: dict | None = None,
) -> dict | None:
    """One request with this voter's cookies; None (and an error counted) unless `expect`."""
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
    if method == "POST":
        headers["X-CSRFToken"] = jar.get("csrftoken", "")
    started = time.perf_counter()
    try:
        answer = await asyncio.wait_for(http.request(method, path, headers, body), 60)
    except Exception as exc:  # noqa: BLE001 - every failure is an error of its kind
        stats.errors[f"{kind}: {exc.__class__.__name__}"] += 1
        return None
    elapsed = (time.perf_counter() - started) * 1000
    jar.update(answer.cookies)
    if kind in stats.latency:
        stats.latency[kind].append(elapsed)
    if answer.status != expect:
        text = answer.body[:60].decode(errors="replace")
        stats.errors[f"{kind}: HTTP {answer.status} {text}"] += 1
        return None
    return json.loads(answer.body) if answer.body[:1] == b"{" else {}


async def voter(
    http: rawhttp.Connection,
    stats: Stats,
    ready: asyncio.Barrier,
    stop: list[float],
    rng: random.Random,
    watch_ms: int,
) -> None:
    jar: dict[str, str] = {}
    await call(http, "GET", "/vote/no-audio/", jar, stats, "page", 200)
    await ready.wait()
    # Voters do not all start together: each arrives within the first watch time.
    await asyncio.sleep(rng.uniform(0, 1.5 * watch_ms / 1000))
    while time.monotonic() < stop[0]:
        battle = await call(
            http, "POST", "/api/v1/battles/", jar, stats, "battle", 201, {"arena": "no-audio"}
        )
        if battle is None:
            await asyncio.sleep(0.05)
            continue
        stats.battles += 1
        if battle["min_watch_ms"]:  # people take a little longer than the least watch time
            await asyncio.sleep(battle["min_watch_ms"] / 1000 * rng.uniform(1.0, 1.5))
        vote = await call(
            http,
            "POST",
            f"/api/v1/battles/{battle['token']}/vote/",
            jar,
            stats,
            "vote",
            201,
            {"choice": rng.choice(CHOICES)},
        )
        if vote is not None:
            stats.acked.add(vote["battle"])
    await http.close()


async def hammer(http: rawhttp.Connection, path: str, stats: Stats, stop: list[float]) -> None:
    while time.monotonic() < stop[0]:
        stats.latency.setdefault("get", [])
        before = len(stats.latency["get"])
        await call(http, "GET", path, {}, stats, "get", 200)
        if len(stats.latency["get"]) == before:
            await asyncio.sleep(0.05)
    await http.close()


@asynccontextmanager
async def clients(base: str, n: int, kind: str) -> AsyncIterator[list[rawhttp.Connection]]:
    """One connection per simulated client: the lean client, or aiohttp's (--client)."""
    if kind == "raw":
        yield [rawhttp.Connection(base) for _ in range(n)]
        return
    async with rawhttp.session(n) as shared:
        yield [rawhttp.AiohttpConnection(shared, base) for _ in range(n)]


async def run_voters(
    base: str, n: int, duration: float, meter: Meter, client: str, watch_ms: int
) -> tuple[Stats, Meter]:
    stats, stop = Stats(), [float("inf")]
    ready = asyncio.Barrier(n + 1)
    async with clients(base, n, client) as conns:
        tasks = [
            asyncio.create_task(voter(conns[i], stats, ready, stop, random.Random(i), watch_ms))
            for i in range(n)
        ]
        await ready.wait()
        with meter:
            stop[0] = time.monotonic() + duration
            await asyncio.gather(*tasks)
    return stats, meter


async def run_trivial(
    base: str, path: str, n: int, duration: float, meter: Meter, client: str
) -> tuple[Stats, Meter]:
    stats, stop = Stats(), [time.monotonic() + duration]
    async with clients(base, n, client) as conns:
        with meter:
            await asyncio.gather(*(hammer(conn, path, stats, stop) for conn in conns))
    return stats, meter


def prepare(args: argparse.Namespace, tmp: Path) -> dict[str, str]:
    """Fresh database, static files, demo catalogue; returns the server's environment."""
    import psycopg
    import redis

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')
    redis.Redis.from_url(args.redis).flushdb()
    env = {
        "DJANGO_SETTINGS_MODULE": "arena.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on the loopback
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"{args.pg}/{args.database}",
        "CACHE_URL": args.redis,
        "CELERY_BROKER_URL": args.redis,
        "MEDIA_ROOT": str(tmp / "media"),
        "STATIC_ROOT": str(tmp / "static"),
        "ARENA_VAR_DIR": str(tmp / "var"),
        "ARENA_MIN_WATCH_MS": str(args.watch_ms),
        "ARENA_RATE_SESSION": args.rate_session,
        "ARENA_RATE_IP": args.rate_ip,
        "PORT": str(args.port),
        "GUNICORN_ACCESS_LOG": str(tmp / "access.log"),
        "GUNICORN_ERROR_LOG": str(tmp / "gunicorn.log"),
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    call_command(
        "seed_demo",
        seconds=1.0,
        size="160x96",
        prompts=args.prompts,
        votes=args.seed_votes,
        verbosity=0,
    )
    from django.db import connections

    connections.close_all()
    return os.environ.copy()


def start_server(env: dict[str, str], base: str) -> subprocess.Popen[bytes]:
    import socket
    import urllib.request

    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", int(env["PORT"]))) == 0:
            # Or we would measure whatever listens there: pick another --port.
            raise SystemExit(f"something already listens on port {env['PORT']}")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", "arena.wsgi"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{base}/vote/no-audio/", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with code {server.returncode}")
    raise SystemExit("gunicorn did not answer within 30 s")


def stored_since(vote_id: int, battle_id: int) -> tuple[set[str], int]:
    from arena.models import Battle
    from votes.models import Vote

    uids = set(Vote.objects.filter(id__gt=vote_id).values_list("battle_uid", flat=True))
    return uids, Battle.objects.filter(id__gt=battle_id).count()


def watermarks() -> tuple[int, int]:
    from arena.models import Battle
    from votes.models import Vote

    last_vote = Vote.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return last_vote, Battle.objects.order_by("-id").values_list("id", flat=True).first() or 0


def errors_text(errors: Counter) -> str:
    return "none" if not errors else "; ".join(f"{k} x{v}" for k, v in errors.most_common())


def main() -> None:
    args = parse_args()
    base = args.url or f"http://127.0.0.1:{args.port}"
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="arena-load-") as folder:
        if args.url:
            import django

            django.setup()
        else:
            env = prepare(args, Path(folder))
        from django.conf import settings

        from arena.models import Clip

        server = None if args.url else start_server(env, base)
        master = server.pid if server else args.server_pid
        dsn = os.environ["DATABASE_URL"]
        try:
            print(
                f"bench/load: gunicorn -c gunicorn.conf.py arena.wsgi (WEB_CONCURRENCY "
                f"{os.environ.get('WEB_CONCURRENCY', 'default')}, GUNICORN_THREADS "
                f"{os.environ.get('GUNICORN_THREADS', 'default')}, "
                f"{os.environ.get('GUNICORN_WORKER_CLASS', 'gthread')}) + PostgreSQL + Redis,"
                f" DEBUG off, {Clip.objects.count()} clips, watch time "
                f"{settings.ARENA_MIN_WATCH_MS} ms, rate limits "
                f"{settings.ARENA_RATE_SESSION}/{settings.ARENA_RATE_IP}"
            )
            print(
                f"machine: {os.cpu_count()} cores shared by the server, PostgreSQL, Redis AND "
                f"this client (and anything else running); load average before: "
                f"{load_before:.2f}"
            )
            if args.warmup > 0 and args.concurrency:
                warm = Meter(None, dsn)
                asyncio.run(
                    run_voters(
                        base, args.concurrency[0], args.warmup, warm, args.client, args.watch_ms
                    )
                )
            for path in args.trivial:
                if path == "/healthz" and not args.url:
                    # No Celery worker runs here: report in as one would, so that /healthz
                    # answers 200 (its database, cache and broker checks are real).
                    from arena import health

                    health.record_heartbeat(hostname="bench/load")
                stats, meter = asyncio.run(
                    run_trivial(
                        base,
                        path,
                        args.trivial_concurrency,
                        args.duration,
                        Meter(master, dsn),
                        args.client,
                    )
                )
                got = stats.latency.get("get", [])
                print(
                    f"trivial GET {path}, {args.trivial_concurrency} clients, "
                    f"{meter.seconds:.0f} s: {len(got) / meter.seconds:.0f} req/s, p50 "
                    f"{pct(got, 0.5):.1f} ms, p99 {pct(got, 0.99):.1f} ms, errors "
                    f"{errors_text(stats.errors)}; {meter.per(len(got))}{meter}"
                )
            print(
                f"{'voters':>6} {'votes/s':>8} {'vote p50':>9} {'vote p99':>9} "
                f"{'battle p50':>10} {'battle p99':>10} {'acked':>7} {'stored':>7}"
            )
            for n in args.concurrency:
                vote_mark, battle_mark = watermarks()
                stats, meter = asyncio.run(
                    run_voters(
                        base, n, args.duration, Meter(master, dsn), args.client, args.watch_ms
                    )
                )
                stored, battles = stored_since(vote_mark, battle_mark)
                rate = len(stats.acked) / meter.seconds
                votes, issued = stats.latency["vote"], stats.latency["battle"]
                exact = stored == stats.acked
                met = rate >= 300 and pct(votes, 0.99) < 100 and not stats.errors and exact
                print(
                    f"{n:>6} {rate:>8.1f} {pct(votes, 0.5):>7.1f}ms {pct(votes, 0.99):>7.1f}ms "
                    f"{pct(issued, 0.5):>8.1f}ms {pct(issued, 0.99):>8.1f}ms "
                    f"{len(stats.acked):>7} {len(stored):>7}"
                )
                print(
                    f"{'':>6} targets {'MET' if met else 'not met'}; acked "
                    f"{'=' if exact else '!='} stored (battle by battle); battles "
                    f"{stats.battles} acked, {battles} stored; errors "
                    f"{errors_text(stats.errors)}"
                )
                acked = len(stats.acked)
                print(
                    f"{'':>6} {meter.per(acked).replace('each', 'per vote')}"
                    f"{meter.capacity(acked)}{meter}"
                )
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=60)
                import redis

                redis.Redis.from_url(args.redis).flushdb()
    print("targets: >= 300 votes/s sustained, vote p99 < 100 ms, no errors, acked = stored")


def parse_args() -> argparse.Namespace:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="*",
        default=[8, 32, 64, 128],
        help="numbers of simulated voters, one run each",
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per run")
    parser.add_argument(
        "--watch-ms",
        type=int,
        default=0,
        help="ARENA_MIN_WATCH_MS for the server; voters wait that long",
    )
    parser.add_argument("--rate-session", default="off", help="ARENA_RATE_SESSION")
    parser.add_argument("--rate-ip", default="off", help="ARENA_RATE_IP")
    parser.add_argument(
        "--trivial",
        nargs="*",
        default=["/healthz", "/static/arena/vote.js"],
        help="cheap endpoints to measure for comparison",
    )
    parser.add_argument("--trivial-concurrency", type=int, default=32)
    parser.add_argument(
        "--client",
        choices=["raw", "aiohttp"],
        default="raw",
        help="HTTP client: the lean one (bench/rawhttp.py, least CPU) or aiohttp",
    )
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="arena_load", help="dropped and recreated")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="FLUSHED first")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--prompts", type=int, default=3, help="demo prompts per mode")
    parser.add_argument("--seed-votes", type=int, default=300)
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds of unmeasured voting first (fresh workers are cold)",
    )
    parser.add_argument(
        "--url",
        help="measure this running server instead: no set-up; its "
        "DATABASE_URL and other settings must be in this environment",
    )
    parser.add_argument("--server-pid", type=int, help="with --url: gunicorn's master pid")
    return parser.parse_args()


if __name__ == "__main__":
    main()
