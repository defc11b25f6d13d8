"""After an import the planner knows the new rows: the importer runs ANALYZE (PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection

from articles.services import articles_import
from tests.factories import CollectionFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="ANALYZE and pg_stat_user_tables are PostgreSQL's"
)


def analyze_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        # The statistics views are cached per transaction: read them afresh.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT relname, analyze_count FROM pg_stat_user_tables"
            " WHERE relname IN ('articles_article', 'articles_segment')"
        )
        return dict(cursor.fetchall())


def write(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "a.jsonl"
    path.write_text(
        "".join(
            json.dumps({"text": f"Story {i} about the harbour.\n\nSecond part {i}."}) + "\n"
            for i in range(n)
        ),
        encoding="utf-8",
    )
    return path


@pytest.mark.django_db(transaction=True)
def test_a_successful_import_analyzes_the_tables_it_filled(tmp_path: Path) -> None:
    before = analyze_counts()

    result = articles_import(collection=CollectionFactory(), paths=[write(tmp_path, 30)])

    assert result.articles_created == 30
    after = analyze_counts()
    assert after["articles_article"] == before.get("articles_article", 0) + 1
    assert after["articles_segment"] == before.get("articles_segment", 0) + 1


@pytest.mark.django_db(transaction=True)
def test_a_dry_run_does_not_analyze(tmp_path: Path) -> None:
    before = analyze_counts()

    articles_import(collection=CollectionFactory(), paths=[write(tmp_path, 3)], dry_run=True)

    assert analyze_counts() == before
