from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.models.deletion import ProtectedError

from annotations.models import Annotation, AnnotationLabel, AnnotatorProgress
from annotations.queue import queue_previous_answered
from annotations.services.answers import AnnotationConflict, AnnotationRejected, annotation_submit
from articles.models import Segment
from tests.factories import LabelFactory, MembershipFactory, UserFactory, labelled_project

pytestmark = pytest.mark.django_db


def segments_of(project) -> list[Segment]:
    return list(
        Segment.objects.filter(article__collection=project.collection)
        .select_related("article")
        .order_by("pk")
    )


def labels_of(project) -> list:
    return list(project.label_set.labels.order_by("order"))


def progress(project, user) -> tuple[int, int]:
    row = AnnotatorProgress.objects.filter(project=project, annotator=user).first()
    return (row.submitted, row.skipped) if row else (0, 0)


def test_a_first_answer_is_stored_at_version_1_with_its_labels(project, annotator) -> None:
    segment = segments_of(project)[0]
    theme1, theme2, *_ = labels_of(project)

    annotation = annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[theme2, theme1]
    ).annotation

    assert annotation.version == 1
    assert annotation.status == Annotation.Status.SUBMITTED
    assert set(annotation.labels.values_list("pk", flat=True)) == {theme1.pk, theme2.pk}
    assert progress(project, annotator) == (1, 0)


def test_an_edit_bumps_the_version_and_replaces_the_labels(project, annotator) -> None:
    segment = segments_of(project)[0]
    theme1, theme2, theme3, _ = labels_of(project)
    annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[theme1, theme2]
    )

    edited = annotation_submit(
        project=project,
        segment=segment,
        annotator=annotator,
        labels=[theme2, theme3],
        unsure=True,
        comment="  borderline ",
        expected_version=1,
    ).annotation

    assert edited.version == 2
    assert edited.unsure is True
    assert edited.comment == "borderline"
    assert set(edited.labels.values_list("pk", flat=True)) == {theme2.pk, theme3.pk}
    assert Annotation.objects.count() == 1
    assert progress(project, annotator) == (1, 0)


def test_an_edit_from_a_stale_version_is_refused_and_changes_nothing(project, annotator) -> None:
    segment = segments_of(project)[0]
    theme1, theme2, *_ = labels_of(project)
    annotation_submit(project=project, segment=segment, annotator=annotator, labels=[theme1])
    annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[theme2], expected_version=1
    )

    with pytest.raises(AnnotationConflict) as refused:
        annotation_submit(
            project=project,
            segment=segment,
            annotator=annotator,
            labels=[theme1],
            expected_version=1,
        )

    assert refused.value.current.version == 2
    stored = Annotation.objects.get()
    assert stored.version == 2
    assert list(stored.labels.values_list("pk", flat=True)) == [theme2.pk]


def test_submitting_the_same_answer_twice_is_not_a_conflict(project, annotator) -> None:
    segment = segments_of(project)[0]
    theme1 = labels_of(project)[0]
    first = annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[theme1]
    ).annotation

    again = annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[theme1]
    ).annotation

    assert again.pk == first.pk
    assert again.version == 1
    assert progress(project, annotator) == (1, 0)


def test_a_single_label_project_takes_exactly_one_label(annotator) -> None:
    project = labelled_project(multi_label=False)
    MembershipFactory(project=project, user=annotator)
    segment = segments_of(project)[0]
    theme1, theme2, *_ = labels_of(project)

    with pytest.raises(AnnotationRejected, match="exactly one label"):
        annotation_submit(
            project=project, segment=segment, annotator=annotator, labels=[theme1, theme2]
        )

    assert not Annotation.objects.exists()


def test_a_submission_without_labels_is_refused_but_a_skip_needs_none(project, annotator) -> None:
    segment = segments_of(project)[0]

    with pytest.raises(AnnotationRejected, match="at least one label"):
        annotation_submit(project=project, segment=segment, annotator=annotator, labels=[])
    skipped = annotation_submit(
        project=project,
        segment=segment,
        annotator=annotator,
        labels=labels_of(project)[:1],
        status=Annotation.Status.SKIPPED,
    ).annotation

    assert skipped.status == Annotation.Status.SKIPPED
    assert not skipped.labels.exists()
    assert progress(project, annotator) == (0, 1)


def test_labels_of_another_label_set_are_refused(project, other_project, annotator) -> None:
    segment = segments_of(project)[0]
    foreign = labels_of(other_project)[0]

    with pytest.raises(AnnotationRejected, match="another label set"):
        annotation_submit(project=project, segment=segment, annotator=annotator, labels=[foreign])

    assert not Annotation.objects.exists()


def test_a_segment_of_another_collection_is_refused(project, other_project, annotator) -> None:
    with pytest.raises(AnnotationRejected, match="does not belong"):
        annotation_submit(
            project=project,
            segment=segments_of(other_project)[0],
            annotator=annotator,
            labels=labels_of(project)[:1],
        )


def test_turning_an_answer_into_a_skip_moves_the_progress_count(project, annotator) -> None:
    segment = segments_of(project)[0]
    annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=labels_of(project)[:1]
    )

    annotation_submit(
        project=project,
        segment=segment,
        annotator=annotator,
        labels=[],
        status=Annotation.Status.SKIPPED,
        expected_version=1,
    )

    assert progress(project, annotator) == (0, 1)


def test_the_database_allows_one_answer_per_person_and_segment(project, annotator) -> None:
    segment = segments_of(project)[0]
    Annotation.objects.create(project=project, segment=segment, annotator=annotator)

    with pytest.raises(IntegrityError), transaction.atomic():
        Annotation.objects.create(project=project, segment=segment, annotator=annotator)


def test_a_used_label_cannot_be_deleted(project, annotator) -> None:
    label = labels_of(project)[0]
    annotation_submit(
        project=project, segment=segments_of(project)[0], annotator=annotator, labels=[label]
    )

    with pytest.raises(ProtectedError):
        label.delete()

    assert AnnotationLabel.objects.filter(label=label).exists()


def test_back_walks_my_own_answers_only(project, annotator) -> None:
    segments = segments_of(project)
    colleague = MembershipFactory(project=project).user
    label = labels_of(project)[0]
    annotation_submit(project=project, segment=segments[0], annotator=annotator, labels=[label])
    annotation_submit(project=project, segment=segments[1], annotator=colleague, labels=[label])

    assert (
        queue_previous_answered(project=project, annotator=annotator, before=segments[2].pk)
        == segments[0].pk
    )
    assert (
        queue_previous_answered(project=project, annotator=colleague, before=segments[1].pk) is None
    )


def test_an_inactive_label_is_kept_on_old_answers(project, annotator) -> None:
    label = LabelFactory(label_set=project.label_set, active=False)
    other = UserFactory()
    MembershipFactory(project=project, user=other)
    annotation = annotation_submit(
        project=project, segment=segments_of(project)[0], annotator=other, labels=[label]
    ).annotation

    assert list(annotation.labels.all()) == [label]
