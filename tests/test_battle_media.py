"""The per-battle clip and poster URLs, input images, and what the served bytes reveal."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import av
import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from arena import mediatools
from arena.models import Battle, Clip, Generator, Prompt

from .conftest import issue, make_voter_client

pytestmark = pytest.mark.django_db

# Things that must never reach a voter's browser in media bytes or headers.
ENCODER_LEAKS = [b"x264", b"keyint=", b"Lavf", b"Lavc"]


def path_of(url: str) -> str:
    return urlparse(url).path


def body(response) -> bytes:  # noqa: ANN001
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def fetch(client: Client, url: str, **headers: str):  # noqa: ANN201
    return client.get(path_of(url), headers=headers)


def model_words() -> list[str]:
    names = Generator.objects.values_list("name", "organisation")
    return [w for pair in names for w in pair if w]


def stored_size(battle: dict, side: str) -> int:
    stored = Battle.objects.get(token=battle["token"])
    clip = stored.clip_a if side == "a" else stored.clip_b
    return clip.rendition_for(stored.arena).size


def served_clips(client: Client, arena: str, count: int) -> list[bytes]:
    """The bytes of both clips of `count` battles in `arena`."""
    clips = []
    for _ in range(count):
        battle = issue(client, arena)
        for side in ("a", "b"):
            response = fetch(client, battle["clips"][side]["url"])
            assert response.status_code == 200
            clips.append(body(response))
    return clips


def probe_bytes(data: bytes, tmp_path: Path, name: str) -> mediatools.Probe:
    path = tmp_path / name
    path.write_bytes(data)
    return mediatools.probe(path)


def tags(data: bytes, tmp_path: Path, name: str) -> tuple[dict, dict[str, dict]]:
    path = tmp_path / name
    path.write_bytes(data)
    with av.open(str(path)) as container:
        return dict(container.metadata), {s.type: dict(s.metadata) for s in container.streams}


# --------------------------------------------------------------------------- who may fetch


def test_the_issued_session_gets_the_clips_and_posters(voter_client: Client) -> None:
    battle = issue(voter_client)
    for side in ("a", "b"):
        clip = fetch(voter_client, battle["clips"][side]["url"])
        assert clip.status_code == 200
        assert clip["Content-Type"] == "video/mp4"
        data = body(clip)
        assert data[4:8] == b"ftyp" and len(data) == int(clip["Content-Length"])
        poster = fetch(voter_client, battle["clips"][side]["poster_url"])
        assert poster.status_code == 200
        assert poster["Content-Type"] == "image/jpeg"
        assert body(poster)[:3] == b"\xff\xd8\xff"


def test_another_session_gets_404_for_the_battles_media(voter_client: Client) -> None:
    battle = issue(voter_client)
    stranger = make_voter_client()
    anonymous = Client()  # no session at all
    for client in (stranger, anonymous):
        for side in ("a", "b"):
            assert fetch(client, battle["clips"][side]["url"]).status_code == 404
            assert fetch(client, battle["clips"][side]["poster_url"]).status_code == 404
    assert fetch(voter_client, battle["clips"]["a"]["url"]).status_code == 200


@pytest.mark.parametrize(
    "path", ["/b/unknown-token-0000000000/a.mp4", "/b/unknown-token-0000000000/b.jpg"]
)
def test_an_unknown_token_gets_404(voter_client: Client, path: str) -> None:
    issue(voter_client)
    assert voter_client.get(path).status_code == 404


def test_a_tampered_token_gets_404(voter_client: Client) -> None:
    url = path_of(issue(voter_client)["clips"]["a"]["url"])
    token = url.split("/")[2]
    tampered = url.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert voter_client.get(tampered).status_code == 404


def test_an_expired_battles_media_gets_404(voter_client: Client) -> None:
    battle = issue(voter_client)
    assert fetch(voter_client, battle["clips"]["a"]["url"]).status_code == 200
    Battle.objects.filter(token=battle["token"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert fetch(voter_client, battle["clips"]["a"]["url"]).status_code == 404
    assert fetch(voter_client, battle["clips"]["b"]["poster_url"]).status_code == 404


def test_media_answers_only_safe_methods(voter_client: Client) -> None:
    url = path_of(issue(voter_client)["clips"]["a"]["url"])
    assert voter_client.head(url).status_code == 200
    response = Client().post(url)  # no CSRF enforcement: the method check itself answers
    assert response.status_code == 405
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}


# --------------------------------------------------------------------------- ranges


def test_a_byte_range_gets_206_with_exactly_those_bytes(voter_client: Client) -> None:
    battle = issue(voter_client)
    url = battle["clips"]["a"]["url"]
    full = body(fetch(voter_client, url))
    size = stored_size(battle, "a")
    assert len(full) == size

    part = fetch(voter_client, url, range="bytes=0-99")

    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 0-99/{size}"
    assert part["Content-Length"] == "100"
    assert part["Content-Type"] == "video/mp4"
    assert body(part) == full[:100]


def test_a_middle_range_and_an_open_ended_range(voter_client: Client) -> None:
    battle = issue(voter_client)
    url = battle["clips"]["b"]["url"]
    full = body(fetch(voter_client, url))
    size = len(full)

    middle = fetch(voter_client, url, range="bytes=1000-1999")
    assert middle.status_code == 206
    assert middle["Content-Range"] == f"bytes 1000-1999/{size}"
    assert body(middle) == full[1000:2000]

    rest = fetch(voter_client, url, range=f"bytes={size - 10}-")
    assert rest.status_code == 206
    assert rest["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
    assert body(rest) == full[-10:]

    past_end = fetch(voter_client, url, range=f"bytes={size - 5}-{size + 500}")
    assert past_end.status_code == 206
    assert body(past_end) == full[-5:]


def test_a_suffix_range_gets_the_last_bytes(voter_client: Client) -> None:
    battle = issue(voter_client)
    url = battle["clips"]["a"]["url"]
    full = body(fetch(voter_client, url))

    tail = fetch(voter_client, url, range="bytes=-50")

    assert tail.status_code == 206
    assert tail["Content-Range"] == f"bytes {len(full) - 50}-{len(full) - 1}/{len(full)}"
    assert tail["Content-Length"] == "50"
    assert body(tail) == full[-50:]


def test_a_range_beyond_the_end_gets_416(voter_client: Client) -> None:
    battle = issue(voter_client)
    url = battle["clips"]["a"]["url"]
    size = stored_size(battle, "a")
    for header in (f"bytes={size}-", f"bytes={size + 100}-{size + 200}"):
        response = fetch(voter_client, url, range=header)
        assert response.status_code == 416, header
        assert response["Content-Range"] == f"bytes */{size}"


def test_an_invalid_range_is_ignored(voter_client: Client) -> None:
    battle = issue(voter_client)
    url = battle["clips"]["a"]["url"]
    size = stored_size(battle, "a")
    # Last before first, and absurdly long numbers: RFC 9110 says serve the whole file.
    for header in ("bytes=500-100", "bytes=" + "9" * 5000 + "-"):
        response = fetch(voter_client, url, range=header)
        assert response.status_code == 200, header
        assert response["Content-Length"] == str(size)


def test_no_range_gets_200_with_the_full_length(voter_client: Client) -> None:
    battle = issue(voter_client)
    response = fetch(voter_client, battle["clips"]["a"]["url"])
    size = stored_size(battle, "a")
    assert response.status_code == 200
    assert response["Content-Length"] == str(size)
    assert response["Accept-Ranges"] == "bytes"
    assert "Content-Range" not in response
    assert len(body(response)) == size


def test_a_poster_honours_ranges_too(voter_client: Client) -> None:
    battle = issue(voter_client)
    url = battle["clips"]["a"]["poster_url"]
    full = body(fetch(voter_client, url))
    part = fetch(voter_client, url, range="bytes=0-9")
    assert part.status_code == 206 and body(part) == full[:10]


# ------------------------------------------------------------ what headers and bytes reveal


def test_no_header_names_the_file_or_a_model(voter_client: Client) -> None:
    battle = issue(voter_client)
    stored = Battle.objects.get(token=battle["token"])
    secrets = [*model_words()]
    for clip in (stored.clip_a, stored.clip_b):
        for field in (clip.source, clip.poster, clip.rendition_silent, clip.rendition_sound):
            if field.name:
                secrets.append(Path(field.name).stem)
    for side in ("a", "b"):
        for kind in ("url", "poster_url"):
            for headers in ({}, {"range": "bytes=0-99"}):
                response = fetch(voter_client, battle["clips"][side][kind], **headers)
                assert response.status_code in (200, 206)
                for name in ("Content-Disposition", "ETag", "Last-Modified"):
                    assert name not in response, name
                text = json.dumps(dict(response.headers)).lower()
                for secret in secrets:
                    assert secret.lower() not in text, secret


def test_audio_arena_clips_have_sound(voter_client: Client, tmp_path: Path) -> None:
    for index, data in enumerate(served_clips(voter_client, "audio", 3)):
        info = probe_bytes(data, tmp_path, f"audio-{index}.mp4")
        assert info.has_audio, index
        assert info.audio_codec == "aac"


def test_no_audio_arena_clips_have_no_audio_stream(voter_client: Client, tmp_path: Path) -> None:
    for index, data in enumerate(served_clips(voter_client, "no-audio", 4)):
        info = probe_bytes(data, tmp_path, f"silent-{index}.mp4")
        assert not info.has_audio, index
        with av.open(str(tmp_path / f"silent-{index}.mp4")) as container:
            assert [s.type for s in container.streams] == ["video"]


def test_renditions_of_every_model_carry_identical_tags(demo, tmp_path: Path) -> None:  # noqa: ANN001
    """Every stored rendition, model by model: one set of container and stream tags."""
    seen: dict[str, set[str]] = {}
    models_seen: set[int] = set()
    for clip in Clip.objects.playable().select_related("generator"):
        for key, field in (("silent", clip.rendition_silent), ("sound", clip.rendition_sound)):
            if not field.name:
                continue
            with default_storage.open(field.name, "rb") as handle:
                container_tags, stream_tags = tags(handle.read(), tmp_path, "r.mp4")
            seen.setdefault(key, set()).add(
                json.dumps([container_tags, stream_tags], sort_keys=True)
            )
            models_seen.add(clip.generator_id)
    assert len(models_seen) >= 4
    assert {k: len(v) for k, v in seen.items()} == {"silent": 1, "sound": 1}, seen
    # The sound rendition differs only by having an audio stream.
    silent, sound = (json.loads(next(iter(seen[k]))) for k in ("silent", "sound"))
    assert silent[0] == sound[0]
    assert silent[1]["video"] == sound[1]["video"]


def test_served_clips_in_one_battle_carry_identical_tags(
    voter_client: Client, tmp_path: Path
) -> None:
    for arena in ("audio", "no-audio"):
        for round_ in range(2):
            battle = issue(voter_client, arena)
            stored = Battle.objects.get(token=battle["token"])
            assert stored.model_a_id != stored.model_b_id
            a, b = (
                tags(body(fetch(voter_client, battle["clips"][s]["url"])), tmp_path, f"{s}.mp4")
                for s in ("a", "b")
            )
            assert a == b, (arena, round_)


def test_served_bytes_name_no_model_or_organisation(voter_client: Client) -> None:
    words = [w.lower().encode() for w in model_words()]
    assert len(words) >= 8  # four seeded models, each with an organisation
    for arena in ("audio", "no-audio"):
        battle = issue(voter_client, arena)
        for side in ("a", "b"):
            for kind in ("url", "poster_url"):
                data = body(fetch(voter_client, battle["clips"][side][kind])).lower()
                for word in words:
                    assert word not in data, (arena, side, kind, word)
                for leak in ENCODER_LEAKS:
                    assert leak.lower() not in data, (arena, side, kind, leak)


# ------------------------------------------------------------ input images and stored paths


def test_input_image_of_an_image_to_video_battle_is_served(voter_client: Client) -> None:
    battle = issue(voter_client, "no-audio", "image-to-video")
    url = battle["prompt"]["input_image_url"]
    assert path_of(url).startswith("/media/inputs/") and url.endswith(".png")

    response = fetch(voter_client, url)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    data = body(response)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    prompt = Battle.objects.get(token=battle["token"]).prompt
    with default_storage.open(prompt.input_image.name, "rb") as handle:
        assert data == handle.read()
    for name in ("Content-Disposition", "ETag", "Last-Modified"):
        assert name not in response


def test_text_to_video_battle_has_no_input_image(voter_client: Client) -> None:
    battle = issue(voter_client, "no-audio", "text-to-video")
    assert battle["prompt"]["input_image_url"] is None


@pytest.mark.parametrize(
    "path",
    [
        "/media/inputs/no-such-image.png",
        "/media/inputs/..%2Fsecret.png",
        "/media/inputs/x.jpg",
    ],
)
def test_unknown_input_images_get_404(demo, path: str) -> None:  # noqa: ANN001
    assert Client().get(path).status_code == 404


def test_stored_rendition_poster_and_source_paths_are_not_reachable(demo) -> None:  # noqa: ANN001
    client = make_voter_client()
    clip = Clip.objects.playable().exclude(rendition_sound="").first()
    names = [clip.rendition_silent.name, clip.rendition_sound.name, clip.poster.name]
    names.append(clip.source.name)
    for name in names:
        assert default_storage.exists(name)
        for path in (f"/media/{name}", f"/{name}", clip.rendition_silent.url):
            assert client.get(path).status_code == 404, path
    # An input image's neighbours under another folder are not served by the input route.
    image = Prompt.objects.exclude(input_image="").first().input_image.name
    assert client.get(f"/media/{image}").status_code == 200
    leaf = Path(clip.rendition_silent.name).name
    assert client.get(f"/media/inputs/{leaf}").status_code == 404
