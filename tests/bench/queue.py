"""Queue benchmark: the cost of "next" (a reservation) on a big project, right after the
import (before PostgreSQL has statistics for the queue rows), after ANALYZE, and when most
of the project is finished. ``python -m tests.bench.run queue`` (PostgreSQL only; also
part of ``make bench``).

The database is ``BENCH_DATABASE_URL`` (default ``themata_bench_queue`` on the local
PostgreSQL), dropped and re-built on each run by the labelling benchmark's builder
(``annotate.build_database``) without answers: 20,000 articles of 10 segments; the bench
project is then set to k = 3 and given 151 members. Figures go to docs/performance.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.annotate import PROJECT_SLUG, SEGMENTS_PER_ARTICLE, Scale, build_database

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/themata_bench_queue"
ARTICLES = 20_000
PER_ARTICLE = SEGMENTS_PER_ARTICLE
PEOPLE = 50


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"median {statistics.median(values):.2f} ms, p95 {p95:.2f} ms (n={len(values)})"


def main(argv: list[str] | None = None) -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    env = {
        **os.environ,
        "BENCH_WORKDIR": tempfile.mkdtemp(prefix="themata-bench-queue-"),
    }
    build_database(url, Scale(articles=ARTICLES, annotations=0, bench_history=0), env=env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from annotations import queue
    from annotations.models import Membership, Project, SegmentProgress
    from annotations.queue import _candidates, queue_reserve
    from annotations.services.answers import annotation_submit

    project = Project.objects.select_related("label_set").get(slug=PROJECT_SLUG)
    project.annotators_per_segment = 3
    project.save(update_fields=["annotators_per_segment"])
    label = project.label_set.labels.order_by("order").first()
    assert label is not None
    users = [
        get_user_model().objects.create(username=f"queue-bench{i}") for i in range(3 * PEOPLE + 1)
    ]
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
    # Someone new: everyone above holds a reservation, some on segments closed in step 2.
    person = get_user_model().objects.create(username="queue-bench-loop")
    Membership.objects.create(project=project, user=person)
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
