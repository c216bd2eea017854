"""Import votes: an existing arena's history in the dataset schema, or another arena's log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from arena.models import Arena, Mode
from votes import importer

SHOWN_ERRORS = 50


class Command(BaseCommand):
    help = (
        "Import votes from FILE (.jsonl, .jsonl.gz, .csv, .csv.gz or .parquet) in the dataset "
        "schema (vote_id, battle_id, created_at, arena, mode, categories, prompt_id, prompt, "
        "input_image_url, model_a, model_b, clip_a_url, clip_b_url, winner, voter, "
        "time_to_vote_ms, source), creating the models and prompts it does not know. "
        "vote_id is the key: re-importing the same file adds nothing. "
        "A bad row is reported with its line or row number and reason, and the rest of the "
        "file is still imported; exits non-zero if any row was refused. "
        "With --from fastchat or --from genai-arena, reads another arena's battle log instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--from",
            dest="origin",
            choices=importer.ORIGINS,
            default="dataset",
            help="the file's schema: this project's dataset (default), a FastChat/LMArena "
            "battle log (JSON list or JSONL), or a GenAI-Arena vote log (JSONL, CSV, Parquet)",
        )
        parser.add_argument(
            "--arena",
            choices=Arena.values,
            default=Arena.NO_AUDIO,
            help="arena of the votes of a foreign log (default: no-audio)",
        )
        parser.add_argument(
            "--mode",
            choices=Mode.values,
            default=Mode.TEXT_TO_VIDEO,
            help="mode of the votes of a foreign log (default: text-to-video)",
        )
        parser.add_argument(
            "--batch-rows",
            type=int,
            default=importer.BATCH_ROWS,
            help="rows per batch and transaction (default: %(default)s)",
        )

    def handle(self, *args: Any, file: Path, origin: str, verbosity: int, **options: Any) -> None:
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        with tqdm(
            total=importer.expected_rows(file) if origin == "dataset" else None,
            desc="votes",
            unit=" rows",
            unit_scale=True,
            disable=verbosity == 0,
            file=self.stderr,
        ) as bar:
            try:
                result = importer.import_votes(
                    file,
                    origin=origin,
                    arena=options["arena"],
                    mode=options["mode"],
                    batch_rows=options["batch_rows"],
                    progress=bar.update,
                )
            except importer.VoteImportError as exc:
                raise CommandError(str(exc)) from exc
        for error in result.errors[:SHOWN_ERRORS]:
            self.stderr.write(self.style.ERROR(f"{result.label} {error.position}: {error.reason}"))
        if result.refused > SHOWN_ERRORS:
            self.stderr.write(f"… and {result.refused - SHOWN_ERRORS} more refused row(s).")
        self.stdout.write(
            f"{result.read} read, {result.imported} imported, "
            f"{result.already_present} already present, {result.refused} refused "
            f"({result.generators_created} model(s) and {result.prompts_created} prompt(s) "
            "created)."
        )
        if result.refused:
            raise CommandError(f"{result.refused} row(s) refused; see above")
