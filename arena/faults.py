"""A test-only pause point, so that a test can kill a worker at a known place in a task.

Off unless ARENA_FAULT_PAUSE_DIR is set (only the worker processes that tests start set it).
The first process to reach a named point writes its pid to `<dir>/<name>.paused` and sleeps;
any later run finds the marker and goes straight on, so the re-delivered task completes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def pause_point(name: str) -> None:
    folder = os.environ.get("ARENA_FAULT_PAUSE_DIR")
    if not folder:
        return
    marker = Path(folder) / f"{name}.paused"
    try:
        with marker.open("x") as handle:  # exclusive create: pause only the first time
            handle.write(str(os.getpid()))
    except FileExistsError:
        return
    time.sleep(float(os.environ.get("ARENA_FAULT_PAUSE_SECONDS", "120")))
