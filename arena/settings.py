"""Settings for the video arena, driven by environment variables alone.

Every variable has a default that works on a laptop with nothing installed:
SQLite under var/, a filesystem Celery broker under var/, a local-memory cache.
Production sets DATABASE_URL, CELERY_BROKER_URL, CACHE_URL and the DJANGO_* values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ARENA_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def cache_from_url(url: str) -> dict:
    """Map CACHE_URL to a Django cache: locmem://, file:///path, dummy://, redis://, rediss://."""
    if url.startswith(("redis://", "rediss://")):
        # Django's Redis backend with fewer round trips per call (arena/cache.py).
        return {"BACKEND": "arena.cache.RedisCache", "LOCATION": url}
    if url.startswith("file://"):
        # Shared by the processes of one box (web and workers), with no server to run.
        return {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": url.removeprefix("file://"),
        }
    if url.startswith("dummy://"):
        return {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    if url.startswith("locmem://") or not url:
        name = url.removeprefix("locmem://") or "arena"
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": name}
    raise ValueError(
        f"CACHE_URL: unsupported scheme in {url!r} (use locmem://, file:///path, redis://)"
    )


def s3_storage(env: Mapping[str, str]) -> dict:
    """The media storage for ARENA_MEDIA_STORAGE=s3, from AWS_* variables (django-storages)."""
    bucket = env.get("AWS_STORAGE_BUCKET_NAME", "")
    if not bucket:
        raise ImproperlyConfigured("ARENA_MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            # Any S3-compatible service (MinIO, Ceph, R2...); empty means AWS itself.
            "endpoint_url": env.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env.get("AWS_S3_REGION_NAME") or None,
            "location": env.get("AWS_LOCATION", ""),
            # Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or an instance role),
            # read by boto3 itself. Clips are streamed by the site under per-battle URLs,
            # so the bucket stays private.
            "default_acl": None,
            "querystring_auth": True,
            # Stored names are random and releases immutable: never overwrite silently.
            "file_overwrite": False,
        },
    }


DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEBUG:
        # Sessions are signed cookies and address hashes are keyed by it: never a public key.
        raise ImproperlyConfigured("set DJANGO_SECRET_KEY when DJANGO_DEBUG is off")
    SECRET_KEY = "dev-insecure-secret-key-change-me-in-production"
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "arena",
    "votes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "arena.urls"
WSGI_APPLICATION = "arena.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'arena.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, with a health check that polls the socket before it sends SELECT 1.
    DATABASES["default"]["ENGINE"] = "arena.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server and the worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so that a worker process started by a test sees the same data;
    # one per test run, so that runs side by side do not clobber each other.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The vote loop's few fixed statements are prepared on PostgreSQL (arena.fastsql); turn it
# off behind a pooler in transaction mode (PgBouncer < 1.21), which loses them.
DATABASE_PREPARED = env_bool("DATABASE_PREPARED", True)

CACHES = {"default": cache_from_url(os.environ.get("CACHE_URL", "locmem://"))}

SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 90
CSRF_COOKIE_SAMESITE = "Lax"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

LOGIN_URL = "/admin/login/"

# --- Media storage: a local folder (default) or S3-compatible object storage --------------
# Every read and write of media goes through Django's storage API, so either works.
ARENA_MEDIA_STORAGE = os.environ.get("ARENA_MEDIA_STORAGE", "filesystem").strip().lower()
if ARENA_MEDIA_STORAGE == "s3":
    STORAGES["default"] = s3_storage(os.environ)
elif ARENA_MEDIA_STORAGE != "filesystem":
    raise ImproperlyConfigured("ARENA_MEDIA_STORAGE: use 'filesystem' or 's3'")

# --- Production hardening, switched on whenever DEBUG is off ------------------------------
if env_int("ARENA_TRUSTED_PROXIES", 0) > 0:
    # Only a proxy we trust may tell us the request came over HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Load balancers and systemd probe gunicorn over plain HTTP: answer them, not 301.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    if not SECURE_SSL_REDIRECT:
        # Turned off on purpose: the TLS-terminating proxy in front redirects plain HTTP.
        SILENCED_SYSTEM_CHECKS = ["security.W008"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"

# --- Django REST framework and the OpenAPI schema -------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["arena.apiauth.CsrfSessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["arena.parsers.LimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "arena.apierrors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Video Arena API",
    "DESCRIPTION": (
        "Blind pairwise judging of AI video generators. Issue a battle, watch both clips, "
        "vote; read the Bradley-Terry leaderboards."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed sidecar package: the docs work with no network access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for the a/b choice set (a report's side, a reveal's broken side).
    "ENUM_NAME_OVERRIDES": {"SideEnum": ["a", "b"]},
}

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": 3600}
)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"

# --- The arena ---------------------------------------------------------------------------
# Least time between a battle's issue and its vote; None derives it from the clips' durations.
ARENA_MIN_WATCH_MS: int | None = (
    env_int("ARENA_MIN_WATCH_MS", 0) if os.environ.get("ARENA_MIN_WATCH_MS", "").strip() else None
)
# Share of the longer clip's duration that must pass when the watch time is derived.
ARENA_MIN_WATCH_FRACTION = env_float("ARENA_MIN_WATCH_FRACTION", 0.8)
ARENA_BATTLE_TTL_SECONDS = env_int("ARENA_BATTLE_TTL_SECONDS", 30 * 60)
ARENA_RATE_SESSION = os.environ.get("ARENA_RATE_SESSION", "30/min")
ARENA_RATE_IP = os.environ.get("ARENA_RATE_IP", "300/min")
ARENA_TRUSTED_PROXIES = env_int("ARENA_TRUSTED_PROXIES", 0)
# Window in which a voter is not shown the same pair on the same prompt again.
ARENA_REPEAT_WINDOW_HOURS = env_int("ARENA_REPEAT_WINDOW_HOURS", 24)

# Ingest limits.
ARENA_MAX_CLIP_BYTES = env_int("ARENA_MAX_CLIP_BYTES", 200 * 1024 * 1024)
ARENA_MAX_CLIP_SECONDS = env_float("ARENA_MAX_CLIP_SECONDS", 60.0)
ARENA_MIN_CLIP_SECONDS = env_float("ARENA_MIN_CLIP_SECONDS", 0.5)
ARENA_MAX_CLIP_PIXELS = env_int("ARENA_MAX_CLIP_PIXELS", 3840 * 2160)
ARENA_MAX_IMAGE_PIXELS = env_int("ARENA_MAX_IMAGE_PIXELS", 40_000_000)

# Leaderboards.
ARENA_BOOTSTRAP_ROUNDS = env_int("ARENA_BOOTSTRAP_ROUNDS", 1000)
# Incremental recomputes update each board's previous bootstrap resamples to the new counts
# (exactly: every row stays a multinomial resample of the current votes) instead of drawing
# them afresh; full recomputes always draw afresh from the seed. Off: always afresh.
ARENA_BOOTSTRAP_REUSE = env_bool("ARENA_BOOTSTRAP_REUSE", True)
ARENA_MIN_VOTES_LISTED = env_int("ARENA_MIN_VOTES_LISTED", 50)
ARENA_MIN_VOTES_STABLE = env_int("ARENA_MIN_VOTES_STABLE", 300)
ARENA_RECOMPUTE_SECONDS = env_int("ARENA_RECOMPUTE_SECONDS", 60)
ARENA_PERSONAL_BOARD_MIN_VOTES = env_int("ARENA_PERSONAL_BOARD_MIN_VOTES", 20)

ARENA_RECOMPUTE_BURST = env_int("ARENA_RECOMPUTE_BURST", 500)

# Dataset releases.
ARENA_DATASET_LICENCE = os.environ.get("ARENA_DATASET_LICENCE", "CC-BY-4.0")
# Timestamps in releases are cut to this precision: "hour" (default) or "none".
ARENA_DATASET_TIME = os.environ.get("ARENA_DATASET_TIME", "hour")
ARENA_RELEASE_HOURS = env_float("ARENA_RELEASE_HOURS", 24.0)
# Absolute addresses in datasets (clip and input image URLs) start with this.
ARENA_SITE_URL = os.environ.get("ARENA_SITE_URL", "http://127.0.0.1:8000")

CELERY_BEAT_SCHEDULE = {
    "recompute-leaderboards": {
        "task": "arena.tasks.recompute_leaderboards",
        "schedule": float(ARENA_RECOMPUTE_SECONDS),
        "options": {"expires": float(ARENA_RECOMPUTE_SECONDS)},
    },
    "dataset-release": {
        "task": "votes.tasks.build_dataset_release",
        "schedule": ARENA_RELEASE_HOURS * 3600,
    },
    # Matchmaking's memory of what voters were shown, kept for the repeat window only.
    "forget-seen-pairs": {
        "task": "arena.tasks.forget_seen_pairs",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
}

# Demo content.
ARENA_DEMO_SECONDS = env_float("ARENA_DEMO_SECONDS", 3.0)

# --- Health and logs ----------------------------------------------------------------------
# Workers write a heartbeat every ARENA_HEARTBEAT_SECONDS (a beat task); /healthz fails once
# the newest is older than ARENA_HEARTBEAT_MAX_AGE seconds.
ARENA_HEARTBEAT_SECONDS = env_int("ARENA_HEARTBEAT_SECONDS", 30)
ARENA_HEARTBEAT_MAX_AGE = env_int("ARENA_HEARTBEAT_MAX_AGE", 120)
CELERY_BEAT_SCHEDULE["worker-heartbeat"] = {
    "task": "arena.tasks.heartbeat",
    "schedule": float(ARENA_HEARTBEAT_SECONDS),
    "options": {"expires": float(ARENA_HEARTBEAT_SECONDS)},
}

# One JSON object per line in production (log shippers parse it); readable text on a laptop.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text" if DEBUG else "json").strip().lower()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "arena.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# Celery would replace the root handler with its own text format; keep ours in JSON mode.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

VAR_DIR.mkdir(parents=True, exist_ok=True)
if CELERY_BROKER_URL.startswith("filesystem"):
    for folder in ("data_folder_in", "processed_folder", "control_folder"):
        Path(CELERY_BROKER_TRANSPORT_OPTIONS[folder]).mkdir(parents=True, exist_ok=True)
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Vote integrity (votes.scanning, votes.detection).
# Share of battles that are attention checks: a clip against a broken copy of itself.
ARENA_ATTENTION_CHECK_RATE = env_float("ARENA_ATTENTION_CHECK_RATE", 0.03)
ARENA_SCAN_MINUTES = env_float("ARENA_SCAN_MINUTES", 10.0)
ARENA_SCAN_DAYS = env_float("ARENA_SCAN_DAYS", 7.0)
ARENA_SCAN_MIN_VOTES = env_int("ARENA_SCAN_MIN_VOTES", 10)
# Suspicion is -log10 of the smallest test p-value (Bonferroni-corrected): 3 = one in 1000.
ARENA_FLAG_SUSPICION = env_float("ARENA_FLAG_SUSPICION", 3.0)
ARENA_QUARANTINE_SUSPICION = env_float("ARENA_QUARANTINE_SUSPICION", 5.0)
ARENA_BURST_PER_MINUTE = env_int("ARENA_BURST_PER_MINUTE", 15)
ARENA_SESSIONS_PER_ADDRESS = env_int("ARENA_SESSIONS_PER_ADDRESS", 8)
CELERY_BEAT_SCHEDULE["scan-voters"] = {
    "task": "votes.tasks.scan_voters",
    "schedule": ARENA_SCAN_MINUTES * 60,
    "options": {"expires": ARENA_SCAN_MINUTES * 60},
}
