"""Review benchmark: ``python -m tests.bench.run review [--scale 0.05] [--reuse] [--k 2]
[--iterations 30]`` (also part of ``make bench``).

Builds its database with the labelling benchmark's builder (``annotate.build_database``,
by default at 5 % of its size: 10,000 segments, 50,000 answers), or with ``--reuse`` works
on the database already at ``BENCH_DATABASE_URL``.

Sets the bench project's k (so that segments are complete and disagreements exist), runs
``review_backfill`` over every answered segment (timed: the cost of ``manage.py
review_backfill`` on existing data), then times the review queue, the review page, the
data browser with each filter, and a gold decision, with their query counts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable


def _timed(run: Callable[[], object], iterations: int) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    queries = 0
    for _ in range(iterations):
        # The log is a bounded deque: a full one would make every count 0.
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            run()
            times.append((time.perf_counter() - started) * 1000)
        queries = max(queries, len(captured))
    return statistics.median(times), max(times), queries


def main(argv: list[str] | None = None) -> None:
    from tests.bench.annotate import BIG, Scale, build_database
    from tests.bench.run import DEFAULT_URL

    parser = argparse.ArgumentParser(prog="python -m tests.bench.run review")
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--scale", type=float, default=0.05, help="Fraction of the big data.")
    parser.add_argument("--reuse", action="store_true", help="Keep an already built database.")
    options = parser.parse_args(argv)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    if not options.reuse:
        scale = Scale(
            articles=round(BIG.articles * options.scale),
            annotations=round(BIG.annotations * options.scale),
            bench_history=round(BIG.bench_history * options.scale),
        )
        workdir = tempfile.mkdtemp(prefix="themata-bench-review-")
        build_database(url, scale, env={**os.environ, "BENCH_WORKDIR": workdir})
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from annotations.models import Annotation, GoldLabel, Project, SegmentReview
    from annotations.services.browse import NO_GOLD, BrowseFilters, SegmentStatus, browse_segments
    from annotations.services.review import (
        gold_label_set,
        review_backfill,
        review_counts,
        review_next,
    )
    from articles.models import Segment

    project = Project.objects.select_related("collection", "label_set").get(pk=1)
    project.annotators_per_segment = options.k
    project.save(update_fields=["annotators_per_segment"])
    answers = Annotation.objects.filter(project=project).count()
    started = time.perf_counter()
    backfill = review_backfill(project=project)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotations_segmentreview, annotations_goldlabel")
    counts = review_counts(project)
    print(
        f"Data: {project.collection.segment_count:,} segments, {answers:,} answers, k={options.k}"
    )
    print(
        f"review_backfill: {backfill.segments:,} segments in {seconds:.1f} s "
        f"({1000 * seconds / max(1, backfill.segments):.2f} ms each); "
        f"{counts.unanimous:,} unanimous, {counts.awaiting:,} awaiting review"
    )

    n = options.iterations
    rows: list[tuple[str, tuple[float, float, int]]] = []
    rows.append(("review_next (queue head)", _timed(lambda: review_next(project=project), n)))
    middle = (
        SegmentReview.objects.filter(project=project, gold="", disagree=True)
        .order_by("segment_id")
        .values_list("segment_id", flat=True)
    )
    middle_row = SegmentReview.objects.get(
        project=project, segment_id=middle[len(middle) // 2 if middle else 0]
    )
    rows.append(
        (
            "review_next (after a row mid-queue)",
            _timed(lambda: review_next(project=project, after=middle_row), n),
        )
    )
    rows.append(("review_counts", _timed(lambda: review_counts(project), n)))
    label = project.label_set.labels.order_by("order").first()
    annotator_id = (
        Annotation.objects.filter(project=project).values_list("annotator_id", flat=True).first()
    )
    filters = {
        "browse: no filter": BrowseFilters(),
        "browse: label": BrowseFilters(label_id=label.pk),
        "browse: annotator": BrowseFilters(annotator_id=annotator_id),
        "browse: awaiting review": BrowseFilters(status=SegmentStatus.AWAITING_REVIEW),
        "browse: unsure + disagreement": BrowseFilters(unsure=True, disagreement=True),
        "browse: gold unanimous": BrowseFilters(gold=GoldLabel.Source.UNANIMOUS),
        "browse: no gold": BrowseFilters(gold=NO_GOLD),
        "browse: text 'reform'": BrowseFilters(text="reform"),
    }
    for name, chosen in filters.items():
        rows.append(
            (
                name,
                _timed(lambda chosen=chosen: browse_segments(project=project, filters=chosen), n),
            )
        )

    admin, _ = get_user_model().objects.get_or_create(
        username="bench-reviewer", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(admin)
    rows.append(("GET review page", _timed(lambda: client.get("/p/bench-annotate/review/"), n)))
    rows.append(
        ("GET data browser page", _timed(lambda: client.get("/p/bench-annotate/browse/"), n))
    )
    rows.append(
        (
            "GET data browser, awaiting review",
            _timed(lambda: client.get("/p/bench-annotate/browse/?status=awaiting_review"), n),
        )
    )

    decided = []

    def decide() -> None:
        item = review_next(project=project)
        assert item is not None
        target = Segment.objects.select_related("article").get(pk=item.segment_id)
        gold_label_set(project=project, segment=target, reviewer=admin, labels=[label])
        decided.append(target.pk)

    rows.append(("gold_label_set (next queue item)", _timed(decide, n)))
    for name, (median, worst, queries) in rows:
        print(f"{name:40s} median {median:7.1f} ms  max {worst:7.1f} ms  queries {queries}")


if __name__ == "__main__":
    main()
