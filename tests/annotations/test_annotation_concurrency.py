"""Simultaneous saves of one answer: one row, no 500, nothing silently overwritten."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from annotations.models import Annotation, AnnotatorProgress
from articles.models import Segment

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers; SQLite serialises them by locking the whole file",
    ),
]


def post_at_once(user, url: str, payloads: list[dict]) -> list[int]:
    barrier = threading.Barrier(len(payloads))
    statuses: list[int] = []

    def run(payload: dict) -> None:
        try:
            client = Client()
            client.force_login(user)
            barrier.wait()
            response = client.post(url, payload, HTTP_HX_REQUEST="true")
            statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(payload,)) for payload in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def first_segment_url(project) -> tuple[Segment, str]:
    segment = Segment.objects.filter(article__collection=project.collection).order_by("pk")[0]
    url = reverse(
        "annotations:annotation_save", kwargs={"slug": project.slug, "segment_id": segment.pk}
    )
    return segment, url


def test_five_replays_of_one_submit_store_one_answer(project, annotator) -> None:
    segment, url = first_segment_url(project)
    label = project.label_set.labels.first()
    payload = {"labels": [label.pk], "action": "submit", "version": "0"}

    statuses = post_at_once(annotator, url, [payload] * 5)

    assert statuses == [200] * 5
    assert Annotation.objects.filter(segment=segment).count() == 1
    assert AnnotatorProgress.objects.get(annotator=annotator).submitted == 1


def test_two_different_first_answers_at_once_keep_one_and_refuse_the_other(
    project, annotator
) -> None:
    segment, url = first_segment_url(project)
    theme1, theme2 = project.label_set.labels.order_by("order")[:2]

    statuses = post_at_once(
        annotator,
        url,
        [
            {"labels": [theme1.pk], "action": "submit", "version": "0"},
            {"labels": [theme2.pk], "action": "submit", "version": "0"},
        ],
    )

    assert sorted(statuses) == [200, 409]
    stored = Annotation.objects.get(segment=segment)
    assert stored.version == 1
    assert stored.labels.count() == 1
