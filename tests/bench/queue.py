"""Queue benchmark: the cost of "next" (a reservation) on a big project, right after the
import (before PostgreSQL has statistics for the queue rows), after ANALYZE, and when most
of the project is finished. ``python -m tests.bench.queue`` (PostgreSQL only).

The database is ``BENCH_DATABASE_URL`` (default ``themata_bench_queue`` on the local
PostgreSQL), dropped and re-created on each run. Figures go to docs/performance.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/themata_bench_queue"
ARTICLES = 20_000
PER_ARTICLE = 10
PEOPLE = 50


def _recreate(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"median {statistics.median(values):.2f} ms, p95 {p95:.2f} ms (n={len(values)})"


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    _recreate(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from annotations import queue
    from annotations.models import LabelSet, Membership, Project, SegmentProgress
    from annotations.queue import _candidates, queue_reserve
    from annotations.services.answers import annotation_submit
    from articles.models import Article, Collection, Segment, content_hash_for

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    collection = Collection.objects.create(name="Bench", slug="bench")
    for chunk in range(0, ARTICLES, 2_000):
        made = Article.objects.bulk_create(
            Article(
                collection=collection,
                title=f"Article {i}",
                body="One. Two. Three.",
                content_hash=content_hash_for(f"article {i}"),
            )
            for i in range(chunk, chunk + 2_000)
        )
        Segment.objects.bulk_create(
            (
                Segment(article=article, position=p, start=0, end=4, text="One.")
                for article in made
                for p in range(PER_ARTICLE)
            ),
            batch_size=5_000,
        )
    collection.recount()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what the import does for its own tables
    label_set = LabelSet.objects.create(name="Bench labels", slug="bench-labels")
    label = label_set.labels.create(name="Theme", slug="theme", shortcut="1")
    project = Project.objects.create(
        name="Bench",
        slug="bench",
        collection=collection,
        label_set=label_set,
        annotators_per_segment=3,
    )
    users = [get_user_model().objects.create(username=f"bench{i}") for i in range(3 * PEOPLE + 1)]
    Membership.objects.bulk_create(Membership(project=project, user=u) for u in users)
    print(f"Load average at the start: {os.getloadavg()}")
    print(
        f"Data: {ARTICLES:,} articles x {PER_ARTICLE} = {ARTICLES * PER_ARTICLE:,} segments,"
        f" k = 3, in {time.perf_counter() - started:.1f} s"
    )

    def fresh() -> Project:
        return Project.objects.select_related("collection").get(pk=project.pk)

    def nexts(people) -> tuple[list[float], set[int]]:
        times, counts = [], set()
        for user in people:
            p = fresh()
            with CaptureQueriesContext(connection) as captured:
                t = time.perf_counter()
                queue_reserve(project=p, annotator=user)
                times.append((time.perf_counter() - t) * 1000)
            counts.add(len(captured))
        return times, counts

    def plan(user) -> str:
        rows = _candidates(fresh(), user, timezone.now()).filter(order_key__gt=0)[:1]
        return rows.explain(analyze=True)

    # 1. The first "next" builds the queue rows; here without the ANALYZE it runs after.
    queue.ANALYZE_AFTER_ROWS = None
    t = time.perf_counter()
    queue_reserve(project=fresh(), annotator=users[0])
    print(
        f"First next, builds {SegmentProgress.objects.count():,} queue rows (no ANALYZE)"
        f"  {(time.perf_counter() - t) * 1000:.0f} ms"
    )
    times, counts = nexts(users[1 : PEOPLE + 1])
    print(
        f"Next, {PEOPLE} people, queue rows never analysed          {_ms(times)}; "
        f"queries {sorted(counts)}"
    )
    blind_plan = plan(users[-1])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotations_segmentprogress")
    times, counts = nexts(users[PEOPLE + 1 : 2 * PEOPLE + 1])
    print(f"Next, {PEOPLE} people, after ANALYZE                      {_ms(times)}")

    # 2. Most of the project finished: all rows built, then 95 % of segments closed.
    t = time.perf_counter()
    added = queue.queue_sync(project=fresh(), everything=True)
    print(
        f"Build the remaining {added:,} queue rows at once (shuffled order does this)"
        f"  {(time.perf_counter() - t) * 1000:.0f} ms"
    )
    keys = SegmentProgress.objects.filter(project=project).order_by("order_key")
    cut = keys.values_list("order_key", flat=True)[int(0.95 * ARTICLES * PER_ARTICLE)]
    closed = SegmentProgress.objects.filter(project=project, order_key__lt=cut).update(
        submitted=3, is_open=False, held=0, held_until=None
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotations_segmentprogress")
    times, counts = nexts(users[2 * PEOPLE + 1 :])
    print(f"Next, {PEOPLE} people, {closed:,} segments finished           {_ms(times)}")

    # 3. Submit + next in a loop, one person, as the labelling screen does.
    person = users[1]
    loop = []
    for _ in range(100):
        p = fresh()
        t = time.perf_counter()
        handed = queue_reserve(project=p, annotator=person)
        annotation_submit(project=p, segment=handed.segment, annotator=person, labels=[label])
        loop.append((time.perf_counter() - t) * 1000)
    print(f"Reserve + submit (services only), 100 in a row            {_ms(loop)}")
    print(f"Load average at the end: {os.getloadavg()}")
    print("\nPlan of the candidate query before ANALYZE:\n" + blind_plan)


if __name__ == "__main__":
    main()
