"""After an import the planner knows the new rows: the importer runs ANALYZE (PostgreSQL)
when it grew a table by 10 % or more (smaller changes are left to autovacuum)."""

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


def analyze_now() -> None:
    """Planner statistics of the tables as they are (emptied between tests, but the planner
    remembers their last size)."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE articles_article, articles_segment")


def write(tmp_path: Path, n: int, name: str = "a") -> Path:
    path = tmp_path / f"{name}.jsonl"
    path.write_text(
        "".join(
            json.dumps({"text": f"Story {name}{i} about the harbour.\n\nSecond part {i}."}) + "\n"
            for i in range(n)
        ),
        encoding="utf-8",
    )
    return path


@pytest.mark.django_db(transaction=True)
def test_a_successful_import_analyzes_the_tables_it_filled(tmp_path: Path) -> None:
    analyze_now()
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


@pytest.mark.django_db(transaction=True)
def test_an_import_that_adds_under_a_tenth_of_a_table_leaves_it_to_autovacuum(
    tmp_path: Path,
) -> None:
    collection = CollectionFactory()
    analyze_now()
    articles_import(collection=collection, paths=[write(tmp_path, 100, "big")])
    before = analyze_counts()

    result = articles_import(collection=collection, paths=[write(tmp_path, 5, "small")])

    assert result.articles_created == 5
    assert analyze_counts() == before


@pytest.mark.django_db(transaction=True)
def test_the_import_analyzes_the_columns_queries_use_not_the_texts(tmp_path: Path) -> None:
    analyze_now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "DELETE FROM pg_statistic WHERE starelid IN"
            " ('articles_article'::regclass, 'articles_segment'::regclass)"
        )

    articles_import(collection=CollectionFactory(), paths=[write(tmp_path, 30)])

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, attname FROM pg_stats"
            " WHERE tablename IN ('articles_article', 'articles_segment')"
        )
        analyzed = set(cursor.fetchall())
    assert ("articles_article", "collection_id") in analyzed
    assert ("articles_segment", "article_id") in analyzed
    assert ("articles_article", "body") not in analyzed
    assert ("articles_segment", "text") not in analyzed
