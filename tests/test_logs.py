"""Structured logs: each record is one line holding one JSON object."""

from __future__ import annotations

import json
import logging

from django.test import RequestFactory

from arena.logs import JsonFormatter


def format_record(record: logging.LogRecord) -> str:
    return JsonFormatter().format(record)


def make_record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("arena.test")
    record = logger.makeRecord("arena.test", logging.ERROR, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_record_is_one_json_line_with_level_logger_and_message() -> None:
    line = format_record(make_record('clip %s rejected:\nbad "codec"', "c1"))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "arena.test"
    assert entry["message"] == 'clip c1 rejected:\nbad "codec"'
    assert entry["ts"].endswith("+00:00")


def test_a_traceback_stays_on_the_same_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("arena.test").makeRecord(
            "arena.test", logging.ERROR, __file__, 1, "failed", (), __import__("sys").exc_info()
        )
    line = format_record(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exc"]


def test_request_context_and_extras_are_kept_but_not_the_client_address() -> None:
    request = RequestFactory().post("/api/v1/battles/", REMOTE_ADDR="203.0.113.9")
    entry = json.loads(
        format_record(make_record("Bad Request", request=request, status_code=400, board=(1, 2)))
    )
    assert entry["request"] == {"method": "POST", "path": "/api/v1/battles/"}
    assert entry["status"] == 400
    assert entry["board"] == [1, 2]
    assert "203.0.113.9" not in json.dumps(entry)


def test_task_context_is_added_inside_a_celery_task() -> None:
    from arena.celery import app

    seen: list[dict] = []

    @app.task(name="tests.log_inside_task")
    def log_inside_task() -> None:
        seen.append(json.loads(format_record(make_record("inside"))))

    log_inside_task.apply(task_id="t-123")
    assert seen[0]["task"] == {"id": "t-123", "name": "tests.log_inside_task"}
