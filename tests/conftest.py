"""Shared fixtures: a small real catalogue (real clips, rendered once per run) and personas."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from arena import catalogue, demo_media, ingest, leaderboards
from arena.models import Clip

# Four models: two with sound (Lumen-2, Kinetica XL), two without; two prompts per mode.
DEMO_MODELS = demo_media.MODELS[:4]
DEMO_PROMPTS = [
    p for mode in demo_media.MODES for p in [q for q in demo_media.PROMPTS if q.mode == mode][:2]
]


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def rendered_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Raw demo clips (1 s, 160x96), rendered once per test run."""
    folder = tmp_path_factory.mktemp("rendered")
    clips = {}
    for index, (model, prompt) in enumerate((m, p) for m in DEMO_MODELS for p in DEMO_PROMPTS):
        path = folder / f"{model.slug}--{prompt.slug}.mp4"
        demo_media.render_clip(model, prompt, path, width=160, height=96, seconds=1.0, seed=index)
        clips[(model.slug, prompt.slug)] = path
    for prompt in DEMO_PROMPTS:
        if prompt.mode == "image-to-video":
            demo_media.draw_input_image(prompt, folder / f"{prompt.slug}.png", (160, 96))
    return clips


def seed_catalogue(rendered: dict[tuple[str, str], Path]) -> None:
    """Ingest the rendered clips through the real pipeline (idempotent)."""
    if Clip.objects.exists():
        return
    for (model_slug, prompt_slug), path in rendered.items():
        model, prompt = demo_media.get_model(model_slug), demo_media.get_prompt(prompt_slug)
        image = path.parent / f"{prompt_slug}.png"
        ingest.add_clip(
            model=model.name,
            prompt=prompt.text,
            mode=prompt.mode,
            categories=list(prompt.categories),
            file=path,
            input_image=image if prompt.mode == "image-to-video" else None,
        )
    from arena.models import Generator

    for model in DEMO_MODELS:
        Generator.objects.filter(name=model.name).update(organisation=model.organisation)


@pytest.fixture(autouse=True)
def _arena_settings(settings, media_root: Path):  # noqa: ANN001, ANN202
    settings.MEDIA_ROOT = media_root
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ARENA_MIN_WATCH_MS = 0
    settings.ARENA_RATE_SESSION = "off"
    settings.ARENA_RATE_IP = "off"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.ARENA_RECOMPUTE_BURST = 0
    # Battles are drawn at random; tests that want attention checks ask for them.
    settings.ARENA_ATTENTION_CHECK_RATE = 0.0
    cache.clear()
    catalogue.forget_versions()  # what this process read from the cache just cleared
    leaderboards.forget_replicates()  # board ids are reused between tests
    yield
    cache.clear()
    catalogue.forget_versions()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, rendered_clips, media_root):  # noqa: ANN001, ANN201
    """Seed the catalogue once: tests run in transactions that roll back to it."""
    settings.MEDIA_ROOT = media_root
    with django_db_blocker.unblock():
        seed_catalogue(rendered_clips)


@pytest.fixture
def demo(db, rendered_clips):  # noqa: ANN001, ANN201
    """The demo catalogue; re-seeds after a transactional test flushed it."""
    seed_catalogue(rendered_clips)


@pytest.fixture
def demo_live(transactional_db, rendered_clips):  # noqa: ANN001, ANN201
    """The demo catalogue, committed, for tests that use other threads or processes."""
    seed_catalogue(rendered_clips)


@pytest.fixture
def voter_client(demo) -> Client:  # noqa: ANN001
    """A new anonymous voter, with the CSRF cookie that the vote page sets."""
    client = Client(enforce_csrf_checks=True)
    client.get("/vote/no-audio/")
    return client


def make_voter_client() -> Client:
    client = Client(enforce_csrf_checks=True)
    client.get("/vote/no-audio/")
    return client


def api_post(client: Client, url: str, data: dict | None = None, **extra):  # noqa: ANN201
    token = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else ""
    return client.post(
        url, data or {}, content_type="application/json", HTTP_X_CSRFTOKEN=token, **extra
    )


def issue(client: Client, arena: str = "no-audio", mode: str | None = None) -> dict:
    body = {"arena": arena} | ({"mode": mode} if mode else {})
    response = api_post(client, "/api/v1/battles/", body)
    assert response.status_code == 201, response.content
    return response.json()


def vote(client: Client, token: str, choice: str = "a"):  # noqa: ANN201
    return api_post(client, f"/api/v1/battles/{token}/vote/", {"choice": choice})


def copy_media(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)
