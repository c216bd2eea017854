"""Tests for arena.mediatools: probing, anonymised renditions, posters, attention checks."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from arena.demo_media import get_model, get_prompt, render_clip
from arena.mediatools import (
    MediaError,
    make_broken,
    make_poster,
    probe,
    sha256_file,
    write_rendition,
)

SIZE = {"width": 160, "height": 96, "fps": 24, "seconds": 1.0}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small source clips from two models with different encoder settings and tags."""
    root = tmp_path_factory.mktemp("media")
    paths = {
        "sound": root / "lumen.mp4",  # has audio, x264 keyint=48, tagged "Lumen-2"
        "silent": root / "dreamreel.mp4",  # no audio, different x264 options and tags
        "other_sound": root / "ember.mp4",
    }
    prompt = get_prompt("red-ball")
    render_clip(get_model("lumen-2"), prompt, paths["sound"], **SIZE)
    render_clip(get_model("dreamreel"), prompt, paths["silent"], **SIZE)
    render_clip(get_model("ember-0"), prompt, paths["other_sound"], **SIZE)
    return paths


def _frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _tags(path: Path) -> str:
    with av.open(str(path)) as container:
        streams = [(s.type, dict(s.metadata)) for s in container.streams]
        return json.dumps([dict(container.metadata), streams], sort_keys=True)


def test_probe_describes_a_valid_clip(media: dict[str, Path]) -> None:
    info = probe(media["sound"])
    assert "mp4" in info.container
    assert (info.video_codec, info.audio_codec, info.has_audio) == ("h264", "aac", True)
    assert (info.width, info.height) == (160, 96)
    assert info.fps == pytest.approx(24)
    assert info.duration == pytest.approx(1.0, abs=0.1)
    assert info.size_bytes == media["sound"].stat().st_size


def test_probe_reports_missing_audio(media: dict[str, Path]) -> None:
    info = probe(media["silent"])
    assert not info.has_audio and info.audio_codec is None


def test_probe_rejects_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        probe(tmp_path / "empty.mp4")


@pytest.mark.parametrize(
    "payload",
    [
        np.random.default_rng(1).integers(0, 256, 40_000, dtype=np.uint8).tobytes(),
        b"hello world, this is not a video\n" * 200,
    ],
    ids=["random-bytes", "text"],
)
def test_probe_rejects_non_video_bytes(tmp_path: Path, payload: bytes) -> None:
    (tmp_path / "clip.mp4").write_bytes(payload)
    with pytest.raises(MediaError, match="not a video"):
        probe(tmp_path / "clip.mp4")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_probe_rejects_images(tmp_path: Path, fmt: str) -> None:
    Image.new("RGB", (64, 48), "red").save(tmp_path / "still.mp4", fmt)
    with pytest.raises(MediaError, match="not a video"):
        probe(tmp_path / "still.mp4")


@pytest.mark.parametrize("faststart", [False, True], ids=["moov-at-end", "faststart"])
def test_probe_rejects_truncated_mp4(
    media: dict[str, Path], tmp_path: Path, faststart: bool
) -> None:
    source = media["sound"]
    if faststart:
        source = tmp_path / "faststart.mp4"
        write_rendition(media["sound"], source, audio=True)
    data = source.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(MediaError, match="corrupt or truncated"):
        probe(tmp_path / "cut.mp4")


def test_probe_rejects_file_without_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "audio.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100, layout="mono")
        for start in range(0, 44100, 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
            frame.sample_rate, frame.pts = 44100, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(MediaError, match="no video stream"):
        probe(path)


def test_sha256_file_matches_hashlib(media: dict[str, Path]) -> None:
    import hashlib

    expected = hashlib.sha256(media["sound"].read_bytes()).hexdigest()
    assert sha256_file(media["sound"]) == expected


def test_rendition_with_audio_keeps_streams_and_frames(
    media: dict[str, Path], tmp_path: Path
) -> None:
    dst = tmp_path / "r.mp4"
    write_rendition(media["sound"], dst, audio=True)
    info = probe(dst)
    assert info.has_audio and info.video_codec == "h264"
    np.testing.assert_array_equal(_frames(dst), _frames(media["sound"]))  # stream copy


def test_rendition_without_audio_has_no_audio_stream(
    media: dict[str, Path], tmp_path: Path
) -> None:
    dst = tmp_path / "r.mp4"
    write_rendition(media["sound"], dst, audio=False)
    with av.open(str(dst)) as container:
        assert len(container.streams.audio) == 0
        assert len(container.streams.video) == 1


def test_rendition_is_faststart(media: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "r.mp4"
    write_rendition(media["sound"], dst, audio=True)
    data = dst.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")


def test_sources_of_different_models_have_different_tags(media: dict[str, Path]) -> None:
    # Guards the test below: the demo sources really do leak their model.
    assert _tags(media["sound"]) != _tags(media["other_sound"])
    assert b"Lumen-2" in media["sound"].read_bytes()


def test_renditions_of_different_models_have_identical_tags(
    media: dict[str, Path], tmp_path: Path
) -> None:
    write_rendition(media["sound"], tmp_path / "a.mp4", audio=True)
    write_rendition(media["other_sound"], tmp_path / "b.mp4", audio=True)
    assert _tags(tmp_path / "a.mp4") == _tags(tmp_path / "b.mp4")
    for name in ("a.mp4", "b.mp4"):
        data = (tmp_path / name).read_bytes()
        for leak in (b"Lumen", b"Ember", b"Northlight", b"Cinder", b"Lavf", b"Lavc"):
            assert leak not in data, (name, leak)


def test_rendition_has_no_encoder_settings_sei(media: dict[str, Path], tmp_path: Path) -> None:
    assert b"x264" in media["sound"].read_bytes()
    dst = tmp_path / "r.mp4"
    write_rendition(media["sound"], dst, audio=True)
    data = dst.read_bytes()
    for leak in (b"x264", b"keyint=", b"cabac=", b"crf="):
        assert leak not in data, leak


def test_rendition_of_garbage_raises_media_error(tmp_path: Path) -> None:
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError):
        write_rendition(tmp_path / "bad.mp4", tmp_path / "out.mp4", audio=False)


def test_poster_is_jpeg_without_exif_and_bounded(media: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "poster.jpg"
    assert make_poster(media["sound"], dst, max_width=100) == (100, 60)
    with Image.open(dst) as img:
        assert img.format == "JPEG" and img.size == (100, 60)
        assert not img.getexif()


@pytest.mark.parametrize("kind", ["frozen", "scrambled", "corrupt"])
def test_broken_variant_matches_source_shape_and_is_anonymous(
    media: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    dst = tmp_path / f"{kind}.mp4"
    make_broken(media["sound"], dst, kind=kind, seed=3)
    src_info, info = probe(media["sound"]), probe(dst)
    assert (info.width, info.height, info.fps) == (src_info.width, src_info.height, src_info.fps)
    assert info.duration == pytest.approx(src_info.duration, abs=0.05)
    assert not info.has_audio
    data = dst.read_bytes()
    assert b"x264" not in data and b"Lavf" not in data


def test_broken_variants_differ_visibly_from_source(media: dict[str, Path], tmp_path: Path) -> None:
    source = _frames(media["sound"]).astype(np.int16)
    source_motion = np.abs(np.diff(source, axis=0)).mean()
    for kind in ("frozen", "scrambled", "corrupt"):
        make_broken(media["sound"], tmp_path / f"{kind}.mp4", kind=kind)
    frozen = _frames(tmp_path / "frozen.mp4").astype(np.int16)
    assert np.abs(np.diff(frozen, axis=0)).mean() < source_motion / 10
    for kind in ("scrambled", "corrupt"):
        broken = _frames(tmp_path / f"{kind}.mp4").astype(np.int16)
        assert broken.shape == source.shape
        assert np.abs(broken - source).mean() > 20, kind


def test_make_broken_rejects_unknown_kind(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown"):
        make_broken(media["sound"], tmp_path / "x.mp4", kind="sideways")
