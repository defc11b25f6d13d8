from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The shared corpus sits beside the repository on developer and CI machines only.
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"../shared/corpus is absent ({CORPUS}); corpus tests need it")
    return CORPUS


@pytest.fixture
def seed_page() -> Path:
    return FIXTURES / "mfa-briefing-2024-12-10.txt"
