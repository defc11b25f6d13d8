"""The queue: order, reservations, k, and the per-segment answer count (one connection; the
parallel cases are in test_queue_concurrency.py)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotations import queue
from annotations.models import Annotation, Project, Reservation, SegmentProgress
from annotations.queue import (
    SegmentFull,
    queue_peek,
    queue_reserve,
    queue_sync,
)
from annotations.services.answers import annotation_submit
from annotations.services.setup import project_update
from articles.models import Segment
from tests.factories import MembershipFactory, SegmentedArticleFactory, labelled_project

pytestmark = pytest.mark.django_db


def segments_of(project) -> list[Segment]:
    return list(
        Segment.objects.filter(article__collection=project.collection)
        .select_related("article")
        .order_by("pk")
    )


def submit(project, segment, user, *, skip: bool = False) -> Annotation:
    label = project.label_set.labels.order_by("order")[0]
    return stored(
        annotation_submit(
            project=project,
            segment=segment,
            annotator=user,
            labels=[] if skip else [label],
            status=Annotation.Status.SKIPPED if skip else Annotation.Status.SUBMITTED,
        )
    )


def stored(result) -> Annotation:
    return getattr(result, "annotation", result)


def next_for(project, user, **kwargs) -> Segment | None:
    return queue_reserve(project=project, annotator=user, **kwargs).segment


def fresh(project) -> Project:
    return Project.objects.select_related("collection", "label_set").get(pk=project.pk)


def expire(user) -> None:
    """Let ``user``'s reservation run out (as if its minutes had passed)."""
    past = timezone.now() - timedelta(seconds=1)
    reservation = Reservation.objects.get(annotator=user)
    Reservation.objects.filter(pk=reservation.pk).update(
        reserved_at=past - timedelta(hours=2), expires_at=past
    )
    SegmentProgress.objects.filter(segment=reservation.segment_id).update(held_until=past)


def colleague(project):
    return MembershipFactory(project=project).user


def test_the_queue_hands_out_segments_in_reading_order_and_leaves_out_my_answers(
    project, annotator
) -> None:
    segments = segments_of(project)

    assert next_for(project, annotator) == segments[0]
    submit(project, segments[0], annotator)
    assert next_for(project, annotator) == segments[1]
    submit(project, segments[1], annotator, skip=True)
    assert next_for(project, annotator) == segments[2]


def test_asking_again_while_holding_a_reservation_gives_the_same_segment(
    project, annotator
) -> None:
    first = queue_reserve(project=project, annotator=annotator)
    again = queue_reserve(project=project, annotator=annotator)

    assert again.segment == first.segment
    assert again.again and not first.again
    assert again.reserved_at == first.reserved_at


def test_with_one_annotator_per_segment_two_people_get_different_segments(
    project, annotator
) -> None:
    other = colleague(project)

    mine = next_for(project, annotator)
    theirs = next_for(project, other)

    assert mine != theirs
    assert Reservation.objects.filter(project=project, segment__isnull=False).count() == 2


def test_reservations_count_towards_k(project, annotator) -> None:
    project.annotators_per_segment = 2
    project.save()
    people = [annotator, colleague(project), colleague(project)]
    segments = segments_of(project)

    handed = [next_for(project, person) for person in people]

    assert handed == [segments[0], segments[0], segments[1]]


def test_an_expired_reservation_goes_back_to_the_pool(project, annotator) -> None:
    other = colleague(project)
    first = next_for(project, annotator)
    later = timezone.now() + timedelta(minutes=project.reservation_minutes, seconds=1)

    assert next_for(project, other) != first
    assert next_for(project, colleague(project), now=later) == first


def test_a_reservation_holds_until_its_time_is_up(project, annotator) -> None:
    first = next_for(project, annotator)
    almost = timezone.now() + timedelta(minutes=project.reservation_minutes - 1)

    assert next_for(project, colleague(project), now=almost) != first


def test_a_skip_releases_the_segment_for_the_others_at_once(project, annotator) -> None:
    first = next_for(project, annotator)
    submit(project, first, annotator, skip=True)

    assert next_for(project, colleague(project)) == first
    assert next_for(project, annotator) != first


def test_a_segment_with_k_answers_is_never_handed_out(project, annotator) -> None:
    segments = segments_of(project)
    other = colleague(project)
    submit(project, segments[0], other)
    submit(project, segments[1], other)

    assert next_for(project, annotator) == segments[2]
    progress = SegmentProgress.objects.get(project=project, segment=segments[0])
    assert (progress.submitted, progress.is_open) == (1, False)


def test_the_queue_wraps_around_to_fill_gaps_left_behind(project, annotator) -> None:
    segments = segments_of(project)
    other = colleague(project)
    held = next_for(project, other)  # segment 0, held by the colleague
    assert held == segments[0]
    for segment in segments[1:]:
        assert next_for(project, annotator) == segment
        submit(project, segment, annotator)
    assert next_for(project, annotator) is None

    submit(project, held, other, skip=True)

    assert next_for(project, annotator) == segments[0]


def test_every_segment_is_offered_until_it_has_k_answers(project) -> None:
    project.annotators_per_segment = 3
    project.save()
    people = [colleague(project) for _ in range(5)]
    answered = 0
    while True:
        handed = [(person, next_for(project, person)) for person in people]
        if all(segment is None for _, segment in handed):
            break
        for person, segment in handed:
            if segment is not None:
                submit(project, segment, person)
                answered += 1

    counts = {
        row.segment_id: row.submitted for row in SegmentProgress.objects.filter(project=project)
    }
    assert set(counts.values()) == {3}
    assert answered == 3 * len(segments_of(project))
    for segment_id, count in counts.items():
        assert (
            Annotation.objects.filter(
                segment_id=segment_id, status=Annotation.Status.SUBMITTED
            ).count()
            == count
        )


def test_raising_k_reopens_finished_segments_and_lowering_it_closes_them(
    project, manager, annotator
) -> None:
    segments = segments_of(project)
    submit(project, segments[0], manager)
    assert next_for(project, annotator) == segments[1]
    submit(project, segments[1], annotator)

    project_update(
        project=project,
        name=project.name,
        description="",
        multi_label=True,
        annotators_per_segment=2,
    )
    project = fresh(project)
    assert next_for(project, annotator) == segments[2]
    submit(project, segments[2], annotator)
    for _ in segments[3:]:
        submit(project, next_for(project, annotator), annotator)
    # Wrapped around: the segment another person answered is open again for me.
    assert next_for(project, annotator) == segments[0]
    submit(project, segments[0], annotator)

    project_update(
        project=project,
        name=project.name,
        description="",
        multi_label=True,
        annotators_per_segment=1,
    )
    project = fresh(project)
    assert not SegmentProgress.objects.filter(project=project, is_open=True).exists()
    assert next_for(project, colleague(project)) is None


def test_a_late_submit_on_a_segment_that_reached_k_is_refused_and_releases_it(
    project, annotator
) -> None:
    other = colleague(project)
    first = next_for(project, annotator)
    expire(annotator)
    assert next_for(project, other) == first
    submit(project, first, other)

    with pytest.raises(SegmentFull, match="already has the 1 answer it needs"):
        submit(project, first, annotator)

    assert not Annotation.objects.filter(annotator=annotator).exists()
    assert Reservation.objects.get(project=project, annotator=annotator).segment is None
    assert SegmentProgress.objects.get(project=project, segment=first).submitted == 1
    assert next_for(project, annotator) not in (first, None)


def test_a_late_submit_on_a_segment_that_still_has_room_is_kept(project, annotator) -> None:
    first = next_for(project, annotator)
    expire(annotator)  # nobody took the segment meanwhile

    submit(project, first, annotator)

    assert SegmentProgress.objects.get(project=project, segment=first).submitted == 1


def test_an_answer_without_reservation_is_refused_while_others_hold_the_segment(
    project, annotator
) -> None:
    other = colleague(project)
    held = next_for(project, other)

    # Another way to the same segment (the article view, a link): refused, k = 1 is held.
    with pytest.raises(SegmentFull):
        submit(project, held, annotator)

    submit(project, held, other)
    assert SegmentProgress.objects.get(project=project, segment=held).submitted == 1


def test_editing_an_answered_segment_needs_no_reservation(project, annotator) -> None:
    other = colleague(project)
    segment = next_for(project, annotator)
    saved = submit(project, segment, annotator)
    theme2 = project.label_set.labels.order_by("order")[1]

    result = annotation_submit(
        project=project,
        segment=segment,
        annotator=annotator,
        labels=[theme2],
        expected_version=saved.version,
    )

    assert stored(result).version == 2
    assert next_for(project, other) != segment


def test_turning_an_answer_into_a_skip_reopens_the_segment(project, annotator) -> None:
    segment = next_for(project, annotator)
    saved = submit(project, segment, annotator)
    annotation_submit(
        project=project,
        segment=segment,
        annotator=annotator,
        labels=[],
        status=Annotation.Status.SKIPPED,
        expected_version=saved.version,
    )

    row = SegmentProgress.objects.get(project=project, segment=segment)
    assert (row.submitted, row.is_open) == (0, True)
    assert next_for(project, colleague(project)) == segment


def test_time_on_a_segment_is_measured_from_its_reservation(project, annotator) -> None:
    segment = next_for(project, annotator)
    Reservation.objects.filter(annotator=annotator).update(
        reserved_at=timezone.now() - timedelta(seconds=42)
    )
    label = project.label_set.labels.order_by("order")[0]

    saved = stored(
        annotation_submit(
            project=project,
            segment=segment,
            annotator=annotator,
            labels=[label],
            time_spent_ms=5,  # what the browser claims is not used
        )
    )

    assert 42_000 <= saved.time_spent_ms < 52_000


def test_time_on_a_segment_is_capped(project, annotator) -> None:
    segment = next_for(project, annotator)
    Reservation.objects.filter(annotator=annotator).update(
        reserved_at=timezone.now() - timedelta(hours=5)
    )

    saved = submit(project, segment, annotator)

    assert saved.time_spent_ms == 60 * 60 * 1000


def test_segments_imported_later_join_the_queue(project, annotator) -> None:
    for segment in segments_of(project):
        submit(project, segment, annotator)
    assert next_for(project, annotator) is None

    article = SegmentedArticleFactory(collection=project.collection, body="New.\n\nNewer.")

    project = fresh(project)
    assert next_for(project, annotator) == article.segments.order_by("position")[0]
    assert SegmentProgress.objects.filter(project=project).count() == 8


def test_the_queue_takes_over_answers_given_before_it_existed(project, annotator) -> None:
    segments = segments_of(project)
    label = project.label_set.labels.order_by("order")[0]
    annotation = Annotation.objects.create(
        project=project, segment=segments[0], annotator=annotator
    )
    annotation.labels.add(label)

    queue_sync(project=project)

    row = SegmentProgress.objects.get(project=project, segment=segments[0])
    assert (row.submitted, row.is_open) == (1, False)
    assert next_for(project, colleague(project)) == segments[1]


def test_the_project_page_peek_reserves_nothing(project, annotator) -> None:
    assert queue_peek(project=project, annotator=annotator) == segments_of(project)[0]
    assert not Reservation.objects.filter(segment__isnull=False).exists()


def shuffled_order(project, seed: int) -> list[int]:
    project.queue_order = Project.QueueOrder.SHUFFLED
    project.queue_seed = seed
    project.save()
    person = colleague(project)
    order = []
    while (segment := next_for(project, person)) is not None:
        order.append(segment.pk)
        submit(project, segment, person, skip=True)
    return order


def test_a_shuffled_queue_keeps_each_article_together_and_in_reading_order(db) -> None:
    project = labelled_project(articles=12, paragraphs=3, queue_order="shuffled", queue_seed=7)

    order = shuffled_order(project, 7)

    segments = {s.pk: s for s in segments_of(project)}
    assert sorted(order) == sorted(segments)
    articles = [segments[pk].article_id for pk in order]
    runs = [a for i, a in enumerate(articles) if i == 0 or articles[i - 1] != a]
    assert len(runs) == 12  # each article once, as one run
    for article in set(articles):
        positions = [segments[pk].position for pk in order if segments[pk].article_id == article]
        assert positions == [0, 1, 2]
    assert runs != sorted(runs)  # not the reading order


def test_the_shuffle_is_deterministic_for_a_seed_and_changes_with_it(db) -> None:
    project = labelled_project(articles=12, paragraphs=2)
    reading = [s.pk for s in segments_of(project)]

    def queue_with(order: str, seed: int) -> list[int]:
        project_update(
            project=project,
            name=project.name,
            description="",
            multi_label=True,
            annotators_per_segment=1,
            queue_order=order,
            queue_seed=seed,
        )
        return list(
            SegmentProgress.objects.filter(project=project)
            .order_by("order_key")
            .values_list("segment_id", flat=True)
        )

    queue_sync(project=fresh(project))
    seven = queue_with(Project.QueueOrder.SHUFFLED, 7)
    eight = queue_with(Project.QueueOrder.SHUFFLED, 8)

    assert sorted(seven) == sorted(eight) == reading
    assert seven != reading
    assert eight != seven
    assert queue_with(Project.QueueOrder.SHUFFLED, 7) == seven
    assert queue_with(Project.QueueOrder.READING, 7) == reading


def handed_out(project) -> list[int]:
    """Every segment the queue gives one new person, skipping each in turn."""
    person = colleague(project)
    order = []
    while (segment := next_for(fresh(project), person)) is not None:
        order.append(segment.pk)
        submit(project, segment, person, skip=True)
    return order


def test_one_article_per_near_duplicate_group_leaves_the_copies_out(db) -> None:
    project = labelled_project(articles=3, paragraphs=2, one_per_duplicate_group=True)
    segments = segments_of(project)
    original, copy, other = sorted({s.article for s in segments}, key=lambda a: a.pk)
    type(copy).objects.filter(pk=copy.pk).update(duplicate_of=original)

    assert handed_out(project) == [s.pk for s in segments if s.article_id != copy.pk]

    def settings(**changes):
        project_update(
            project=fresh(project),
            name=project.name,
            description="",
            multi_label=True,
            annotators_per_segment=1,
            **changes,
        )

    settings(one_per_duplicate_group=False)
    assert handed_out(project) == [s.pk for s in segments]
    assert not SegmentProgress.objects.filter(project=project, left_out=True).exists()
    settings(one_per_duplicate_group=True)
    left_out = SegmentProgress.objects.filter(project=project, left_out=True)
    assert sorted(left_out.values_list("segment__article", flat=True)) == [copy.pk, copy.pk]


def test_a_copy_marked_after_the_queue_was_built_is_still_left_out(db) -> None:
    project = labelled_project(articles=2, paragraphs=2, one_per_duplicate_group=True)
    queue_sync(project=fresh(project))
    original, copy = sorted({s.article for s in segments_of(project)}, key=lambda a: a.pk)
    type(copy).objects.filter(pk=copy.pk).update(duplicate_of=original)

    assert handed_out(project) == [
        s.pk for s in segments_of(project) if s.article_id == original.pk
    ]


def test_the_settings_page_explains_k_and_saves_the_queue_options(client, project, manager) -> None:
    client.force_login(manager)
    url = reverse("annotations:project_edit", kwargs={"slug": project.slug})

    page = client.get(url).content.decode()
    response = client.post(
        url,
        {
            "name": project.name,
            "description": "",
            "multi_label": "on",
            "annotators_per_segment": "2",
            "queue_order": "shuffled",
            "queue_seed": "42",
            "reservation_minutes": "10",
            "one_per_duplicate_group": "on",
        },
    )

    assert "a second annotator is only given segments nobody has labelled yet" in page
    assert "Reservation (minutes)" in page
    assert response.status_code in (200, 302)
    saved = fresh(project)
    assert (saved.annotators_per_segment, saved.queue_order, saved.queue_seed) == (
        2,
        "shuffled",
        42,
    )
    assert (saved.reservation_minutes, saved.one_per_duplicate_group) == (10, True)


def test_in_reading_order_queue_rows_are_made_a_chunk_at_a_time_as_the_queue_reaches_them(
    project, annotator, monkeypatch
) -> None:
    monkeypatch.setattr(queue, "SYNC_CHUNK", 2)
    segments = segments_of(project)

    assert next_for(project, annotator) == segments[0]
    assert SegmentProgress.objects.filter(project=project).count() == 2
    handed = [segments[0].pk]
    submit(project, segments[0], annotator)
    while (segment := next_for(project, annotator)) is not None:
        handed.append(segment.pk)
        submit(project, segment, annotator)

    assert handed == [s.pk for s in segments]
    assert SegmentProgress.objects.filter(project=project).count() == 6
    assert fresh(project).queued_segments == 6


def test_an_answer_to_a_segment_the_queue_has_not_reached_yet_is_counted(
    project, annotator, monkeypatch
) -> None:
    monkeypatch.setattr(queue, "SYNC_CHUNK", 2)
    segments = segments_of(project)
    next_for(project, annotator)

    submit(project, segments[4], colleague(project))  # e.g. from the article view

    row = SegmentProgress.objects.get(project=project, segment=segments[4])
    assert (row.submitted, row.is_open) == (1, False)
    handed = []
    while (segment := next_for(project, annotator)) is not None:
        handed.append(segment.pk)
        submit(project, segment, annotator)
    assert segments[4].pk not in handed
    assert len(handed) == 5


# --- The labelling screen ---

HTMX = {"HTTP_HX_REQUEST": "true"}


def shown_id(response) -> int:
    return int(re.search(r'data-segment-id="(\d+)"', response.content.decode()).group(1))


def test_reloading_the_labelling_screen_shows_the_reserved_segment_again(
    client, project, annotator
) -> None:
    client.force_login(annotator)
    url = reverse("annotations:annotate", kwargs={"slug": project.slug})

    first = shown_id(client.get(url))
    again = shown_id(client.get(url, **HTMX))
    other = colleague(project)
    client.force_login(other)
    theirs = shown_id(client.get(url))

    assert first == again
    assert theirs != first


def test_a_late_answer_is_refused_with_the_reason_and_the_next_segment_is_shown(
    client, project, annotator
) -> None:
    client.force_login(annotator)
    url = reverse("annotations:annotate", kwargs={"slug": project.slug})
    first = shown_id(client.get(url))
    expire(annotator)
    other = colleague(project)
    assert next_for(project, other).pk == first
    submit(project, Segment.objects.get(pk=first), other)
    label = project.label_set.labels.order_by("order")[0]

    response = client.post(
        reverse("annotations:annotation_save", kwargs={"slug": project.slug, "segment_id": first}),
        {"labels": [label.pk], "action": "submit", "version": "0"},
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "already has the 1 answer it needs" in html
    assert "<html" not in html
    assert shown_id(response) != first
    assert f"segment={shown_id(response)}" in response["HX-Push-Url"]
    assert Annotation.objects.filter(segment_id=first).count() == 1
