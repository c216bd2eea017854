"""Can 1 000 votes buy a rank? Attacks on the arena with its defences off and on.

Run from the repository root (about 5 minutes on 2 cores; SQLite files under var/):

    .venv/bin/python bench/rigging.py [--honest-voters 200] [--votes-per-voter 40] [--seed 0]

What it does:

1. Builds a catalogue of 8 models (true Bradley-Terry ratings below), 24 prompts and their
   clips (rows only: no media is needed to issue and judge battles), no-audio arena,
   text-to-video mode, attention checks at the default rate (ARENA_ATTENTION_CHECK_RATE).
2. Replays honest voters through the real vote path (arena.battles.issue_battle and
   votes.services.cast_vote, with their simulated clocks): each has a session, an address
   (a few share one, as behind a home router), votes by the true ratings (ties about 10 %),
   waits for the clips to end and a few seconds more, and passes attention checks (3 % slip).
   Recomputes the leaderboard: the baseline.
3. For each attack, on a copy of that database, one attacker casts 1 000 votes from 40
   sessions behind 3 addresses (--attack-sessions, --attack-addresses), at a human pace
   (no speed tell):
   - target-only: requests battles until the target model is in one and votes for it
     (skips the rest); on an attention check it cannot tell the broken copy and guesses;
   - omnipresent: votes on every battle: for the target when it is there, otherwise against
     whichever model of the pair is rated above the target (and honestly when neither is).
   Then: the board with the defences off (every vote counted), and with them on
   (votes.scanning.scan() quarantines, then a recompute).
4. Prints the target's rank and rating against the baseline, its interval half-width, the
   detector's recall (attacker sessions flagged or quarantined; attack votes quarantined)
   and its false-positive rate on honest sessions.

Targets (issue 5): with the defences on, the target moves by less than its own interval
half-width; recall at least 80 % with at most 5 % false positives.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BASE_DB = ROOT / "var" / "bench-rigging-honest.sqlite3"
os.environ["DATABASE_URL"] = f"sqlite:///{BASE_DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
os.environ.setdefault("ARENA_MIN_WATCH_MS", "")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.utils import timezone  # noqa: E402

from arena import catalogue, leaderboards  # noqa: E402
from arena.battles import issue_battle  # noqa: E402
from arena.models import Board, Category, Clip, Generator, Prompt  # noqa: E402
from votes.identity import address_hashes  # noqa: E402
from votes.models import Vote, Voter  # noqa: E402
from votes.scanning import scan  # noqa: E402
from votes.services import cast_vote  # noqa: E402

TRUTH = {
    "Apex": 1150.0,
    "Borealis": 1100.0,
    "Cinder": 1060.0,
    "Drift": 1030.0,
    "Ember": 1000.0,
    "Fathom": 970.0,
    "Gossamer": 930.0,
    "Halo": 880.0,
}
TARGET = "Fathom"
CLIP_SECONDS = 4.0
ARENA, MODE = "no-audio", "text-to-video"
TIE_RATE = 0.10
ATTACK_VOTES = 1000


def build_catalogue() -> dict[int, str]:
    people = Category.objects.create(slug="people", name="People", bit=0)
    generators = [
        Generator.objects.create(name=name, organisation="Bench", modes=[MODE]) for name in TRUTH
    ]
    for p in range(24):
        prompt = Prompt.objects.create(text=f"bench prompt {p}", mode=MODE)
        prompt.categories.add(people)
        for g in generators:
            Clip.objects.create(
                generator=g,
                prompt=prompt,
                status=Clip.Status.READY,
                source=f"sources/bench-{g.id}-{p}.mp4",
                sha256=f"{g.id:032x}{p:032x}",
                duration=CLIP_SECONDS,
                width=480,
                height=272,
                fps=24.0,
                rendition_silent=f"r/bench-{g.id}-{p}.mp4",
                broken_silent=f"r/bench-broken-{g.id}-{p}.mp4",
                broken_kind="frozen",
            )
    catalogue.invalidate()
    return {g.id: g.name for g in generators}


class Clock:
    """Simulated time: each voter's session runs at its own pace inside the last two days."""

    def __init__(self, start: datetime) -> None:
        self.now = start


def new_voter(address: str, rng: random.Random) -> Voter:
    ip_hash, net_hash = address_hashes(address)
    return Voter.objects.create(ip_hash=ip_hash, net_hash=net_hash, ua_hash=f"ua{rng.random()}")


def honest_choice(battle, names: dict[int, str], rng: random.Random) -> str:  # noqa: ANN001
    if battle.attention_check:
        slip = rng.random() < 0.03
        good = "b" if battle.broken_side == "a" else "a"
        return battle.broken_side if slip else good
    ra, rb = TRUTH[names[battle.model_a_id]], TRUTH[names[battle.model_b_id]]
    p_a = 1.0 / (1.0 + 10 ** ((rb - ra) / 400.0))
    if rng.random() < TIE_RATE:
        return "tie"
    return "a" if rng.random() < p_a else "b"


def session(
    voter: Voter,
    clock: Clock,
    rng: random.Random,
    votes: int,
    decide,  # noqa: ANN001 - (battle) -> choice or None to skip
) -> int:
    """Request battles and vote like a person would; returns votes cast."""
    cast = 0
    attempts = 0
    while cast < votes and attempts < votes * 20:
        attempts += 1
        battle = issue_battle(voter_id=voter.id, arena=ARENA, mode=MODE, now=clock.now)
        choice = decide(battle)
        if choice is None:
            clock.now += timedelta(seconds=1 + rng.random())
            continue
        clock.now += timedelta(seconds=CLIP_SECONDS + rng.uniform(2.0, 12.0))
        cast_vote(token=battle.token, voter=voter, choice=choice, now=clock.now)
        cast += 1
    return cast


def honest_phase(voters: int, per_voter: int, rng: random.Random, names: dict[int, str]) -> None:
    start = timezone.now() - timedelta(days=2)
    shared = [f"100.64.{i}.1" for i in range(20)]  # home routers: 2-4 sessions each
    for i in range(voters):
        address = (
            rng.choice(shared) if i % 10 == 0 else f"10.{i // 250}.{i % 250}.{rng.randint(1, 254)}"
        )
        voter = new_voter(address, rng)
        clock = Clock(start + timedelta(seconds=rng.uniform(0, 40 * 3600)))
        n = max(5, int(rng.expovariate(1 / per_voter)))
        session(voter, clock, rng, n, lambda b: honest_choice(b, names, rng))
        if (i + 1) % 50 == 0:
            print(f"  honest voters {i + 1}/{voters}, votes {Vote.objects.count()}", flush=True)


def attack(
    kind: str, rng: random.Random, names: dict[int, str], sessions: int, addresses: int
) -> set[int]:
    target = next(i for i, n in names.items() if n == TARGET)
    above = {i for i, n in names.items() if TRUTH[n] > TRUTH[TARGET]}

    def decide(battle) -> str | None:  # noqa: ANN001
        a, b = battle.model_a_id, battle.model_b_id
        if battle.attention_check:
            return rng.choice("ab")  # both clips "are" the target's or nobody's: a guess
        if target in (a, b):
            return "a" if a == target else "b"
        if kind == "target-only":
            return None
        if a in above or b in above:
            # Sink whichever is rated higher (both may be above the target).
            return "b" if TRUTH[names[a]] > TRUTH[names[b]] else "a"
        return honest_choice(battle, names, rng)

    start = timezone.now() - timedelta(hours=30)
    per_session = ATTACK_VOTES // sessions
    attackers = set()
    # Each address in a network of its own: the attacker rents a few far-apart proxies.
    pool = [f"{203 - i % 50}.{(i * 37) % 256}.{(i * 11) % 256}.7" for i in range(addresses)]
    for s in range(sessions):
        voter = new_voter(pool[s % len(pool)], rng)
        attackers.add(voter.id)
        clock = Clock(start + timedelta(seconds=s * 1800 + rng.uniform(0, 600)))
        session(voter, clock, rng, per_session, decide)
    return attackers


def target_row() -> tuple[int, float, float, int]:
    board = Board.objects.get(arena=ARENA, mode=MODE, category=Board.OVERALL)
    rows = board.latest.rows
    row = next(r for r in rows if r["model"] == TARGET)
    order = sorted(rows, key=lambda r: -r["rating"])
    position = 1 + [r["model"] for r in order].index(TARGET)
    return position, row["rating"], (row["ci_high"] - row["ci_low"]) / 2, board.latest.votes


def use_database(path: Path) -> None:
    connections["default"].close()
    connections["default"].settings_dict["NAME"] = str(path)
    catalogue.invalidate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--honest-voters", type=int, default=200)
    parser.add_argument("--votes-per-voter", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--attack-sessions", type=int, default=40)
    parser.add_argument(
        "--attack-addresses", type=int, default=3, help="addresses the sessions are spread over"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    settings.ARENA_MIN_WATCH_MS = None  # derived from the clips, as in production
    settings.ARENA_RECOMPUTE_BURST = 0
    BASE_DB.parent.mkdir(exist_ok=True)
    BASE_DB.unlink(missing_ok=True)
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    names = build_catalogue()
    print(f"honest phase: {args.honest_voters} voters, ~{args.votes_per_voter} votes each")
    honest_phase(args.honest_voters, args.votes_per_voter, rng, names)
    leaderboards.recompute()
    base_rank, base_rating, half_width, base_votes = target_row()
    honest_ids = set(Voter.objects.values_list("id", flat=True))
    print(
        f"baseline: {base_votes} counted votes; {TARGET} rank {base_rank} of {len(TRUTH)}, "
        f"rating {base_rating:.1f} ± {half_width:.1f} ({time.perf_counter() - started:.0f} s)"
    )
    connections["default"].close()
    results = []
    for kind in ("target-only", "omnipresent"):
        path = BASE_DB.with_name(f"bench-rigging-{kind}.sqlite3")
        shutil.copyfile(BASE_DB, path)
        use_database(path)
        attackers = attack(
            kind, random.Random(args.seed + 1), names, args.attack_sessions, args.attack_addresses
        )
        leaderboards.recompute()
        off = target_row()
        result = scan()
        leaderboards.recompute()
        on = target_row()
        status = dict(Voter.objects.values_list("id", "status"))
        caught = {v for v, s in status.items() if s != Voter.Status.OK}
        attack_votes = Vote.objects.filter(voter_id__in=attackers, attention_check=False)
        removed = attack_votes.filter(quarantined=True).count()
        results.append((kind, off, on, attackers, caught, removed, attack_votes.count(), result))
        for voter in Voter.objects.filter(id__in=caught - attackers)[:5]:
            print(f"  honest but {voter.status}: {'; '.join(voter.evidence.get('reasons', []))}")
    print()
    print(
        f"target {TARGET}: baseline rank {base_rank}, rating {base_rating:.1f}, "
        f"95 % half-width {half_width:.1f} Elo"
    )
    print(
        f"{'attack':<12} {'defences':<8} {'rank':>4} {'rating':>8} {'shift':>7} "
        f"{'< half-width':>12}"
    )
    for kind, off, on, *_ in results:
        for label, (rank, rating, _, _) in (("off", off), ("on", on)):
            shift = rating - base_rating
            ok = "yes" if abs(shift) < half_width else "NO"
            print(f"{kind:<12} {label:<8} {rank:>4} {rating:>8.1f} {shift:>+7.1f} {ok:>12}")
    print()
    for kind, _, _, attackers, caught, removed, total, result in results:
        honest_caught = len(caught & honest_ids)
        print(
            f"{kind:<12} recall: {len(caught & attackers)}/{len(attackers)} attacker sessions "
            f"flagged or quarantined ({len(caught & attackers) / len(attackers):.0%}), "
            f"{removed}/{total} attack votes quarantined ({removed / max(total, 1):.0%}); "
            f"false positives: {honest_caught}/{len(honest_ids)} honest sessions "
            f"({honest_caught / len(honest_ids):.1%}); scan: {result}"
        )
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
