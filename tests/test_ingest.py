"""Clip ingest: the `import_clips` manifest command, `ingest.add_clip` / `process_clip`,
`seed_demo`, and the admin upload path.

Every refused line or file must leave nothing behind: no Clip, Prompt, Generator or
Category row and no file under MEDIA_ROOT.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from arena import demo_media, ingest, mediatools
from arena.models import Category, Clip, Generator, Prompt

pytestmark = pytest.mark.django_db

SIZE = {"width": 160, "height": 96, "seconds": 1.0}
# Seeds far from the conftest's (0..15) so no file here duplicates the seeded catalogue.
SEED = 1000


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Source files rendered once for the module (outside MEDIA_ROOT, never modified)."""
    root = tmp_path_factory.mktemp("ingest-sources")
    t2v, i2v = demo_media.get_prompt("night-city"), demo_media.get_prompt("seagull")
    paths = {
        "sound": root / "sound.mp4",  # Lumen-2: has an audio track
        "silent": root / "silent.mp4",  # Aurora: no audio
        "i2v": root / "i2v.mp4",
        "spare": root / "spare.mp4",
        "big": root / "big.mp4",  # 2 s, 320x192, noisy: larger and longer than the others
        "image": root / "input.png",
    }
    render = demo_media.render_clip
    render(demo_media.get_model("lumen-2"), t2v, paths["sound"], seed=SEED, **SIZE)
    render(demo_media.get_model("aurora-motion-1-5"), t2v, paths["silent"], seed=SEED, **SIZE)
    render(demo_media.get_model("kinetica-xl"), i2v, paths["i2v"], seed=SEED, **SIZE)
    render(demo_media.get_model("dreamreel"), t2v, paths["spare"], seed=SEED + 1, **SIZE)
    render(
        demo_media.get_model("ember-0"),
        t2v,
        paths["big"],
        width=320,
        height=192,
        seconds=2.0,
        seed=SEED,
    )
    demo_media.draw_input_image(i2v, paths["image"], (160, 96))
    paths["damaged"] = root / "damaged.mp4"
    damage_middle(demo_media.get_model("ember-0"), t2v, paths["damaged"])
    return paths


def damage_middle(model: demo_media.DemoModel, prompt: demo_media.DemoPrompt, path: Path) -> None:
    """A clip whose second GOP is overwritten with noise: its head and tail still decode."""
    demo_media.render_clip(model, prompt, path, seed=SEED, **SIZE)  # keyint=8: 3 GOPs
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(path.read_bytes())
    rng = random.Random(1)
    for pos, size in packets[9:14]:
        data[pos : pos + size] = bytes(rng.randrange(256) for _ in range(size))
    path.write_bytes(bytes(data))


@pytest.fixture
def media(settings, tmp_path: Path) -> Path:  # noqa: ANN001
    """A MEDIA_ROOT of this test's own, so 'no new file' is exact."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """Where manifests and their (relative) files go."""
    folder = tmp_path / "batch"
    (folder / "clips").mkdir(parents=True)
    return folder


# --------------------------------------------------------------------------- helpers


def stage(work: Path, src: Path, name: str) -> str:
    """Copy `src` next to the manifest; return its path relative to the manifest."""
    shutil.copyfile(src, work / "clips" / name)
    return f"clips/{name}"


def write_bytes(work: Path, name: str, data: bytes) -> str:
    (work / "clips" / name).write_bytes(data)
    return f"clips/{name}"


def write_manifest(work: Path, lines: list[dict | str], name: str = "manifest.jsonl") -> Path:
    path = work / name
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
        encoding="utf-8",
    )
    return path


def run_import(manifest: Path) -> tuple[str, str, CommandError | None]:
    """Run import_clips; return stdout, stderr and the CommandError, if any."""
    out, err = io.StringIO(), io.StringIO()
    error = None
    try:
        call_command("import_clips", str(manifest), stdout=out, stderr=err, verbosity=0)
    except CommandError as exc:
        error = exc
    return out.getvalue(), err.getvalue(), error


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def stored_names(clips: list[Clip]) -> set[str]:
    """Every file that the given clips' rows (and their prompts) point at."""
    names = set()
    for clip in clips:
        fields = (
            clip.source,
            clip.poster,
            clip.rendition_sound,
            clip.rendition_silent,
            clip.broken_sound,
            clip.broken_silent,
        )
        names |= {f.name for f in fields if f.name}
        if clip.prompt.input_image:
            names.add(clip.prompt.input_image.name)
    return names


def good_line(work: Path, sources: dict[str, Path], key: str = "sound", **extra) -> dict:  # noqa: ANN003
    line = {
        "model": "Good Model",
        "prompt": "A good prompt about a city",
        "mode": "text-to-video",
        "categories": ["urban", "Nature"],
        "file": stage(work, sources[key], f"good-{key}.mp4"),
    }
    return line | extra


def bad(n: int | str, **fields) -> dict:  # noqa: ANN003
    """A line whose model, prompt and category are unique, so any leftover row is visible."""
    return {
        "model": f"Refused Model {n}",
        "prompt": f"refused prompt {n}",
        "mode": "text-to-video",
        "categories": [f"refused-{n}"],
    } | fields


def assert_nothing_refused_was_stored() -> None:
    assert not Generator.objects.filter(name__startswith="Refused Model").exists()
    assert not Prompt.objects.filter(text__startswith="refused prompt").exists()
    assert not Category.objects.filter(slug__startswith="refused-").exists()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size (a decompression bomb's calling card)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * width), 9)  # one row; the rest is "missing"
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- the good path


def test_a_good_manifest_imports_ready_clips_with_renditions_and_posters(
    media: Path, work: Path, sources: dict[str, Path]
) -> None:
    before = Clip.objects.count()
    lines = [
        good_line(work, sources, "sound"),
        good_line(work, sources, "silent", model="Second Model", categories=["urban"]),
        {
            "model": "Image Model",
            "prompt": "Animate this bird",
            "mode": "image-to-video",
            "categories": ["animals"],
            "file": stage(work, sources["i2v"], "i2v.mp4"),
            "input_image": stage(work, sources["image"], "bird.png"),
        },
    ]
    out, err, error = run_import(write_manifest(work, lines))

    assert error is None, err
    assert "3 clip(s) imported, 0 line(s) refused" in out
    assert Clip.objects.count() == before + 3
    clips = {c.generator.name: c for c in Clip.objects.filter(generator__name__contains="Model")}
    assert set(clips) == {"Good Model", "Second Model", "Image Model"}
    for clip in clips.values():
        assert clip.status == Clip.Status.READY, clip.reject_reason
        assert clip.sha256 and clip.duration == pytest.approx(1.0, abs=0.1)
        assert (clip.width, clip.height) == (160, 96)
        for field in (clip.source, clip.rendition_silent, clip.poster):
            assert (media / field.name).is_file()
        assert clip.poster.name.startswith("r/") and clip.rendition_silent.name.startswith("r/")
    # Sound only where the source has it; the generator learns that it makes sound.
    sound, silent = clips["Good Model"], clips["Second Model"]
    assert sound.has_audio and (media / sound.rendition_sound.name).is_file()
    assert not silent.has_audio and not silent.rendition_sound
    assert Generator.objects.get(name="Good Model").has_sound
    assert not Generator.objects.get(name="Second Model").has_sound
    assert Generator.objects.get(name="Image Model").modes == ["image-to-video"]
    # The two text-to-video lines share one prompt; categories are lower-cased slugs.
    assert sound.prompt_id == silent.prompt_id
    assert set(sound.prompt.categories.values_list("slug", flat=True)) == {"urban", "nature"}
    image_prompt = clips["Image Model"].prompt
    assert set(image_prompt.categories.values_list("slug", flat=True)) == {"animals"}
    assert image_prompt.input_image.name.startswith("inputs/")
    assert image_prompt.input_image.name.endswith(".png")
    assert (media / image_prompt.input_image.name).is_file()
    # Every file in MEDIA_ROOT belongs to a stored row; nothing stray.
    assert files_under(media) == stored_names(list(clips.values()))


def test_stored_names_reveal_neither_the_model_nor_the_uploaded_file_name(
    media: Path, work: Path, sources: dict[str, Path]
) -> None:
    line = good_line(work, sources, model="Lumen-2")
    line["file"] = stage(work, sources["sound"], "lumen-2-northlight.mp4")
    _, err, error = run_import(write_manifest(work, [line]))
    assert error is None, err
    for name in files_under(media):
        assert "lumen" not in name.lower() and "northlight" not in name.lower()


# --------------------------------------------------------------------------- refused lines

# Each case builds one bad manifest line (or raw text) in `work` and names the reason.
Case = Callable[[Path, dict[str, Path], object], "dict | str"]


def _text_file(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
    return bad(1, file=write_bytes(work, "notes.mp4", b"this is not a video\n" * 40))


def _empty_file(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
    return bad(2, file=write_bytes(work, "empty.mp4", b""))


def _truncated(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
    data = sources["spare"].read_bytes()
    return bad(3, file=write_bytes(work, "cut.mp4", data[: int(len(data) * 0.6)]))


def _truncated_faststart(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
    # With the index (moov) first, the cut file still opens: the missing frames must be noticed.
    full = work / "clips" / "faststart-full.mp4"
    mediatools.write_rendition(sources["spare"], full, audio=False)
    data = full.read_bytes()
    full.unlink()
    return bad(4, file=write_bytes(work, "faststart-cut.mp4", data[: int(len(data) * 0.6)]))


def _damaged_middle(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
    # Passes the probe (head and last GOP decode) but cannot be remuxed into a rendition.
    return bad(17, file=stage(work, sources["damaged"], "damaged.mp4"))


def _missing_file(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
    return bad(5, file="clips/does-not-exist.mp4")


def _i2v_without_image(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
    return bad(6, mode="image-to-video", file=stage(work, sources["spare"], "noimage.mp4"))


def _unknown_mode(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
    return bad(7, mode="audio-to-video", file=stage(work, sources["spare"], "mode.mp4"))


def _same_file_twice(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
    # Line 1 is the good line with sources["sound"]; this is the same bytes under another name.
    return bad(8, file=stage(work, sources["sound"], "copy-of-good.mp4"))


def _over_size(work: Path, sources: dict[str, Path], settings) -> dict:  # noqa: ANN001
    good, big = sources["sound"].stat().st_size, sources["big"].stat().st_size
    assert big > good + 1000
    settings.ARENA_MAX_CLIP_BYTES = (good + big) // 2
    return bad(9, file=stage(work, sources["big"], "big.mp4"))


def _over_length(work: Path, sources: dict[str, Path], settings) -> dict:  # noqa: ANN001
    settings.ARENA_MAX_CLIP_SECONDS = 1.5  # the good clip lasts 1 s, this one 2 s
    return bad(10, file=stage(work, sources["big"], "long.mp4"))


def _invalid_json(work: Path, sources: dict[str, Path], settings: object) -> str:  # noqa: ARG001
    return '{"model": "Refused Model 11", "prompt": "refused prompt 11", '


def _missing_field(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
    return bad(12)  # no "file"


def _image_not_an_image(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
    return bad(
        13,
        mode="image-to-video",
        file=stage(work, sources["i2v"], "i2v.mp4"),
        input_image=write_bytes(work, "fake.png", b"just some text, named .png\n" * 20),
    )


def _bomb(side: int) -> Case:
    def build(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
        return bad(
            14,
            mode="image-to-video",
            file=stage(work, sources["i2v"], "i2v.mp4"),
            input_image=write_bytes(work, "bomb.png", png_declaring(side, side)),
        )

    return build


def _bomb_over_setting(work: Path, sources: dict[str, Path], settings) -> dict:  # noqa: ANN001
    settings.ARENA_MAX_IMAGE_PIXELS = 100 * 60  # the real 160x96 input image is over it
    return bad(
        15,
        mode="image-to-video",
        file=stage(work, sources["i2v"], "i2v.mp4"),
        input_image=stage(work, sources["image"], "big-image.png"),
    )


def _unknown_field(work: Path, sources: dict[str, Path], settings: object) -> dict:  # noqa: ARG001
    return bad(16, file=stage(work, sources["spare"], "x.mp4"), seed=3)


REFUSED: dict[str, tuple[Case, str]] = {
    "text-file": (_text_file, "not a video file"),
    "empty-file": (_empty_file, "file is empty"),
    "truncated-mp4": (_truncated, "corrupt or truncated"),
    "truncated-faststart-mp4": (_truncated_faststart, "corrupt or truncated"),
    "damaged-middle": (_damaged_middle, "cannot remux video"),
    "missing-file": (_missing_file, "cannot read"),
    "image-to-video-without-input-image": (_i2v_without_image, "needs its input_image"),
    "unknown-mode": (_unknown_mode, "unknown mode 'audio-to-video'"),
    "same-file-twice-in-one-manifest": (_same_file_twice, "same file"),
    "over-the-size-limit": (_over_size, "limit"),
    "over-the-length-limit": (_over_length, "lasts 2.0 s, over the 1.5 s limit"),
    "invalid-json": (_invalid_json, "not valid JSON"),
    "missing-field": (_missing_field, "'file' is required"),
    "input-image-not-an-image": (_image_not_an_image, "not a readable image"),
    # 8000x8000 passes Pillow's own guard but not ARENA_MAX_IMAGE_PIXELS (40 M by default).
    "png-declaring-64-megapixels": (_bomb(8_000), "input image is 8000x8000, over the pixel limit"),
    "png-declaring-3600-megapixels": (_bomb(60_000), "decompression bomb"),
    "image-over-pixel-setting": (_bomb_over_setting, "over the pixel limit"),
    "unknown-field": (_unknown_field, "unknown field(s): seed"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_line_is_reported_with_its_number_and_stores_nothing(
    case: str,
    media: Path,
    work: Path,
    sources: dict[str, Path],
    settings,  # noqa: ANN001
) -> None:
    build, reason = REFUSED[case]
    line = build(work, sources, settings)
    # Line 1 good, line 2 bad, line 3 blank, line 4 good: numbering counts every line.
    manifest = write_manifest(
        work,
        [good_line(work, sources), line, "", good_line(work, sources, "silent", model="Other")],
    )
    clips_before = Clip.objects.count()
    files_before = files_under(media)
    assert files_before == set()

    out, err, error = run_import(manifest)

    assert error is not None, "a refused line must make the command exit non-zero"
    assert "line 2: " in err and reason in err, err
    assert err.count("line ") == 1, err  # only the bad line is reported
    assert "2 clip(s) imported, 1 line(s) refused" in out
    imported = list(Clip.objects.filter(generator__name__in=["Good Model", "Other"]))
    assert len(imported) == 2 and Clip.objects.count() == clips_before + 2
    assert all(c.status == Clip.Status.READY for c in imported)
    assert_nothing_refused_was_stored()
    # The only files are the good clips'; nothing of the refused line reached storage.
    assert files_under(media) == stored_names(imported)


def test_many_bad_lines_are_each_reported_and_the_good_ones_imported(
    media: Path,
    work: Path,
    sources: dict[str, Path],
    settings,  # noqa: ANN001
) -> None:
    lines = [
        _text_file(work, sources, settings),  # 1
        good_line(work, sources),  # 2
        _empty_file(work, sources, settings),  # 3
        _invalid_json(work, sources, settings),  # 4
        "",  # 5
        _same_file_twice(work, sources, settings),  # 6
        _image_not_an_image(work, sources, settings),  # 7
        good_line(work, sources, "spare", model="Other"),  # 8
        _missing_field(work, sources, settings),  # 9
    ]
    out, err, error = run_import(write_manifest(work, lines))

    assert isinstance(error, CommandError)
    reported = [ln.split(":")[0] for ln in err.splitlines() if ln.startswith("line ")]
    assert reported == ["line 1", "line 3", "line 4", "line 6", "line 7", "line 9"]
    assert "2 clip(s) imported, 6 line(s) refused" in out
    assert_nothing_refused_was_stored()
    imported = list(Clip.objects.filter(generator__name__in=["Good Model", "Other"]))
    assert len(imported) == 2
    assert files_under(media) == stored_names(imported)


def test_a_second_import_of_the_same_files_adds_nothing(
    media: Path, work: Path, sources: dict[str, Path]
) -> None:
    manifest = write_manifest(work, [good_line(work, sources)])
    assert run_import(manifest)[2] is None
    clips, prompts, generators = (
        Clip.objects.count(),
        Prompt.objects.count(),
        Generator.objects.count(),
    )
    files = files_under(media)

    # Same file, even under another model's name and another prompt.
    again = write_manifest(
        work, ["", bad(1, file=stage(work, sources["sound"], "renamed.mp4"))], "again.jsonl"
    )
    out, err, error = run_import(again)

    assert isinstance(error, CommandError)
    assert "line 2: the same file has already been imported" in err
    assert "0 clip(s) imported, 1 line(s) refused" in out
    assert (Clip.objects.count(), Prompt.objects.count(), Generator.objects.count()) == (
        clips,
        prompts,
        generators,
    )
    assert_nothing_refused_was_stored()
    assert files_under(media) == files


def test_a_missing_manifest_is_a_command_error(media: Path, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_clips", str(tmp_path / "nope.jsonl"), verbosity=0)


def test_background_import_stores_pending_clips_that_the_worker_makes_ready(
    media: Path,
    work: Path,
    sources: dict[str, Path],
    django_capture_on_commit_callbacks,  # noqa: ANN001
) -> None:
    manifest = write_manifest(work, [good_line(work, sources)])
    out, err = io.StringIO(), io.StringIO()
    # The task is sent once the clip's transaction commits (here: the test's, so captured);
    # CELERY_TASK_ALWAYS_EAGER (conftest) then runs it in-process.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        call_command(
            "import_clips", str(manifest), "--background", stdout=out, stderr=err, verbosity=0
        )
    assert len(callbacks) == 1
    clip = Clip.objects.get(generator__name="Good Model")
    assert clip.status == Clip.Status.READY, clip.reject_reason
    assert (media / clip.rendition_silent.name).is_file()


# ------------------------------------------------------------------ add_clip / process_clip


def add_pending(sources: dict[str, Path], key: str = "sound", model: str = "Pending Model") -> Clip:
    clip = ingest.add_clip(
        model=model,
        prompt="A pending prompt",
        mode="text-to-video",
        categories=["urban"],
        file=sources[key],
        process=False,
    )
    assert clip.status == Clip.Status.PENDING
    assert not clip.rendition_silent and not clip.rendition_sound and not clip.poster
    return clip


def test_process_clip_makes_a_pending_clip_ready(media: Path, sources: dict[str, Path]) -> None:
    clip = add_pending(sources)
    assert files_under(media) == {clip.source.name}

    done = ingest.process_clip(clip.pk)

    assert done.status == Clip.Status.READY, done.reject_reason
    done.refresh_from_db()
    assert done.status == Clip.Status.READY and done.sha256
    assert files_under(media) == stored_names([done])
    # The attention-check copies: the sound one keeps the clip's audio, the silent one has none.
    assert done.broken_kind in mediatools.BROKEN_KINDS
    assert mediatools.probe(media / done.broken_sound.name).has_audio
    assert not mediatools.probe(media / done.broken_silent.name).has_audio
    # Idempotent: a second run changes nothing.
    assert ingest.process_clip(clip.pk).status == Clip.Status.READY
    assert files_under(media) == stored_names([done])


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "damaged-middle"])
def test_process_clip_rejects_a_broken_source_with_a_reason_and_no_renditions(
    damage: str, media: Path, sources: dict[str, Path]
) -> None:
    clip = add_pending(sources)
    stored = media / clip.source.name
    data = stored.read_bytes()
    replacement = {
        "garbage": b"not a video at all\n" * 100,
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "damaged-middle": sources["damaged"].read_bytes(),  # probes fine, fails to remux
    }[damage]
    stored.write_bytes(replacement)

    done = ingest.process_clip(clip.pk)

    assert done.status == Clip.Status.REJECTED
    done.refresh_from_db()
    assert done.status == Clip.Status.REJECTED
    assert done.reject_reason.strip()
    assert done.sha256 is None
    assert not done.rendition_silent and not done.rendition_sound and not done.poster
    # The row keeps the reason for the uploader; no source, rendition or poster is kept.
    assert not done.source and files_under(media) == set()
    assert not Clip.objects.playable().filter(pk=clip.pk).exists()


def test_process_clip_rejects_a_source_that_duplicates_another_clip(
    media: Path, sources: dict[str, Path]
) -> None:
    first = add_pending(sources, "sound", "First")
    second = add_pending(sources, "silent", "Second")
    # Someone replaces the second source with the first clip's bytes.
    shutil.copyfile(media / first.source.name, media / second.source.name)

    done = ingest.process_clip(second.pk)

    assert done.status == Clip.Status.REJECTED
    assert "same file" in done.reject_reason
    assert not (media / "r").exists() or not any((media / "r").iterdir())


def test_add_clip_refusal_leaves_no_rows_and_no_files(
    media: Path, sources: dict[str, Path]
) -> None:
    counts = (Clip.objects.count(), Prompt.objects.count(), Generator.objects.count())
    with pytest.raises(ingest.IngestError, match="input image"):
        ingest.add_clip(
            model="Refused Model x",
            prompt="refused prompt x",
            mode="image-to-video",
            categories=["refused-x"],
            file=sources["i2v"],
            input_image=sources["i2v"],  # a video is not an image
        )
    assert (Clip.objects.count(), Prompt.objects.count(), Generator.objects.count()) == counts
    assert_nothing_refused_was_stored()
    assert files_under(media) == set()


# --------------------------------------------------------------------------- seed_demo


def test_seed_demo_is_idempotent(demo, media: Path) -> None:  # noqa: ANN001
    models = [m.name for m in demo_media.MODELS[:2]]
    prompts = [
        p.text
        for mode in demo_media.MODES
        for p in [q for q in demo_media.PROMPTS if q.mode == mode][:1]
    ]
    # The conftest seeded these combinations already; drop them so the first run has work.
    Clip.objects.filter(generator__name__in=models, prompt__text__in=prompts).delete()
    before = Clip.objects.count()
    options = ["--models", "2", "--prompts", "1", "--seconds", "1", "--size", "160x96"]

    call_command("seed_demo", *options, stdout=io.StringIO(), verbosity=0)
    after_first = Clip.objects.count()
    files = files_under(media)
    out = io.StringIO()
    call_command("seed_demo", *options, stdout=out, verbosity=0)

    assert after_first == before + 4
    assert Clip.objects.filter(generator__name__in=models, prompt__text__in=prompts).count() == 4
    assert not Clip.objects.exclude(status=Clip.Status.READY).exists()
    assert Clip.objects.count() == after_first
    assert "already complete" in out.getvalue()
    assert files_under(media) == files


# --------------------------------------------------------------------------- admin


@pytest.fixture
def admin_client_logged_in(db) -> Client:  # noqa: ANN001
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_admin_upload_of_a_clip_ends_ready(
    admin_client_logged_in: Client,
    media: Path,
    sources: dict[str, Path],
    django_capture_on_commit_callbacks,  # noqa: ANN001
) -> None:
    generator = Generator.objects.create(name="Admin Model", modes=["text-to-video"])
    prompt = Prompt.objects.create(text="An admin prompt", mode="text-to-video")
    upload = SimpleUploadedFile("upload.mp4", sources["sound"].read_bytes(), "video/mp4")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client_logged_in.post(
            "/admin/arena/clip/add/",
            {"generator": generator.pk, "prompt": prompt.pk, "source": upload},
        )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert len(callbacks) == 1  # ClipAdmin.save_model queued the ingest task on commit
    clip = Clip.objects.get(generator=generator)
    assert clip.status == Clip.Status.READY, clip.reject_reason
    assert clip.has_audio and clip.sha256 == mediatools.sha256_file(sources["sound"])
    for field in (clip.rendition_silent, clip.rendition_sound, clip.poster):
        assert (media / field.name).is_file()
    assert Generator.objects.get(pk=generator.pk).has_sound


# Hostile admin uploads (refused by the form, before anything is stored): test_hostile_uploads.
