"""The queue under real parallel connections (threads, each with its own connection) and
real separate processes, on PostgreSQL: k is never exceeded, with k = 1 nobody shares a
segment, and every segment ends with exactly k answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections
from django.utils import timezone

from annotations.models import Annotation, Project, Reservation, SegmentProgress
from annotations.queue import SegmentFull, queue_reserve
from annotations.services.answers import annotation_submit
from tests.factories import MembershipFactory, labelled_project

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers; SQLite serialises them by locking the whole file",
    ),
]

ROOT = Path(__file__).resolve().parents[2]


def at_once(calls: list[Callable[[], object]]) -> list[object]:
    """Run each call in its own thread (own connection), released together."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except Exception as error:  # kept and asserted on by the caller
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def team(project: Project, size: int) -> list:
    return [MembershipFactory(project=project).user for _ in range(size)]


def load(project: Project) -> Project:
    return Project.objects.select_related("collection", "label_set").get(pk=project.pk)


def reserve(project: Project, user) -> Callable[[], int | None]:
    def call() -> int | None:
        segment = queue_reserve(project=load(project), annotator=user).segment
        return segment.pk if segment else None

    return call


def test_many_people_asking_at_once_with_k_1_never_share_a_segment() -> None:
    project = labelled_project(articles=10, paragraphs=3)
    people = team(project, 12)

    handed = at_once([reserve(project, person) for person in people])

    assert all(isinstance(pk, int) for pk in handed), handed
    assert len(set(handed)) == 12
    rows = SegmentProgress.objects.filter(project=project, segment__in=handed)
    assert all(row.held == 1 for row in rows)


def test_many_people_asking_at_once_never_exceed_k() -> None:
    project = labelled_project(articles=2, paragraphs=3, annotators_per_segment=3)
    people = team(project, 16)  # 16 people, 6 segments × 3 = 18 places

    handed = at_once([reserve(project, person) for person in people])

    counts = Counter(handed)
    assert None not in counts
    assert max(counts.values()) <= 3
    assert sum(counts.values()) == 16


def test_when_places_run_out_the_rest_are_told_nothing_is_left() -> None:
    project = labelled_project(articles=1, paragraphs=3, annotators_per_segment=2)
    people = team(project, 10)  # 3 segments × 2 = 6 places

    handed = at_once([reserve(project, person) for person in people])

    counts = Counter(pk for pk in handed if pk is not None)
    assert sorted(counts.values()) == [2, 2, 2]
    assert handed.count(None) == 4


def test_a_team_labelling_in_parallel_gives_every_segment_exactly_k_answers() -> None:
    project = labelled_project(articles=6, paragraphs=3, annotators_per_segment=2)
    people = team(project, 6)
    label = project.label_set.labels.order_by("order")[0]

    def work(person) -> Callable[[], int]:
        def call() -> int:
            answered = 0
            fresh = load(project)
            while (segment := queue_reserve(project=fresh, annotator=person).segment) is not None:
                annotation_submit(project=fresh, segment=segment, annotator=person, labels=[label])
                answered += 1
            return answered

        return call

    done = at_once([work(person) for person in people])

    assert sum(done) == 18 * 2, done
    per_segment = Counter(
        Annotation.objects.filter(project=project, status=Annotation.Status.SUBMITTED)
        .values_list("segment_id", flat=True)
        .order_by()
    )
    assert len(per_segment) == 18
    assert set(per_segment.values()) == {2}
    assert set(
        SegmentProgress.objects.filter(project=project).values_list("submitted", "is_open")
    ) == {(2, False)}


def test_a_late_holder_and_the_new_holder_submitting_at_once_store_one_answer() -> None:
    project = labelled_project(articles=1, paragraphs=2)
    late, current = team(project, 2)
    label = project.label_set.labels.order_by("order")[0]
    segment = queue_reserve(project=load(project), annotator=late).segment
    past = timezone.now() - timedelta(seconds=1)
    Reservation.objects.filter(annotator=late).update(expires_at=past)
    SegmentProgress.objects.filter(segment=segment).update(held_until=past)
    assert queue_reserve(project=load(project), annotator=current).segment == segment

    def submit(person) -> Callable[[], object]:
        def call() -> object:
            fresh = load(project)
            return annotation_submit(
                project=fresh, segment=segment, annotator=person, labels=[label]
            )

        return call

    late_result, current_result = at_once([submit(late), submit(current)])

    assert isinstance(late_result, SegmentFull)
    assert not isinstance(current_result, Exception)
    assert list(Annotation.objects.filter(segment=segment).values_list("annotator", flat=True)) == [
        current.pk
    ]


# --- Separate processes: what one worker process reserved, another one respects ---


WORKER = """
import json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from annotations.models import Project
from annotations.queue import queue_reserve
project = Project.objects.select_related("collection").get(pk=int(sys.argv[1]))
handed = {}
for user_id in sys.argv[2:]:
    user = get_user_model().objects.get(pk=int(user_id))
    segment = queue_reserve(project=project, annotator=user).segment
    handed[user_id] = segment.pk if segment else None
print(json.dumps(handed))
"""


def in_processes(project: Project, groups: list[list]) -> dict[int, int | None]:
    """Start one Python process per group of people, all at once, each asking "next" for
    its people through its own connection to the test database; what they were handed."""
    settings = connection.settings_dict
    url = (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    if settings.get("PASSWORD"):
        env["PGPASSWORD"] = settings["PASSWORD"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(project.pk), *(str(u.pk) for u in group)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for group in groups
    ]
    handed: dict[int, int | None] = {}
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        handed.update({int(k): v for k, v in json.loads(out).items()})
    return handed


def test_a_reservation_made_by_one_process_is_respected_by_another() -> None:
    project = labelled_project(articles=2, paragraphs=3)
    first, second = team(project, 2)

    in_first_process = in_processes(project, [[first]])
    in_this_process = queue_reserve(project=load(project), annotator=second).segment
    again_elsewhere = in_processes(project, [[first]])

    assert in_this_process is not None
    assert in_first_process[first.pk] != in_this_process.pk
    assert again_elsewhere[first.pk] == in_first_process[first.pk]


def test_processes_asking_at_once_with_k_1_never_share_a_segment() -> None:
    project = labelled_project(articles=4, paragraphs=3)
    people = team(project, 8)

    handed = in_processes(project, [people[i::4] for i in range(4)])

    assert len(handed) == 8
    assert None not in handed.values()
    assert len(set(handed.values())) == 8
