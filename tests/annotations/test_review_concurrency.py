"""Simultaneous last answers and decisions on one segment (PostgreSQL: real concurrency)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from annotations.models import GoldLabel, Membership, SegmentReview
from annotations.services.answers import annotation_submit
from annotations.services.review import GoldConflict, gold_label_set
from articles.models import Segment
from tests.factories import MembershipFactory, labelled_project

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers; SQLite serialises them by locking the whole file",
    ),
]


def at_once(calls) -> list[object]:
    barrier = threading.Barrier(len(calls))
    results: list[object] = []

    def run(call) -> None:
        try:
            barrier.wait()
            results.append(call())
        except Exception as error:  # the outcome is what the test checks
            results.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_the_last_two_answers_at_once_are_counted_together() -> None:
    project = labelled_project(slug="race", annotators_per_segment=3)
    people = [
        MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user for _ in range(3)
    ]
    segment = Segment.objects.filter(article__collection=project.collection).select_related(
        "article"
    )[0]
    label = project.label_set.labels.first()
    annotation_submit(project=project, segment=segment, annotator=people[0], labels=[label])

    at_once(
        [
            lambda user=user: annotation_submit(
                project=project, segment=segment, annotator=user, labels=[label]
            )
            for user in people[1:]
        ]
    )

    row = SegmentReview.objects.get(project=project, segment=segment)
    assert row.submitted == 3
    gold = GoldLabel.objects.get(project=project, segment=segment)
    assert gold.source == "unanimous"
    assert row.gold == "unanimous"


def test_two_reviewers_deciding_at_once_keep_one_and_refuse_the_other() -> None:
    project = labelled_project(slug="race-review", annotators_per_segment=1)
    reviewers = [
        MembershipFactory(project=project, role=Membership.Role.REVIEWER).user for _ in range(2)
    ]
    segment = Segment.objects.filter(article__collection=project.collection).select_related(
        "article"
    )[0]
    one, two = project.label_set.labels.order_by("order")[:2]

    results = at_once(
        [
            lambda: gold_label_set(
                project=project, segment=segment, reviewer=reviewers[0], labels=[one]
            ),
            lambda: gold_label_set(
                project=project, segment=segment, reviewer=reviewers[1], labels=[two]
            ),
        ]
    )

    assert sorted(type(r).__name__ for r in results) == ["Decision", "GoldConflict"]
    assert any(isinstance(r, GoldConflict) for r in results)
    gold = GoldLabel.objects.get(project=project, segment=segment)
    assert gold.version == 1
