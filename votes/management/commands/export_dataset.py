from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from votes import releases


class Command(BaseCommand):
    help = (
        "Build a new dataset release of the counted votes: votes.parquet, votes.jsonl.gz and/or "
        "votes.csv.gz, a README.md datasheet, manifest.json and the leaderboards as they stand. "
        "With --out DIR the release folder is made in DIR, else in the releases' storage; either "
        "way /datasets/ and /api/v1/datasets/ list it. Prints the folder."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--format",
            dest="formats",
            action="append",
            choices=releases.FORMATS,
            help="repeat for several; default: all",
        )
        parser.add_argument("--out", type=Path, help="make the release folder in this directory")

    def handle(self, *args, formats: list[str] | None, out: Path | None, **options) -> None:
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        try:
            release, folder = releases.create_release(
                formats=tuple(dict.fromkeys(formats or releases.FORMATS)), out=out
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"release {release.version}: {release.rows} votes")
        self.stdout.write(str(folder))
