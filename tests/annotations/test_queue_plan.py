"""The queue reads only open segments, from an index, whatever the size of the finished
part of a project, and also before PostgreSQL has statistics for new rows (a big import)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotations.models import Project, SegmentProgress
from annotations.queue import SYNC_CHUNK, _candidates, queue_reserve
from articles.models import Article, Collection, Segment, content_hash_for
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL query plans"),
]


def big_project(articles: int, per_article: int = 10) -> Project:
    collection = Collection.objects.create(name="Big", slug="big")
    made = Article.objects.bulk_create(
        Article(collection=collection, body=f"Body {i}.", content_hash=content_hash_for(f"B{i}"))
        for i in range(articles)
    )
    Segment.objects.bulk_create(
        Segment(article=article, position=p, start=0, end=4, text="Body")
        for article in made
        for p in range(per_article)
    )
    collection.recount()
    return ProjectFactory(collection=collection)


def plan(project: Project, user) -> str:
    rows = _candidates(project, user, timezone.now())
    return rows.filter(order_key__gt=0)[:1].explain(analyze=True)


def index_rows_read(text: str) -> int:
    """Rows the open-segments index scan produced (its ``actual … rows=``)."""
    line = next(line for line in text.splitlines() if "segment_progress_open" in line)
    return int(re.search(r"actual time=\S+ rows=(\d+)", line).group(1))


def test_next_reads_the_open_segments_index_only_and_not_the_finished_ones() -> None:
    project = big_project(articles=400)  # 4,000 segments
    user = MembershipFactory(project=project).user
    # Built as a finished project looks: all but the last 40 segments have their answer.
    segment_ids = list(
        Segment.objects.filter(article__collection=project.collection)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    SegmentProgress.objects.bulk_create(
        SegmentProgress(
            project=project,
            segment_id=pk,
            order_key=pk,
            submitted=0 if index >= len(segment_ids) - 40 else 1,
            is_open=index >= len(segment_ids) - 40,
        )
        for index, pk in enumerate(segment_ids)
    )
    Project.objects.filter(pk=project.pk).update(
        queued_segments=len(segment_ids), queue_synced_to=segment_ids[-1]
    )
    project = Project.objects.select_related("collection").get(pk=project.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotations_segmentprogress")

    text = plan(project, user)

    assert "segment_progress_open" in text, text
    # At most the 40 open rows are read (one, through a plain index scan), never the
    # 3,960 finished ones.
    assert index_rows_read(text) <= 40, text
    handed = queue_reserve(project=project, annotator=user).segment
    assert handed is not None and handed.pk == segment_ids[-40]


def test_the_first_next_after_a_big_import_makes_one_chunk_and_reads_the_index() -> None:
    project = big_project(articles=2000)  # 20,000 segments, just imported
    user = MembershipFactory(project=project).user
    project = Project.objects.select_related("collection").get(pk=project.pk)

    with CaptureQueriesContext(connection) as captured:
        handed = queue_reserve(project=project, annotator=user)

    assert handed.segment is not None
    assert SegmentProgress.objects.filter(project=project).count() == SYNC_CHUNK
    assert len(captured) <= 14, [q["sql"][:80] for q in captured]
    text = plan(project, MembershipFactory(project=project).user)
    # No statistics yet: the planner may read every open row ahead of the person's place
    # instead of the first one, but those are one chunk, not the 20,000 just imported.
    assert "segment_progress_open" in text, text
    # (+1: reserving a row may leave its old version's index entry until a vacuum.)
    assert index_rows_read(text) <= SYNC_CHUNK + 1, text


def test_a_shuffled_queue_is_built_whole_and_analysed_for_the_planner() -> None:
    project = big_project(articles=2000)
    Project.objects.filter(pk=project.pk).update(queue_order=Project.QueueOrder.SHUFFLED)
    user = MembershipFactory(project=project).user
    project = Project.objects.select_related("collection").get(pk=project.pk)

    handed = queue_reserve(project=project, annotator=user)

    assert handed.segment is not None
    assert SegmentProgress.objects.filter(project=project).count() == 20_000
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'segment_progress_open'")
        (indexed,) = cursor.fetchone()
    assert indexed >= 19_999  # the sync ran ANALYZE: the planner knows the new rows
    text = plan(project, MembershipFactory(project=project).user)
    assert "segment_progress_open" in text, text
    assert index_rows_read(text) <= 2, text
