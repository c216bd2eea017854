import json as _json

from django.core.management.base import BaseCommand, CommandParser

from votes.stats import arena_stats


class Command(BaseCommand):
    help = (
        "Operator's counts: votes stored, counted, quarantined, invalidated and attention "
        "checks (overall and per arena and mode); battles issued, voted, expired; voters seen, "
        "flagged, quarantined, banned."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: object, json: bool = False, **options: object) -> None:
        stats = arena_stats()
        if json:
            self.stdout.write(_json.dumps(stats, indent=2))
            return
        votes, battles, voters = stats["votes"], stats["battles"], stats["voters"]
        self.stdout.write(
            "votes    " + "  ".join(f"{k} {v}" for k, v in votes.items() if k != "by_arena_mode")
        )
        for board, counts in votes["by_arena_mode"].items():
            self.stdout.write(f"  {board:<24}" + "  ".join(f"{k} {v}" for k, v in counts.items()))
        self.stdout.write("battles  " + "  ".join(f"{k} {v}" for k, v in battles.items()))
        self.stdout.write("voters   " + "  ".join(f"{k} {v}" for k, v in voters.items()))
