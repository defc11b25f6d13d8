"""CI runs the corpus tests for real: without ../shared/corpus it fails instead of skipping."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests import corpus

ROOT = Path(__file__).resolve().parents[1]


def test_ci_run_fails_at_once_when_the_corpus_is_missing(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    (clone / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", clone / ".ci" / "run")
    # No Makefile either: the script must stop before it would lint or test anything.

    done = subprocess.run(
        ["bash", str(clone / ".ci" / "run")], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 1
    assert "shared corpus" in done.stderr and str(tmp_path / "shared" / "corpus") in done.stderr


def test_corpus_tests_fail_instead_of_skipping_where_the_corpus_is_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(corpus, "CORPUS", tmp_path / "nowhere")
    monkeypatch.delenv("THEMATA_REQUIRE_CORPUS", raising=False)
    with pytest.raises(pytest.skip.Exception):
        corpus.require_corpus()

    monkeypatch.setenv("THEMATA_REQUIRE_CORPUS", "1")
    with pytest.raises(pytest.fail.Exception):
        corpus.require_corpus()
