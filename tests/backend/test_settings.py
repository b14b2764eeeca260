"""The one settings module: production refuses to start without a secret key, the database and
channel layer follow the environment. Each case imports the settings in a fresh subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Variables the settings read; the subprocess starts from a clean slate of them.
SETTINGS_VARS = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CHANNEL_PREFIX", "CACHE_PREFIX",
                 "ALLOWED_HOSTS", "PUBLIC_BASE_URL", "CSRF_TRUSTED_ORIGINS", "VAR_DIR")


def run_python(code: str, tmp_path: Path, **env_vars: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    env.update({"DJANGO_SETTINGS_MODULE": "backend.settings", "VAR_DIR": str(tmp_path / "var")})
    env.update(env_vars)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


SETUP_AND_DUMP = """
import json, django
django.setup()
from django.conf import settings
db = settings.DATABASES["default"]
layer = settings.CHANNEL_LAYERS["default"]
print(json.dumps({
    "debug": settings.DEBUG,
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"), "port": db.get("PORT"),
    "user": db.get("USER"), "password": db.get("PASSWORD"), "options": db.get("OPTIONS", {}),
    "is_postgres": settings.IS_POSTGRES,
    "layer": layer["BACKEND"], "layer_config": layer.get("CONFIG", {}),
    "cache": settings.CACHES["default"]["BACKEND"],
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "secret_key": settings.SECRET_KEY,
    "time_zone": settings.TIME_ZONE, "language": settings.LANGUAGE_CODE,
}))
"""


def dump(tmp_path: Path, **env_vars: str) -> dict:
    result = run_python(SETUP_AND_DUMP, tmp_path, **env_vars)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_without_secret_key_refuses_to_start(tmp_path):
    result = run_python("import django; django.setup()", tmp_path, DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production mode" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_manage_check_refuses_production_without_secret_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    env.update({"DEBUG": "0", "VAR_DIR": str(tmp_path / "var")})
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_with_secret_key_and_postgres_url_parses(tmp_path):
    config = dump(tmp_path, DEBUG="0", SECRET_KEY="x" * 60,
                  DATABASE_URL="postgres://vm:s%40cret@db.internal:5433/markt",
                  REDIS_URL="redis://redis.internal:6379/0",
                  ALLOWED_HOSTS="markt.example.nl", PUBLIC_BASE_URL="https://markt.example.nl")
    assert config["debug"] is False
    assert config["engine"] == "django.db.backends.postgresql"
    assert config["is_postgres"] is True
    assert (config["name"], config["host"], config["port"]) == ("markt", "db.internal", "5433")
    assert (config["user"], config["password"]) == ("vm", "s@cret")
    assert config["session_cookie_secure"] is True
    assert "markt.example.nl" in config["allowed_hosts"]
    assert config["secret_key"] == "x" * 60
    # prepared statements on PostgreSQL by default (bench/README.md)
    assert config["options"] == {"server_side_binding": True, "prepare_threshold": 2}


def test_postgres_prepared_statements_can_be_turned_off(tmp_path):
    config = dump(tmp_path, DATABASE_URL="postgres://vm@db.internal/markt?server_side_binding=false&sslmode=require")
    assert config["options"] == {"sslmode": "require"}
    config = dump(tmp_path, DATABASE_URL="postgres://vm@db.internal/markt?prepare_threshold=5")
    assert config["options"] == {"server_side_binding": True, "prepare_threshold": 5}


def test_embedded_default_generates_and_keeps_a_secret_key(tmp_path):
    first = dump(tmp_path)
    second = dump(tmp_path)
    assert first["debug"] is True
    assert len(first["secret_key"]) >= 50
    assert first["secret_key"] == second["secret_key"]
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0


def test_embedded_default_is_sqlite_in_wal_mode(tmp_path):
    code = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE probe (x integer)")
    cursor.execute("PRAGMA journal_mode")
    mode = cursor.fetchone()[0]
    import os
    wal = os.path.exists(str(connection.settings_dict["NAME"]) + "-wal")
    print(connection.vendor, connection.settings_dict["NAME"], mode, wal)
"""
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    vendor, name, mode, wal_file = result.stdout.split()
    assert vendor == "sqlite"
    assert name == str(tmp_path / "var" / "db.sqlite3")
    assert mode.lower() == "wal"
    assert wal_file == "True"  # the -wal file exists while a connection is open


def test_sqlite_database_url_is_accepted(tmp_path):
    config = dump(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'other.sqlite3'}")
    assert config["engine"] == "backend.sqlite"
    assert config["name"] == str(tmp_path / "other.sqlite3")


def test_unknown_database_scheme_is_refused(tmp_path):
    result = run_python("import django; django.setup()", tmp_path, DATABASE_URL="mysql://x@y/z")
    assert result.returncode != 0
    assert "Unsupported DATABASE_URL scheme" in result.stderr


def test_channel_layer_is_in_memory_without_redis(tmp_path):
    config = dump(tmp_path)
    assert config["layer"] == "channels.layers.InMemoryChannelLayer"
    assert config["cache"] == "django.core.cache.backends.locmem.LocMemCache"


def test_channel_layer_is_redis_with_redis_url(tmp_path):
    config = dump(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3", CHANNEL_PREFIX="vm_probe")
    assert config["layer"] == "channels_redis.core.RedisChannelLayer"
    assert config["layer_config"]["hosts"] == ["redis://127.0.0.1:6379/3"]
    assert config["layer_config"]["prefix"] == "vm_probe"
    assert config["cache"] == "backend.redis_cache.SharedRedisCache"  # Django's RedisCache, one pool per process


def test_channel_layer_object_follows_the_environment(tmp_path):
    code = """
import django
django.setup()
from channels.layers import get_channel_layer
print(type(get_channel_layer()).__name__)
"""
    memory = run_python(code, tmp_path)
    redis = run_python(code, tmp_path, REDIS_URL="redis://127.0.0.1:6379/0")
    assert memory.returncode == 0 and redis.returncode == 0, memory.stderr + redis.stderr
    assert memory.stdout.strip() == "InMemoryChannelLayer"
    assert redis.stdout.strip() == "RedisChannelLayer"


def test_time_zone_and_language(tmp_path):
    config = dump(tmp_path)
    assert config["time_zone"] == "Europe/Amsterdam"
    assert config["language"] == "nl"
