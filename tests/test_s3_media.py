"""Media on S3-compatible storage (django-storages against moto's server, started here):
ingest writes every file to the bucket, battles stream byte ranges from it, input images
and dataset releases are stored and served from it."""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import models
from django.test import Client

from arena import demo_media, ingest
from arena.mediastore import open_range
from arena.models import Battle, Clip, Prompt
from arena.settings import s3_storage
from votes import releases

from .conftest import issue, make_voter_client, vote

REGION = "us-east-1"
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-compatible HTTP server on a free port, for this module's tests."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(settings, s3_endpoint: str, monkeypatch, demo) -> Iterator[tuple]:  # noqa: ANN001
    """A fresh bucket as the default storage, configured from the environment variables,
    holding the demo catalogue's files (copied under the same names)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    name = f"arena-{uuid.uuid4().hex[:12]}"
    env = {
        "AWS_STORAGE_BUCKET_NAME": name,
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_S3_REGION_NAME": REGION,
    }
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)
    client.create_bucket(Bucket=name)
    local_root = Path(settings.MEDIA_ROOT)
    stored = set()
    for model in (Clip, Prompt):
        fields = [f.name for f in model._meta.fields if isinstance(f, models.FileField)]
        for row in model.objects.values_list(*fields):
            stored |= {name for name in row if name}
    for key in stored:
        client.upload_file(str(local_root / key), name, key)
    settings.STORAGES = settings.STORAGES | {"default": s3_storage(env)}
    settings.MEDIA_ROOT = "/nonexistent"  # anything still reading the folder fails loudly
    assert default_storage.__class__.__name__ == "S3Storage"
    yield client, name


def object_bytes(client, bucket_name: str, key: str) -> bytes:  # noqa: ANN001
    return client.get_object(Bucket=bucket_name, Key=key)["Body"].read()


def keys(client, bucket_name: str, prefix: str = "") -> set[str]:  # noqa: ANN001
    listing = client.list_objects_v2(Bucket=bucket_name, Prefix=prefix)
    return {item["Key"] for item in listing.get("Contents", [])}


def test_ingest_writes_the_source_renditions_and_poster_to_the_bucket(
    bucket, tmp_path: Path
) -> None:  # noqa: ANN001
    client, name = bucket
    source = tmp_path / "clip.mp4"
    demo_media.render_clip(
        demo_media.MODELS[0], demo_media.PROMPTS[0], source, width=160, height=96, seed=9001
    )
    image = tmp_path / "input.png"
    demo_media.draw_input_image(demo_media.PROMPTS[0], image, (160, 96))
    clip = ingest.add_clip(
        model="S3 Model",
        prompt="A clip stored in a bucket",
        mode="image-to-video",
        categories=["nature"],
        file=source,
        input_image=image,
        process=False,
    )
    assert object_bytes(client, name, clip.source.name) == source.read_bytes()
    assert object_bytes(client, name, clip.prompt.input_image.name)[:8] == b"\x89PNG\r\n\x1a\n"
    # The worker's path: probe and remux from a local copy of the stored source.
    clip = ingest.process_clip(clip.pk)
    assert clip.status == Clip.Status.READY, clip.reject_reason
    stored = keys(client, name)
    for field in (clip.source, clip.rendition_silent, clip.rendition_sound, clip.poster):
        assert field.name in stored
    assert object_bytes(client, name, clip.poster.name)[:3] == b"\xff\xd8\xff"  # a JPEG


def test_a_battle_clip_is_streamed_from_the_bucket_by_byte_range(bucket) -> None:  # noqa: ANN001
    client, name = bucket
    voter = make_voter_client()
    payload = issue(voter, "audio")
    battle = Battle.objects.get(token=payload["token"])
    key = battle.clip_a.rendition_for(battle.arena).name
    whole = object_bytes(client, name, key)

    response = voter.get(payload["clips"]["a"]["url"], HTTP_RANGE="bytes=100-1099")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-1099/{len(whole)}"
    assert b"".join(response.streaming_content) == whole[100:1100]

    # One ranged GET to the bucket, not a download of the whole object per request.
    handle = open_range(default_storage, key, 100, 1000)
    assert not isinstance(handle, File)
    assert handle.read() == whole[100:1100]
    handle.close()

    response = voter.get(payload["clips"]["a"]["url"], HTTP_RANGE="bytes=-500")
    assert b"".join(response.streaming_content) == whole[-500:]
    response = voter.get(payload["clips"]["a"]["poster_url"])
    poster = object_bytes(client, name, battle.clip_a.poster.name)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == poster


def test_an_input_image_is_served_from_the_bucket(bucket) -> None:  # noqa: ANN001
    client, name = bucket
    payload = issue(make_voter_client(), "no-audio", "image-to-video")
    url = payload["prompt"]["input_image_url"]
    assert url.startswith("http://testserver/media/inputs/")  # the site's, not the bucket's
    battle = Battle.objects.get(token=payload["token"])
    response = Client().get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == object_bytes(
        client, name, battle.prompt.input_image.name
    )


def test_a_dataset_release_is_written_to_and_downloaded_from_the_bucket(bucket) -> None:  # noqa: ANN001
    client, name = bucket
    voter = make_voter_client()
    for _ in range(3):
        assert vote(voter, issue(voter)["token"], "a").status_code == 201
    release, where = releases.create_release(formats=("jsonl",))
    assert where == f"datasets/{release.version}"  # a storage name: there is no local path
    stored = keys(client, name, f"datasets/{release.version}/")
    assert f"datasets/{release.version}/votes.jsonl.gz" in stored
    assert f"datasets/{release.version}/manifest.json" in stored

    listing = Client().get("/api/v1/datasets/").json()
    entry = next(f for f in listing[0]["files"] if f["format"] == "jsonl")
    response = Client().get(entry["url"])
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == entry["sha256"]
    rows = [json.loads(line) for line in gzip.decompress(body).splitlines()]
    assert len(rows) == release.rows >= 3

    clip_url = rows[0]["clip_a_url"]
    response = Client().get(clip_url.removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[4:8] == b"ftyp"  # an MP4 from the bucket
