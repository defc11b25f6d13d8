"""Two imports of the same articles at the same moment: one stores them, the other none."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection, connections

from articles.models import Article, Collection
from articles.services import ImportResult, articles_import

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers; SQLite serialises them by locking the whole file",
    ),
]


def test_concurrent_imports_of_the_same_file_never_duplicate(seed_page: Path) -> None:
    collection = Collection.objects.create(name="Race", slug="race")
    barrier = threading.Barrier(2)
    results: list[ImportResult] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(articles_import(collection=collection, paths=[seed_page]))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(results) == 2
    assert Article.objects.filter(collection=collection).count() == 2
    assert sorted(r.articles_created for r in results) == [0, 2]
    loser = next(r for r in results if r.articles_created == 0)
    # The loser either waited and found duplicates, or hit the unique constraint and says so.
    assert loser.duplicates_skipped == 2 or "another import" in loser.errors[0].message
