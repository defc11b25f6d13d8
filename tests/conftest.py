from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus import ABSENT, CORPUS

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def corpus() -> Path:
    # The shared corpus sits beside the repository on developer and CI machines only.
    if not CORPUS.is_dir():
        pytest.skip(ABSENT)
    return CORPUS


@pytest.fixture
def seed_page() -> Path:
    return FIXTURES / "mfa-briefing-2024-12-10.txt"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # PBKDF2 is slow on purpose to protect real passwords; tests only need hashing to work.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
