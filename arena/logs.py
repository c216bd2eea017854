"""Structured logs: one JSON object per line (LOG_FORMAT=json, the default when DEBUG is off).

Keys: `ts` (ISO 8601, UTC), `level`, `logger`, `message`; `exc` when there is a traceback;
`request` ({"method", "path"}) and `status` on Django's request and server errors; `task`
({"id", "name"}) inside a Celery task; and any `extra={...}` values that JSON can carry.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _task_context() -> dict[str, str] | None:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a dependency
        return None
    task = current_task
    request = getattr(task, "request", None) if task else None
    task_id = getattr(request, "id", None)
    if not task_id:
        return None
    return {"id": str(task_id), "name": str(task.name)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "method"):
            # Only the method and path: never the client address or session of a voter.
            entry["request"] = {"method": request.method, "path": request.path}
        task = _task_context()
        if task:
            entry["task"] = task
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in {"request", "status_code"}:
                entry[key] = _jsonable(value)
        if getattr(record, "status_code", None) is not None:
            entry["status"] = record.status_code
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["exc"] = self.formatStack(record.stack_info)
        # ensure_ascii keeps every line plain ASCII; json escapes newlines, so one line each.
        return json.dumps(entry, ensure_ascii=True, default=str)
