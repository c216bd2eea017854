"""Hostile uploads through the admin and the ingest pipeline: refused with a reason, nothing kept.

Complements test_ingest (the manifest path's refused lines, and the worker's rejections):
here the admin's upload forms and a video whose frames are absurdly large.
Every hostile file is generated here, from bytes, Pillow or PyAV.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from arena import mediatools
from arena.models import Clip, Generator, Prompt

from .test_ingest import (  # noqa: F401  (fixtures)
    admin_client_logged_in,
    assert_nothing_refused_was_stored,
    bad,
    files_under,
    good_line,
    media,
    png_declaring,
    run_import,
    sources,
    stored_names,
    work,
    write_manifest,
)

pytestmark = pytest.mark.django_db
EIGHT_K = (7680, 4320)  # 33 megapixels: four times the default ARENA_MAX_CLIP_PIXELS


@pytest.fixture(scope="module")
def absurd_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid, tiny (about 100 kB) H.264 file whose two frames are 7680x4320 each."""
    path = tmp_path_factory.mktemp("absurd") / "absurd.mp4"
    width, height = EIGHT_K
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=2, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for pts in range(2):
            frame.pts = pts
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def png_bytes(size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- absurd video


def test_a_video_with_absurd_dimensions_is_refused_from_its_header(absurd_video: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(mediatools.MediaError, match="7680x4320, over the pixel limit"):
        mediatools.probe(absurd_video, max_pixels=3840 * 2160)
    # Refused before decoding: two 8K frames would take far longer (and 100 MB) to decode.
    assert time.perf_counter() - started < 1.0


def test_import_clips_refuses_a_video_with_absurd_dimensions_and_keeps_nothing(
    media: Path,  # noqa: F811
    work: Path,  # noqa: F811
    sources: dict[str, Path],  # noqa: F811
    absurd_video: Path,
) -> None:
    (work / "clips" / "huge.mp4").write_bytes(absurd_video.read_bytes())
    manifest = write_manifest(work, [good_line(work, sources), bad(40, file="clips/huge.mp4")])

    out, err, error = run_import(manifest)

    assert error is not None and "line 2: clip is 7680x4320, over the pixel limit" in err, err
    assert "1 clip(s) imported, 1 line(s) refused" in out
    assert_nothing_refused_was_stored()
    imported = list(Clip.objects.filter(generator__name="Good Model"))
    assert files_under(media) == stored_names(imported)


# --------------------------------------------------------------------------- admin: clips

HOSTILE_CLIPS = {
    "text-named-mp4": (lambda s, a: b"this is a shopping list, not a video\n" * 30, "not a video"),
    "png-named-mp4": (lambda s, a: png_bytes(), "not a video"),
    "truncated-mp4": (
        lambda s, a: s["spare"].read_bytes()[: s["spare"].stat().st_size // 2],
        "corrupt or truncated",
    ),
    "empty": (lambda s, a: b"", "empty"),
    "absurd-dimensions": (lambda s, a: a.read_bytes(), "over the pixel limit"),
}


@pytest.mark.parametrize("case", list(HOSTILE_CLIPS))
def test_the_admin_refuses_a_hostile_clip_upload_with_its_reason_and_stores_nothing(
    case: str,
    admin_client_logged_in: Client,  # noqa: F811
    media: Path,  # noqa: F811
    sources: dict[str, Path],  # noqa: F811
    absurd_video: Path,
    django_capture_on_commit_callbacks,  # noqa: ANN001
) -> None:
    build, reason = HOSTILE_CLIPS[case]
    generator = Generator.objects.create(name="Admin Model", modes=["text-to-video"])
    prompt = Prompt.objects.create(text="An admin prompt", mode="text-to-video")
    upload = SimpleUploadedFile("clip.mp4", build(sources, absurd_video), "video/mp4")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client_logged_in.post(
            "/admin/arena/clip/add/",
            {"generator": generator.pk, "prompt": prompt.pk, "source": upload},
        )

    # Django's own check may speak first for an empty file; either way the form says why.
    assert response.status_code == 200
    page = response.content.decode()
    assert "errorlist" in page
    assert reason in page or (case == "empty" and "The submitted file is empty" in page), page
    assert not Clip.objects.filter(generator=generator).exists()
    assert callbacks == []  # no task queued
    assert files_under(media) == set()


def test_the_admin_refuses_an_oversized_clip_and_stores_nothing(
    admin_client_logged_in: Client,  # noqa: F811
    media: Path,  # noqa: F811
    sources: dict[str, Path],  # noqa: F811
    settings,  # noqa: ANN001
) -> None:
    data = sources["big"].read_bytes()
    settings.ARENA_MAX_CLIP_BYTES = len(data) - 1
    generator = Generator.objects.create(name="Admin Model", modes=["text-to-video"])
    prompt = Prompt.objects.create(text="An admin prompt", mode="text-to-video")

    response = admin_client_logged_in.post(
        "/admin/arena/clip/add/",
        {
            "generator": generator.pk,
            "prompt": prompt.pk,
            "source": SimpleUploadedFile("big.mp4", data, "video/mp4"),
        },
    )

    assert response.status_code == 200
    assert "over the" in response.content.decode() and "limit" in response.content.decode()
    assert not Clip.objects.filter(generator=generator).exists()
    assert files_under(media) == set()


# --------------------------------------------------------------------------- admin: input images

HOSTILE_IMAGES = {
    "png-declaring-3600-megapixels": (lambda: png_declaring(60_000, 60_000), None),
    "png-declaring-64-megapixels": (
        lambda: png_declaring(8_000, 8_000),
        "input image is 8000x8000, over the pixel limit",
    ),
    "text-named-png": (lambda: b"not an image, only text\n" * 20, None),
    "truncated-png": (lambda: png_bytes((200, 200))[:300], None),
}


@pytest.mark.parametrize("case", list(HOSTILE_IMAGES))
def test_the_admin_refuses_a_hostile_input_image_and_stores_nothing(
    case: str,
    admin_client_logged_in: Client,  # noqa: F811
    media: Path,  # noqa: F811
) -> None:
    build, reason = HOSTILE_IMAGES[case]
    upload = SimpleUploadedFile("input.png", build(), "image/png")

    response = admin_client_logged_in.post(
        "/admin/arena/prompt/add/",
        {"text": "refused prompt 42", "mode": "image-to-video", "input_image": upload},
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "errorlist" in page
    # Django's ImageField refuses what Pillow cannot open (bombs over Pillow's own limit
    # included); ours adds the pixel limit below that.
    assert (reason or "Upload a valid image") in page or "not a readable image" in page, page
    assert not Prompt.objects.filter(text="refused prompt 42").exists()
    assert files_under(media) == set()


def test_the_admin_accepts_a_sane_input_image(
    admin_client_logged_in: Client,  # noqa: F811
    media: Path,  # noqa: F811
) -> None:
    upload = SimpleUploadedFile("input.png", png_bytes((160, 96)), "image/png")
    response = admin_client_logged_in.post(
        "/admin/arena/prompt/add/",
        {"text": "a sane prompt", "mode": "image-to-video", "input_image": upload},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    prompt = Prompt.objects.get(text="a sane prompt")
    assert files_under(media) == {prompt.input_image.name}
