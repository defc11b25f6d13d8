"""Settings come from the environment and fail loudly; production is locked down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "a-real-secret-key-that-is-long-and-random-9f8e7d6c5b4a3f2e1d0c",
    "ALLOWED_HOSTS": "themata.example.org",
    "DATABASE_URL": "postgres://themata@db.internal:5432/themata",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_ENV", "SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stderr


def test_production_refuses_to_start_without_a_secret_key() -> None:
    env = {**PRODUCTION, "SECRET_KEY": ""}

    result = manage("check", **env)

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_the_development_sample_key() -> None:
    env = {**PRODUCTION, "SECRET_KEY": "django-insecure-themata-development-only"}

    result = manage("check", **env)

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts() -> None:
    env = {**PRODUCTION, "ALLOWED_HOSTS": ""}

    result = manage("check", **env)

    assert result.returncode != 0
    assert "ALLOWED_HOSTS must list" in result.stderr


def test_deploy_check_fails_with_debug_on_in_production() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, DEBUG="true")

    assert result.returncode != 0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("DB_CONN_MAX_AGE", "ten", "DB_CONN_MAX_AGE='ten' is not a whole number"),
        ("DJANGO_ENV", "staging", "must be 'development' or 'production'"),
        ("THEMATA_IMPORT_MAX_FILE_BYTES", "0", "must be at least 1"),
    ],
)
def test_malformed_values_fail_loudly(name: str, value: str, message: str) -> None:
    result = manage("check", **{name: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
