"""Production comes from the environment alone: `check --deploy` passes, and a real gunicorn
serves static files through WhiteNoise, redirects to HTTPS and logs one JSON object a line."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "ARENA_", "DATABASE_", "CACHE_", "CELERY_", "LOG_"))
    }
    return (
        env
        | {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
            "DJANGO_ALLOWED_HOSTS": "arena.example.org,127.0.0.1",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://arena.example.org",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
            "ARENA_VAR_DIR": str(tmp_path / "var"),
            "STATIC_ROOT": str(tmp_path / "static"),
            "MEDIA_ROOT": str(tmp_path / "media"),
            "ARENA_TRUSTED_PROXIES": "1",
        }
        | extra
    )


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_check_deploy_passes_with_production_environment(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_passes_behind_a_proxy_that_redirects_to_https(tmp_path: Path) -> None:
    env = production_env(tmp_path, DJANGO_SECURE_SSL_REDIRECT="false")
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_flags_development_defaults(tmp_path: Path) -> None:
    env = production_env(tmp_path, DJANGO_DEBUG="true")
    env.pop("DJANGO_SECRET_KEY")
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG on


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Host": "arena.example.org", **headers})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def gunicorn_production(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """collectstatic, then gunicorn on a free port with the production environment."""
    tmp_path = tmp_path_factory.mktemp("prod")
    env = production_env(tmp_path)
    collected = manage(env, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stderr
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "arena.wsgi", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "1", "--access-logfile", "/dev/null"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            assert proc.poll() is None, "gunicorn exited"
            time.sleep(0.1)
    yield base, tmp_path / "static", log
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.mark.slow
def test_whitenoise_serves_hashed_static_files_with_debug_off(gunicorn_production) -> None:  # noqa: ANN001
    base, static_root, _ = gunicorn_production
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["arena/arena.css"]
    assert hashed != "arena/arena.css"  # a content hash in the name
    status, headers, body = fetch(
        f"{base}/static/{hashed}", **{"X-Forwarded-Proto": "https", "Accept-Encoding": "gzip"}
    )
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"  # WhiteNoise's precompressed copy
    assert "immutable" in headers["Cache-Control"]
    import gzip

    assert gzip.decompress(body) == (ROOT / "static/arena/arena.css").read_bytes()


@pytest.mark.slow
def test_favicon_is_the_hashed_static_icon(gunicorn_production) -> None:  # noqa: ANN001
    base, static_root, _ = gunicorn_production
    hashed = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    status, headers, _ = fetch(f"{base}/favicon.ico", **{"X-Forwarded-Proto": "https"})
    assert status == 302
    assert headers["Location"] == f"/static/{hashed['arena/favicon.ico']}"
    status, headers, body = fetch(f"{base}{headers['Location']}", **{"X-Forwarded-Proto": "https"})
    assert status == 200 and body == (ROOT / "static/arena/favicon.ico").read_bytes()


@pytest.mark.slow
def test_plain_http_is_redirected_and_hsts_is_sent(gunicorn_production) -> None:  # noqa: ANN001
    base, _, _ = gunicorn_production
    status, headers, _ = fetch(f"{base}/leaderboard/")
    assert status == 301
    assert headers["Location"] == "https://arena.example.org/leaderboard/"
    status, headers, _ = fetch(f"{base}/healthz", **{"X-Forwarded-Proto": "https"})
    assert status == 200
    assert "max-age=31536000" in headers["Strict-Transport-Security"]


@pytest.mark.slow
def test_healthz_answers_a_plain_http_probe(gunicorn_production) -> None:  # noqa: ANN001
    base, _, _ = gunicorn_production
    status, _, body = fetch(f"{base}/healthz")
    assert status == 200, body
    assert json.loads(body)["checks"]["database"] == "ok"


@pytest.mark.slow
def test_production_logs_are_one_json_object_per_line(gunicorn_production) -> None:  # noqa: ANN001
    base, _, log = gunicorn_production
    status, _, _ = fetch(f"{base}/no-such-page/", **{"X-Forwarded-Proto": "https"})
    assert status == 404
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log.seek(0)
        lines = [line for line in log.read().splitlines() if "no-such-page" in line]
        if lines:
            break
        time.sleep(0.1)
    entry = json.loads(lines[0])
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "django.request"
    # gunicorn's own lines ("Booting worker ...") are JSON too: every line of the log is.
    log.seek(0)
    every = [json.loads(line) for line in log.read().splitlines() if line.strip()]
    assert any(e["logger"] == "gunicorn.error" and "Booting worker" in e["message"] for e in every)
    assert entry["request"] == {"method": "GET", "path": "/no-such-page/"}
    assert entry["status"] == 404
