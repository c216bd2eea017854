from django.core.management.base import BaseCommand, CommandError, CommandParser

from arena import leaderboards


class Command(BaseCommand):
    help = (
        "Recompute every leaderboard now, in the foreground (no worker needed): fold the votes "
        "cast since the last run into the boards' counts, refit, store snapshots; prints one "
        "line per board. --full recounts every board from all votes first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--full",
            action="store_true",
            help="rebuild the counts from all votes, then refit every board",
        )
        parser.add_argument(
            "--rounds",
            type=int,
            default=None,
            help="bootstrap rounds (default: ARENA_BOOTSTRAP_ROUNDS)",
        )

    def handle(self, *args, full: bool, rounds: int | None, **options) -> None:
        try:
            results = leaderboards.recompute(full=full, refit_all=True, rounds=rounds)
        except leaderboards.RecomputeBusy as exc:
            raise CommandError(f"{exc}; try again in a minute") from exc
        for r in results:
            self.stdout.write(
                f"{r.board:<40} {r.votes:>9} votes {r.listed:>4} models listed "
                f"{r.seconds * 1000:8.1f} ms"
            )
        if not results:
            self.stdout.write("No boards yet: no counted votes.")
