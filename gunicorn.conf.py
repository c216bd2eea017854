"""gunicorn settings for the arena: `gunicorn -c gunicorn.conf.py arena.wsgi`.

Everything comes from the environment, with defaults sized for a small box:

  GUNICORN_BIND        address to listen on; default HOST:PORT (127.0.0.1:8000), behind a proxy
  WEB_CONCURRENCY      worker processes; default one per core (at least 2)
  GUNICORN_THREADS     threads per worker (gthread); default 2
  GUNICORN_WORKER_CLASS  default gthread (keep-alive, and a thread can wait on the database
                       while another runs); `sync` also works
  GUNICORN_TIMEOUT     seconds a request may take before its worker is replaced; default 30
  GUNICORN_ACCESS_LOG  where the access log goes: `-` (stdout, the default), a file, or `off`
  GUNICORN_ACCESS_LOG_FORMAT  `json` (default: one JSON object per line, gunicorn's error log
                       too) or `text`
  GUNICORN_MAX_REQUESTS  recycle a worker after about this many requests; default 0 (never)

Command-line flags (`-b`, `-w`, ...) still override these.
"""

from __future__ import annotations

import json
import logging
import os
import time

from gunicorn.glogging import Logger


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


_cores = os.cpu_count() or 1

bind = [
    os.environ.get("GUNICORN_BIND")
    or f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
]
# CPU-bound Python: one process per core does the work, and its second thread covers the
# time a request spends waiting on PostgreSQL and Redis. More processes only add context
# switches, cache misses and database connections (each worker thread keeps one open):
# on the 2-core bench box (bench/load.py, 8 voters) 2 workers x 2 threads spent 4.6-5.2 ms
# of worker CPU per vote where 5 x 2 spent 6.2-7.7 and 3 x 1 7.3.
workers = _int("WEB_CONCURRENCY", max(2, _cores))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = _int("GUNICORN_THREADS", 2)
# Clients (and the proxy in front) reuse connections; a new TCP connection per request
# costs more than the request on the vote path.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
backlog = _int("GUNICORN_BACKLOG", 2048)

timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM a worker stops accepting and finishes what it has: a vote in flight commits.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10

# Import Django once in the master and fork: workers start in milliseconds and share the
# imported code's memory. Nothing opens a database or cache connection at import (Django
# connects lazily, per thread), so no socket is shared across the fork. The price: SIGHUP
# does not load new code; restart the service to deploy.
preload_app = True


def when_ready(server) -> None:  # noqa: ANN001 - gunicorn.arbiter.Arbiter
    """In the master, before the first fork: import every view now, not in each worker.

    Django imports the URLconf (and with it every view, DRF, drf-spectacular, numpy...)
    on the first request; that takes seconds on a small box, so every fresh worker would
    answer its first requests seconds late. Importing opens no connection.
    """
    if not preload_app:
        return
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the import is the point


# The heartbeat file is touched by every worker constantly; keep it off a real disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# A proxy in front sets X-Forwarded-*; the app reads the client address itself
# (ARENA_TRUSTED_PROXIES), so gunicorn need not trust any forwarded header.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proxy_allow_ips = forwarded_allow_ips

_access = os.environ.get("GUNICORN_ACCESS_LOG", "-").strip()
accesslog = None if _access.lower() in {"", "off", "none"} else _access
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Text format, when GUNICORN_ACCESS_LOG_FORMAT=text: like combined, plus the time taken.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'


class _JsonErrorFormatter(logging.Formatter):
    """gunicorn's own messages (booting, worker exits, timeouts) as JSON lines too."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=True, default=str)


class JsonAccessLogger(Logger):
    """One JSON object per access-log line, like the application's own structured logs.

    The request's query string is left out: it is the client's to fill, and a log line
    is no place for whatever they put there. gunicorn's error log is JSON as well.
    """

    def setup(self, cfg) -> None:  # noqa: ANN001
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(_JsonErrorFormatter())

    def access(self, resp, req, environ, request_time) -> None:  # noqa: ANN001
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.syslog):
            return
        seconds = request_time.total_seconds()
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "logger": "gunicorn.access",
            "method": req.method,
            "path": req.path,
            "status": int(str(resp.status).split(None, 1)[0]),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(seconds * 1000, 2),
            "remote": environ.get("REMOTE_ADDR", ""),
            "user_agent": environ.get("HTTP_USER_AGENT", "")[:200],
        }
        try:
            self.access_log.info(json.dumps(line))
        except Exception:  # noqa: BLE001 - a log line must never fail a request
            self.exception("failed to write an access log line")


if os.environ.get("GUNICORN_ACCESS_LOG_FORMAT", "json").strip().lower() == "json":
    logger_class = JsonAccessLogger
