"""`gunicorn -c gunicorn.conf.py arena.wsgi`: settings from the environment, a real server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def gunicorn(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "WEB_", "PORT"))
    }
    return subprocess.run(
        [GUNICORN, "-c", "gunicorn.conf.py", *args, "arena.wsgi"],
        cwd=ROOT,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def printed_config(**env: str) -> dict[str, str]:
    result = gunicorn("--print-config", **env)
    assert result.returncode == 0, result.stderr
    return {
        name.strip(): value.strip()
        for name, _, value in (line.partition("=") for line in result.stdout.splitlines())
    }


def test_the_config_file_loads_the_app() -> None:
    result = gunicorn("--check-config")
    assert result.returncode == 0, result.stderr


def test_defaults_suit_a_small_box_behind_a_proxy() -> None:
    config = printed_config()
    assert config["bind"] == "['127.0.0.1:8000']"
    assert config["workers"] == str(max(2, os.cpu_count() or 1))
    assert config["worker_class"] == "gthread"
    assert config["preload_app"] == "True"
    assert config["worker_tmp_dir"] == "/dev/shm"


def test_the_environment_sets_workers_threads_and_address() -> None:
    config = printed_config(
        WEB_CONCURRENCY="3", GUNICORN_THREADS="4", PORT="9100", GUNICORN_WORKER_CLASS="sync"
    )
    assert (config["workers"], config["threads"], config["worker_class"]) == ("3", "4", "sync")
    assert config["bind"] == "['127.0.0.1:9100']"
    assert printed_config(GUNICORN_BIND="0.0.0.0:9200")["bind"] == "['0.0.0.0:9200']"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_it_serves_requests_and_logs_one_json_object_per_request(tmp_path: Path) -> None:
    port = free_port()
    access_log = tmp_path / "access.log"
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "WEB_", "PORT"))
    }
    server = subprocess.Popen(
        [GUNICORN, "-c", "gunicorn.conf.py", "arena.wsgi"],
        cwd=ROOT,
        env=environment
        | {
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
            "GUNICORN_ACCESS_LOG": str(access_log),
            "GUNICORN_ERROR_LOG": str(tmp_path / "error.log"),
        },
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/static/arena/vote.js?secret=1", timeout=5
                ) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, (tmp_path / "error.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.2)
        for _ in range(50):
            if access_log.exists() and access_log.read_text().strip():
                break
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=60)
    line = json.loads(access_log.read_text().strip().splitlines()[-1])
    assert line["method"] == "GET"
    assert line["path"] == "/static/arena/vote.js"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    # The query string is the client's to fill: it stays out of the log.
    assert "secret" not in json.dumps(line)
    assert server.returncode == 0
