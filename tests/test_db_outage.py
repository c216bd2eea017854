"""The database goes away under a running server, then comes back.

A real gunicorn (DEBUG off, persistent connections) reaches PostgreSQL through a small TCP
proxy that the test cuts and restores; the shared PostgreSQL server itself is never touched.
While cut: the vote and battle endpoints answer 503 with a clear message and Retry-After,
pages that read the database show a friendly 503 page, nothing is written; once restored,
the same battle can be voted on, without restarting anything.

SQLite is skipped: a local file cannot become unreachable the way a database server can.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from arena.models import Battle
from votes.models import Vote

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL: a SQLite file cannot become unreachable",
    ),
]
ROOT = Path(__file__).resolve().parent.parent


class Proxy:
    """A TCP relay to PostgreSQL that can drop every connection and refuse new ones."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.up:
                client.close()  # what a client sees while the server restarts
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.pairs.append((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self.up = False
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Collected static files: with DEBUG off the pages need the manifest (as in production)."""
    root = tmp_path_factory.mktemp("static")
    env = os.environ | {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "t", "STATIC_ROOT": str(root)}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return root


@pytest.fixture
def server(demo_live, media_root: Path, static_root: Path, tmp_path: Path) -> Iterator:  # noqa: ANN001
    db = connection.settings_dict
    proxy = Proxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    port = free_port()
    user = db["USER"] or "postgres"
    env = os.environ | {
        "DATABASE_URL": f"postgres://{user}@127.0.0.1:{proxy.port}/{db['NAME']}",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "outage-test-secret-key-outage-test-secret-key-0123456789",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "STATIC_ROOT": str(static_root),
        "MEDIA_ROOT": str(media_root),
        "ARENA_MIN_WATCH_MS": "0",
        "ARENA_RATE_SESSION": "off",
        "ARENA_RATE_IP": "off",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    log = tmp_path / "gunicorn.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "arena.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "30",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, log)
        yield base, proxy
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proxy.close()
        wait_for_other_sessions_to_end()


def wait_for_other_sessions_to_end() -> None:
    """PostgreSQL ends a backend shortly after its client goes: wait, so the test database
    can be dropped at the end of the run."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.2)


def wait_until_serving(base: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/healthz", timeout=30)
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.3)
    pytest.fail(f"gunicorn did not start:\n{log.read_text(errors='replace')[-3000:]}")


class Browser:
    """Cookies kept by hand: with DEBUG off they are Secure, and this is plain HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}

    def _headers(self) -> dict[str, str]:
        return {
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "X-CSRFToken": self.cookies.get("csrftoken", ""),
        }

    def _keep(self, response: requests.Response) -> requests.Response:
        self.cookies.update({c.name: c.value for c in response.cookies})
        return response

    def get(self, path: str) -> requests.Response:
        return self._keep(requests.get(self.base + path, headers=self._headers(), timeout=30))

    def post(self, path: str, body: dict) -> requests.Response:
        return self._keep(
            requests.post(self.base + path, json=body, headers=self._headers(), timeout=30)
        )


def test_voting_answers_503_while_the_database_is_away_and_resumes_when_it_returns(
    server,  # noqa: ANN001
) -> None:
    base, proxy = server
    voter = Browser(base)
    assert voter.get("/vote/no-audio/").status_code == 200
    issued = voter.post("/api/v1/battles/", {"arena": "no-audio"})
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    votes_before = Vote.objects.count()

    proxy.cut()
    refused = voter.post(f"/api/v1/battles/{token}/vote/", {"choice": "a"})
    assert refused.status_code == 503, refused.text
    assert "unavailable" in refused.json()["detail"] and "Nothing was recorded" in (
        refused.json()["detail"]
    )
    assert refused.headers["Retry-After"].isdigit()
    battle = voter.post("/api/v1/battles/", {"arena": "no-audio"})
    assert battle.status_code == 503 and "unavailable" in battle.json()["detail"]
    # A page that reads the database: a friendly page, not a traceback or a bare 500.
    page = voter.get("/leaderboard/no-audio/text-to-video/")
    assert page.status_code == 503
    assert "Back in a moment" in page.text and "Traceback" not in page.text
    assert page.headers["Retry-After"].isdigit()
    # The vote page itself needs no database: it loads, and its script shows the API's 503.
    assert voter.get("/vote/no-audio/").status_code == 200
    # Nothing was half-written (read straight from PostgreSQL, not through the proxy).
    assert Vote.objects.count() == votes_before
    assert Battle.objects.get(token=token).status == Battle.Status.ISSUED

    proxy.restore()
    # The same server process, the same battle: the vote goes through, once.
    accepted = voter.post(f"/api/v1/battles/{token}/vote/", {"choice": "a"})
    assert accepted.status_code == 201, accepted.text
    assert set(accepted.json()["models"]) == {"a", "b"}
    assert Vote.objects.count() == votes_before + 1
    assert voter.post(f"/api/v1/battles/{token}/vote/", {"choice": "a"}).status_code == 409
    assert voter.get("/leaderboard/no-audio/text-to-video/").status_code in (200, 404)


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")
def test_the_vote_page_tells_the_voter_and_the_vote_goes_through_once_the_database_returns(
    server,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM reads below are plain
    # synchronous test code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    base, proxy = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            page = browser.new_context().new_page()
            page.goto(f"{base}/vote/no-audio/")
            expect(page.locator("#prompt-text")).not_to_have_text("Loading a battle…")
            page.locator("body").press("Space")  # play both clips through
            expect(page.locator("#watched-a")).to_have_text("watched ✓", timeout=20_000)
            expect(page.locator("#watched-b")).to_have_text("watched ✓", timeout=20_000)

            proxy.cut()
            page.locator('[data-choice="a"]').click()
            status = page.locator("#status")
            expect(status).to_contain_text("briefly unavailable", timeout=10_000)
            expect(status).to_contain_text("Nothing was recorded")
            expect(page.locator("#reveal-a")).to_be_hidden()
            assert not Vote.objects.exists()

            proxy.restore()
            # The page re-enables the choices a few seconds later; the same battle is voted.
            page.locator('[data-choice="a"]').click(timeout=15_000)
            expect(page.locator("#reveal-a")).to_be_visible(timeout=10_000)
            assert Vote.objects.count() == 1
        finally:
            browser.close()
            # Under Playwright's event loop the ORM used a connection of its own: close it, or
            # it keeps the test database from being dropped.
            connection.close()
