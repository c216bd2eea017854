"""`make run`: the web server, a Celery worker and the scheduler, in the foreground.

Ctrl-C or SIGTERM stops all three; if any of them dies, the others are stopped too,
so nothing is left running in the background.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commands(port: str) -> dict[str, list[str]]:
    python = sys.executable
    var = os.environ.get("ARENA_VAR_DIR", str(ROOT / "var"))
    return {
        "web": [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "arena",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "1",
            "--hostname",
            "worker@%h",
        ],
        "beat": [
            python,
            "-m",
            "celery",
            "-A",
            "arena",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(Path(var) / "celerybeat-schedule"),
        ],
    }


def main() -> int:
    port = os.environ.get("PORT", "8000")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(signum: int, frame: object) -> None:  # noqa: ARG001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, argv in commands(port).items():
        # Own process group: a terminal's Ctrl-C reaches us, and we stop the children ourselves.
        procs[name] = subprocess.Popen(argv, cwd=ROOT, start_new_session=True)
    print(
        f"\n  Video Arena is running at http://127.0.0.1:{port}/  (Ctrl-C stops everything)\n",
        flush=True,
    )
    exit_code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; stopping.", file=sys.stderr)
                exit_code = proc.returncode or 1
                stopping = True
        time.sleep(0.3)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    print("Stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
