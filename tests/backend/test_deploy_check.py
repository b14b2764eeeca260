"""`manage.py check --deploy` must be clean with production settings (DESIGN.md §10)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _production_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(60), ALLOWED_HOSTS="markt.example.nl",
               PUBLIC_BASE_URL="https://markt.example.nl", DJANGO_SETTINGS_MODULE="backend.settings", **extra)
    return env


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=_production_env(VAR_DIR=str(tmp_path)), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
