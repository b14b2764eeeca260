"""The one settings module. Everything comes from the environment.

Embedded default (no variables set): DEBUG on, SQLite in WAL mode under var/, the
in-memory channel layer, a secret key generated once into var/secret_key.
Production (DEBUG=0): SECRET_KEY is required, DATABASE_URL and REDIS_URL point at
PostgreSQL and Redis. See README.md.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY", "")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set in production mode (DEBUG=0). Refusing to start."
        )
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
_public_host = urlparse(PUBLIC_BASE_URL).hostname
if _public_host and _public_host not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_public_host)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "") or [PUBLIC_BASE_URL]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "ninja",  # serves the /api/v1/docs Swagger UI from local static files, not a CDN
    "backend",
    "events",
    "checkin",
    "kiosk",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "backend.audit.AuditContextMiddleware",
    "backend.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "backend.urls"
ASGI_APPLICATION = "backend.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "backend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database(url: str) -> dict:
    """Parse DATABASE_URL (postgres://user:pass@host:port/name or sqlite:///path)."""
    parsed = urlparse(url)
    if parsed.scheme in {"postgres", "postgresql"}:
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        # Server-side binding with prepared statements: PostgreSQL parses and plans each hot
        # statement once per (persistent) connection instead of on every execution — the
        # production redeem bench went 256-305 → 307-357/s (bench/README.md). Turn it off with
        # ?server_side_binding=false, e.g. behind a transaction-mode connection pooler.
        if options.pop("server_side_binding", "true").lower() not in {"0", "false", "no", "off"}:
            options["server_side_binding"] = True
            options["prepare_threshold"] = int(options.pop("prepare_threshold", 2))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if path.startswith("//"):
            path = path[1:]
        return _sqlite(path or str(VAR_DIR / "db.sqlite3"))
    raise ImproperlyConfigured(f"Unsupported DATABASE_URL scheme: {parsed.scheme!r}")


def _sqlite(path: str) -> dict:
    return {
        # Django's SQLite backend; the threads of a process queue for the write lock
        # (backend/sqlite/base.py) instead of sleeping in SQLite's busy handler.
        "ENGINE": "backend.sqlite",
        "NAME": path,
        # Persistent: under daphne the request threads are a fixed, reused pool
        # (backend/asgi_pool.py), so a connection per pool thread is kept instead of
        # reopening the file and re-running the PRAGMAs on every request.
        "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
        # IMMEDIATE: a write transaction takes the write lock at BEGIN, so two
        # concurrent check-ins queue instead of failing with "database is locked".
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA temp_store=MEMORY;"
                "PRAGMA cache_size=-20000;"
            ),
        },
    }


DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": _database(DATABASE_URL)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": _sqlite(str(VAR_DIR / "db.sqlite3"))}
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "capacity": 1500,
                "expiry": 30,
                "group_expiry": 86400,
                "prefix": os.environ.get("CHANNEL_PREFIX", "vm"),
            },
        }
    }
    CACHES = {
        "default": {
            # Django's RedisCache with one pool and client per process, not a new Redis
            # connection per request (backend/redis_cache.py).
            "BACKEND": "backend.redis_cache.SharedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_PREFIX", "vm"),
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1500}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Django's own session table and ModelBackend, with the per-request reads written once in SQL
# (backend/sessions.py, backend.auth.RoleAwareBackend: the user and their roles in one statement).
SESSION_ENGINE = "backend.sessions"
AUTHENTICATION_BACKENDS = ["backend.auth.RoleAwareBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "nl"
LANGUAGES = [
    ("nl", _("Nederlands")),
    ("en", _("Engels")),
    ("tr", _("Turks")),
    ("ar", _("Arabisch")),
    ("pt", _("Portugees")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Amsterdam"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "backend" / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/login/"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Security. Production runs behind a TLS-terminating proxy (docker-compose).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# A plain-language page on the client page (/i/...); Django's own answer everywhere else.
CSRF_FAILURE_VIEW = "events.views_client.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Domain configuration (documented in README.md).
VM_MAX_HOURS_PER_WEEK = env_int("VM_MAX_HOURS_PER_WEEK", 20)
VM_FEED_REPLAY_LIMIT = env_int("VM_FEED_REPLAY_LIMIT", 10_000)
VM_FEED_HEARTBEAT_SECONDS = env_int("VM_FEED_HEARTBEAT_SECONDS", 20)
VM_SYNC_BATCH_MAX = env_int("VM_SYNC_BATCH_MAX", 200)
# Request threads per daphne process (backend/asgi_pool.py): also the most database
# connections one process holds for HTTP.
VM_ASGI_THREADS = env_int("VM_ASGI_THREADS", 4)
# The door's lane (backend/asgi_pool.py): scans and kiosk registrations on their own thread(s),
# never behind a letters download or an export, and without four threads fighting for the GIL.
VM_ASGI_DOOR_THREADS = env_int("VM_ASGI_DOOR_THREADS", 1)
VM_ASGI_DOOR_PATHS = ("/api/v1/checkin/redeem", "/api/v1/kiosk/interests", "/api/v1/kiosk/visitor")
VM_CANCEL_DEADLINE_HOURS = env_int("VM_CANCEL_DEADLINE_HOURS", 24)
VM_RETENTION_DAYS = env_int("VM_RETENTION_DAYS", 730)
VM_MUNICIPALITY_NAME = os.environ.get("VM_MUNICIPALITY_NAME", "Gemeente Rotterdam")
VM_MUNICIPALITY_PHONE = os.environ.get("VM_MUNICIPALITY_PHONE", "14 010")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
