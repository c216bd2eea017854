"""Create the demo catalogue: generators, prompts in both modes, and real clips made offline."""

from __future__ import annotations

import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from arena import demo_media, demo_votes, ingest, leaderboards
from arena.models import Clip, Generator


def _render(job: tuple[str, str, str, int, int, float, int]) -> str:
    model_slug, prompt_slug, path, width, height, seconds, seed = job
    demo_media.render_clip(
        demo_media.get_model(model_slug),
        demo_media.get_prompt(prompt_slug),
        path,
        width=width,
        height=height,
        seconds=seconds,
        seed=seed,
    )
    return path


class Command(BaseCommand):
    help = (
        "Idempotently create a demo catalogue: several models (about half with sound), "
        "prompts in both modes and several categories, and a real H.264 clip for every model "
        "and prompt, rendered offline. Running it again adds only what is missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seconds", type=float, default=3.0, help="clip length")
        parser.add_argument("--size", default="480x272", help="clip size, WIDTHxHEIGHT")
        parser.add_argument("--models", type=int, default=0, help="only the first N models")
        parser.add_argument(
            "--prompts", type=int, default=0, help="only the first N prompts of each mode"
        )
        parser.add_argument("--jobs", type=int, default=2, help="parallel renderers")
        parser.add_argument(
            "--votes",
            type=int,
            default=0,
            help="also cast this many simulated demo votes (source 'demo') through the real "
            "vote path and recompute the leaderboards, so the boards are not empty",
        )

    def handle(
        self,
        *args,
        seconds: float,
        size: str,
        models: int,
        prompts: int,
        jobs: int,
        votes: int,
        verbosity: int,
        **options,
    ) -> None:
        self.seed_clips(seconds, size, models, prompts, jobs, verbosity)
        if votes:
            cast = demo_votes.simulate_votes(votes)
            leaderboards.recompute()  # only boards that changed (none when already seeded)
            self.stdout.write(f"Demo votes: {cast} cast ({votes} wanted in all).")

    def seed_clips(
        self, seconds: float, size: str, models: int, prompts: int, jobs: int, verbosity: int
    ) -> None:
        width, height = (int(v) for v in size.lower().split("x"))
        chosen_models = demo_media.MODELS[: models or None]
        chosen_prompts = [
            p
            for mode in demo_media.MODES
            for p in [q for q in demo_media.PROMPTS if q.mode == mode][: prompts or None]
        ]
        for model in chosen_models:
            Generator.objects.update_or_create(
                name=model.name,
                defaults={
                    "organisation": model.organisation,
                    "has_sound": model.has_sound,
                    "modes": list(demo_media.MODES),
                },
            )
        existing = set(
            Clip.objects.exclude(status=Clip.Status.REJECTED).values_list(
                "generator__name", "prompt__text"
            )
        )
        todo = [
            (m, p)
            for p in chosen_prompts
            for m in chosen_models
            if (m.name, p.text) not in existing
        ]
        if not todo:
            self.stdout.write("Demo catalogue already complete.")
            return
        with tempfile.TemporaryDirectory() as tmp:
            images: dict[str, Path] = {}
            for prompt in chosen_prompts:
                if prompt.mode == "image-to-video":
                    images[prompt.slug] = Path(tmp) / f"{prompt.slug}.png"
                    demo_media.draw_input_image(prompt, images[prompt.slug], (width, height))
            jobs_list = [
                (
                    m.slug,
                    p.slug,
                    str(Path(tmp) / f"{m.slug}--{p.slug}.mp4"),
                    width,
                    height,
                    seconds,
                    index,
                )
                for index, (m, p) in enumerate(todo)
            ]
            with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
                rendered = pool.map(_render, jobs_list)
                for (model, prompt), path in tqdm(
                    zip(todo, rendered, strict=True),
                    total=len(todo),
                    desc="demo clips",
                    unit="clip",
                    disable=verbosity == 0,
                    file=self.stderr,
                ):
                    ingest.add_clip(
                        model=model.name,
                        prompt=prompt.text,
                        mode=prompt.mode,
                        categories=list(prompt.categories),
                        file=Path(path),
                        input_image=images.get(prompt.slug),
                    )
                    Path(path).unlink()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo catalogue: {len(chosen_models)} models, {len(chosen_prompts)} prompts, "
                f"{len(todo)} clips added."
            )
        )
