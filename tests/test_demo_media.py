"""Tests for the offline demo catalogue and clip renderer (arena.demo_media)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from arena.demo_media import (
    CATEGORIES,
    MODELS,
    MODES,
    PROMPTS,
    draw_input_image,
    get_model,
    get_prompt,
    render_clip,
    soundtrack,
    win_probability,
)
from arena.demo_scenes import SCENES, make_scene
from arena.mediatools import probe

SIZE = {"width": 160, "height": 96, "fps": 24, "seconds": 1.0}


def _frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_catalogue_has_enough_distinct_models() -> None:
    assert len(MODELS) >= 6
    assert len({m.slug for m in MODELS}) == len(MODELS)
    assert len({m.organisation for m in MODELS}) == len(MODELS)
    with_sound = sum(m.has_sound for m in MODELS)
    assert 0.3 <= with_sound / len(MODELS) <= 0.7


def test_best_model_has_fewest_defects() -> None:
    best = max(MODELS, key=lambda m: m.quality)
    worst = min(MODELS, key=lambda m: m.quality)
    assert best.traits.noise <= 2 and best.traits.blur == 0 and best.traits.stutter == 0
    assert worst.traits.noise > best.traits.noise
    assert win_probability(best, worst) > 0.9
    assert win_probability(best, best) == pytest.approx(0.5)


def test_prompts_cover_modes_categories_and_scenes() -> None:
    assert len(PROMPTS) >= 16
    assert len({p.slug for p in PROMPTS}) == len(PROMPTS)
    per_mode = {mode: sum(p.mode == mode for p in PROMPTS) for mode in MODES}
    assert min(per_mode.values()) >= len(PROMPTS) // 3
    used = {c for p in PROMPTS for c in p.categories}
    assert len(used) >= 4 and used <= set(CATEGORIES)
    assert all(1 <= len(p.categories) <= 2 for p in PROMPTS)
    assert all(p.scene in SCENES for p in PROMPTS)


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_every_scene_moves(scene: str) -> None:
    draw = make_scene(scene, 160, 96, seed=1)
    first, later = np.asarray(draw(0.0), np.int16), np.asarray(draw(0.5), np.int16)
    assert first.shape == (96, 160, 3)
    assert np.abs(first - later).mean() > 0.3


def test_input_image_is_clean_first_frame(tmp_path: Path) -> None:
    prompt = next(p for p in PROMPTS if p.mode == "image-to-video")
    draw_input_image(prompt, tmp_path / "in.png", size=(160, 96))
    with Image.open(tmp_path / "in.png") as img:
        assert img.format == "PNG" and img.size == (160, 96)
        expected = np.asarray(make_scene(prompt.scene, 160, 96)(0.0))
        np.testing.assert_array_equal(np.asarray(img.convert("RGB")), expected)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("demo")
    prompt = get_prompt("road-trip")
    paths = {}
    for model in MODELS:
        paths[model.slug] = root / f"{model.slug}.mp4"
        render_clip(model, prompt, paths[model.slug], seed=7, **SIZE)
    return paths


def test_render_clip_writes_valid_h264_of_requested_shape(clips: dict[str, Path]) -> None:
    for path in clips.values():
        info = probe(path)
        assert info.video_codec == "h264"
        assert (info.width, info.height, info.fps) == (160, 96, 24)
        assert info.duration == pytest.approx(1.0, abs=0.1)


def test_demo_models_with_sound_produce_audio(clips: dict[str, Path]) -> None:
    for model in MODELS:
        info = probe(clips[model.slug])
        assert info.has_audio == model.has_sound, model.slug
        if model.has_sound:
            assert info.audio_codec == "aac"
            with av.open(str(clips[model.slug])) as container:
                samples = np.concatenate(
                    [f.to_ndarray().ravel() for f in container.decode(audio=0)]
                )
            assert np.abs(samples).max() > 0.05  # audible, not silence


def test_soundtracks_are_bounded_and_scene_specific() -> None:
    tracks = {scene: soundtrack(scene, 1.0, 44100, seed=0) for scene in SCENES}
    for track in tracks.values():
        assert track.dtype == np.float32 and track.size == 44100
        assert np.abs(track).max() <= 1.0
    assert not np.allclose(tracks["bird"], tracks["car"])


def test_model_traits_are_visibly_different(clips: dict[str, Path]) -> None:
    best = _frames(clips["lumen-2"]).astype(np.int16)
    for model in MODELS:
        if model.slug == "lumen-2":
            continue
        frames = _frames(clips[model.slug]).astype(np.int16)
        assert np.abs(frames - best).mean() > 3, model.slug


def test_render_clip_is_deterministic_given_seed(tmp_path: Path) -> None:
    model, prompt = get_model("ember-0"), get_prompt("campfire")
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        render_clip(model, prompt, tmp_path / f"{name}.mp4", seed=seed, **SIZE)
    a, b, c = (_frames(tmp_path / f"{n}.mp4") for n in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_demo_clips_deliberately_leak_model_tags(clips: dict[str, Path]) -> None:
    with av.open(str(clips["lumen-2"])) as container:
        assert "Lumen-2" in container.metadata.get("comment", "")
    assert b"x264" in clips["lumen-2"].read_bytes()
