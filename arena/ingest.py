"""Clip ingest: validate, store, probe, and write anonymised renditions and a poster.

Every entry point leaves nothing behind when it fails: no row, no file.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from PIL import Image, UnidentifiedImageError

from . import mediatools
from .mediatools import MediaError, Probe
from .models import Category, Clip, Generator, Mode, Prompt


class IngestError(ValueError):
    """A clip, image or manifest line that cannot be accepted; the message says why."""


def random_name(folder: str, ext: str) -> str:
    return f"{folder}/{secrets.token_urlsafe(18)}{ext}"


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def check_limits(probe: Probe) -> None:
    if probe.size_bytes > settings.ARENA_MAX_CLIP_BYTES:
        raise IngestError(
            f"clip is {_mb(probe.size_bytes)}, over the {_mb(settings.ARENA_MAX_CLIP_BYTES)} limit"
        )
    if probe.duration > settings.ARENA_MAX_CLIP_SECONDS:
        raise IngestError(
            f"clip lasts {probe.duration:.1f} s, "
            f"over the {settings.ARENA_MAX_CLIP_SECONDS:g} s limit"
        )
    if probe.duration < settings.ARENA_MIN_CLIP_SECONDS:
        raise IngestError(f"clip lasts {probe.duration:.2f} s, too short to judge")
    if probe.width * probe.height > settings.ARENA_MAX_CLIP_PIXELS:
        raise IngestError(f"clip is {probe.width}x{probe.height}, over the pixel limit")


def validate_video(path: Path) -> Probe:
    """Probe a file and check it against the limits; IngestError says what is wrong."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror}") from exc
    if size == 0:
        raise IngestError("file is empty")
    if size > settings.ARENA_MAX_CLIP_BYTES:
        raise IngestError(
            f"file is {_mb(size)}, over the {_mb(settings.ARENA_MAX_CLIP_BYTES)} limit"
        )
    try:
        probe = mediatools.probe(path, max_pixels=settings.ARENA_MAX_CLIP_PIXELS)
    except MediaError as exc:
        raise IngestError(str(exc)) from exc
    check_limits(probe)
    return probe


def validate_image(path: Path) -> tuple[int, int]:
    """An input image must be a real, decodable image of sane size (no decompression bombs)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > settings.ARENA_MAX_IMAGE_PIXELS:
                raise IngestError(f"input image is {width}x{height}, over the pixel limit")
            image.verify()
        with Image.open(path) as image:
            image.load()
    except IngestError:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        raise IngestError(f"input image is not a readable image: {exc}") from exc
    return width, height


@contextmanager
def cleanup_on_error(names: list[str]) -> Iterator[None]:
    """Delete the stored files named in `names` if the block raises."""
    try:
        yield
    except BaseException:
        for name in names:
            if name and default_storage.exists(name):
                default_storage.delete(name)
        raise


def store_file(path: Path, folder: str, names: list[str]) -> str:
    with path.open("rb") as handle:
        name = default_storage.save(
            random_name(folder, path.suffix.lower() or ".bin"), File(handle)
        )
    names.append(name)
    return name


def store_input_image(path: Path, names: list[str]) -> str:
    """Re-encode the input image as PNG (drops metadata, normalises the format)."""
    validate_image(path)
    with Image.open(path) as image, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "input.png"
        image.convert("RGB").save(out, "PNG")
        return store_file(out, "inputs", names)


@contextmanager
def local_copy(name: str) -> Iterator[Path]:
    """A local path for a stored file, whatever the storage backend."""
    try:
        yield Path(default_storage.path(name))
        return
    except NotImplementedError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / Path(name).name
        with default_storage.open(name, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        yield target


def apply_probe(clip: Clip, probe: Probe, sha256: str) -> None:
    clip.sha256 = sha256
    clip.container = probe.container[:100]
    clip.video_codec = probe.video_codec
    clip.audio_codec = probe.audio_codec or ""
    clip.duration = probe.duration
    clip.width, clip.height, clip.fps = probe.width, probe.height, probe.fps
    clip.has_audio = probe.has_audio
    clip.size_bytes = probe.size_bytes


def write_renditions(clip: Clip, source: Path, names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        silent = Path(tmp) / "silent.mp4"
        mediatools.write_rendition(source, silent, audio=False)
        clip.rendition_silent.name = store_file(silent, "r", names)
        if clip.has_audio:
            sound = Path(tmp) / "sound.mp4"
            mediatools.write_rendition(source, sound, audio=True)
            clip.rendition_sound.name = store_file(sound, "r", names)
        poster = Path(tmp) / "poster.jpg"
        mediatools.make_poster(source, poster)
        clip.poster.name = store_file(poster, "r", names)
        write_broken(clip, source, Path(tmp), names)


def write_broken(clip: Clip, source: Path, tmp: Path, names: list[str]) -> None:
    """The attention-check copies: one broken kind per clip, drawn from its checksum."""
    digest = int((clip.sha256 or "0")[:8], 16)
    kind = mediatools.BROKEN_KINDS[digest % len(mediatools.BROKEN_KINDS)]
    silent = tmp / "broken-silent.mp4"
    mediatools.make_broken(source, silent, kind=kind, seed=digest)
    clip.broken_silent.name = store_file(silent, "r", names)
    if clip.has_audio:
        sound = tmp / "broken-sound.mp4"
        mediatools.write_rendition(silent, sound, audio=True, audio_from=source)
        clip.broken_sound.name = store_file(sound, "r", names)
    clip.broken_kind = kind


def process_clip(clip_id: int) -> Clip:
    """Probe a pending clip and make its renditions; marks it ready or rejected. Idempotent."""
    clip = Clip.objects.select_related("generator").get(pk=clip_id)
    if clip.status != Clip.Status.PENDING:
        return clip
    names: list[str] = []
    try:
        with local_copy(clip.source.name) as source, cleanup_on_error(names):
            probe = validate_video(source)
            sha256 = mediatools.sha256_file(source)
            duplicate = Clip.objects.filter(sha256=sha256).exclude(pk=clip.pk).first()
            if duplicate is not None:
                raise IngestError(f"the same file as clip {duplicate.uid}")
            apply_probe(clip, probe, sha256)
            write_renditions(clip, source, names)
            clip.status = Clip.Status.READY
            with transaction.atomic():
                clip.save()
                if clip.has_audio and not clip.generator.has_sound:
                    Generator.objects.filter(pk=clip.generator_id).update(has_sound=True)
    except (IngestError, MediaError, IntegrityError) as exc:
        # The row stays, rejected with its reason, for the uploader to read; the file goes.
        Clip.objects.filter(pk=clip.pk).update(
            status=Clip.Status.REJECTED, reject_reason=str(exc)[:1000], sha256=None, source=""
        )
        if clip.source.name and default_storage.exists(clip.source.name):
            default_storage.delete(clip.source.name)
        clip.refresh_from_db()
    return clip


def resolve_generator(name: str, mode: str) -> Generator:
    generator, _ = Generator.objects.get_or_create(name=name)
    if mode not in generator.modes:
        generator.modes = [*generator.modes, mode]
        generator.save(update_fields=["modes"])
    return generator


def resolve_prompt(
    text: str, mode: str, categories: list[str], image: Path | None, names: list[str]
) -> Prompt:
    prompt = Prompt.objects.filter(mode=mode, text=text).first()
    if prompt is None:
        prompt = Prompt(mode=mode, text=text)
        if image is not None:
            prompt.input_image.name = store_input_image(image, names)
        prompt.save()
    if categories:
        prompt.categories.add(*ensure_categories(categories))
    return prompt


def ensure_categories(slugs: list[str]) -> list[Category]:
    found = {c.slug: c for c in Category.objects.filter(slug__in=slugs)}
    next_bit = max(Category.objects.values_list("bit", flat=True), default=-1) + 1
    for slug in slugs:
        if slug not in found:
            if next_bit >= 63:
                raise IngestError("too many categories (at most 63)")
            found[slug] = Category.objects.create(
                slug=slug, name=slug.replace("-", " ").capitalize(), bit=next_bit
            )
            next_bit += 1
    return [found[s] for s in slugs]


def add_clip(
    *,
    model: str,
    prompt: str,
    mode: str,
    categories: list[str],
    file: Path,
    input_image: Path | None = None,
    process: bool = True,
) -> Clip:
    """Validate and store one clip; with `process`, make its renditions now, else stay pending.

    Raises IngestError, and then nothing of the clip is stored (rows or files).
    """
    if mode not in Mode.values:
        raise IngestError(f"unknown mode {mode!r} (use {' or '.join(Mode.values)})")
    if mode == Mode.IMAGE_TO_VIDEO and input_image is None:
        raise IngestError("an image-to-video clip needs its input_image")
    if not model.strip() or not prompt.strip():
        raise IngestError("model and prompt must not be empty")
    probe = validate_video(file)
    sha256 = mediatools.sha256_file(file)
    if Clip.objects.filter(sha256=sha256).exists():
        raise IngestError("the same file has already been imported")
    if input_image is not None:
        validate_image(input_image)
    names: list[str] = []
    with cleanup_on_error(names), transaction.atomic():
        clip = Clip(
            generator=resolve_generator(model.strip(), mode),
            prompt=resolve_prompt(prompt.strip(), mode, categories, input_image, names),
        )
        apply_probe(clip, probe, sha256)
        clip.source.name = store_file(file, "sources", names)
        if process:
            try:
                write_renditions(clip, file, names)
            except MediaError as exc:  # the probe passed, yet the file cannot be remuxed
                raise IngestError(str(exc)) from exc
            clip.status = Clip.Status.READY
        try:
            with transaction.atomic():
                clip.save()
        except IntegrityError as exc:
            # Another import stored the same file between our check and this insert.
            raise IngestError("the same file has already been imported") from exc
        if clip.has_audio and not clip.generator.has_sound:
            Generator.objects.filter(pk=clip.generator_id).update(has_sound=True)
    return clip
