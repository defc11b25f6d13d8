"""Answer history: every stored version is an event with who, when, before and after."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.urls import reverse

from annotations.models import Annotation, AnnotationEvent, GoldLabel, GoldLabelEvent, Membership
from annotations.services.answers import AnnotationConflict, annotation_submit
from annotations.services.history import segment_history
from articles.models import Segment
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def wants(project, k: int) -> None:
    """Let ``k`` people answer each segment (the queue refuses answers beyond k)."""
    project.annotators_per_segment = k
    project.save(update_fields=["annotators_per_segment"])


def first_segment(project) -> Segment:
    return (
        Segment.objects.filter(article__collection=project.collection)
        .select_related("article")
        .order_by("pk")
        .first()
    )


def labels_of(project) -> list:
    return list(project.label_set.labels.order_by("order"))


def events(annotation) -> list[AnnotationEvent]:
    return list(AnnotationEvent.objects.filter(annotation=annotation).order_by("version"))


def slugs(snapshot) -> list[str]:
    return [label["slug"] for label in snapshot["labels"]]


def history_url(project, segment) -> str:
    return reverse(
        "annotations:segment_history", kwargs={"slug": project.slug, "segment_id": segment.pk}
    )


def test_create_edit_skip_and_re_edit_are_each_recorded_with_before_and_after(
    project, annotator
) -> None:
    segment = first_segment(project)
    theme1, theme2, theme3, _ = labels_of(project)

    created = annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[theme1]
    ).annotation
    annotation_submit(
        project=project,
        segment=segment,
        annotator=annotator,
        labels=[theme2, theme3],
        unsure=True,
        comment="borderline",
        expected_version=1,
    )
    annotation_submit(
        project=project,
        segment=segment,
        annotator=annotator,
        labels=[],
        status=Annotation.Status.SKIPPED,
        expected_version=2,
    )
    annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[theme3], expected_version=3
    )

    first, edit, skip, re_edit = events(created)
    assert [e.version for e in (first, edit, skip, re_edit)] == [1, 2, 3, 4]
    assert {e.actor_id for e in (first, edit, skip, re_edit)} == {annotator.pk}
    assert {(e.project_id, e.segment_id) for e in (first, edit)} == {(project.pk, segment.pk)}
    assert first.before is None
    assert first.after == {
        "version": 1,
        "status": "submitted",
        "unsure": False,
        "comment": "",
        "labels": [{"id": theme1.pk, "slug": theme1.slug, "name": theme1.name}],
    }
    assert edit.before == first.after
    assert slugs(edit.after) == sorted([theme2.slug, theme3.slug])
    assert (edit.after["unsure"], edit.after["comment"], edit.after["version"]) == (
        True,
        "borderline",
        2,
    )
    assert skip.before == edit.after
    assert (skip.after["status"], skip.after["labels"]) == ("skipped", [])
    assert re_edit.before == skip.after
    assert (re_edit.after["status"], slugs(re_edit.after)) == ("submitted", [theme3.slug])
    assert Annotation.objects.get().version == 4


def test_a_double_submit_and_a_refused_edit_record_nothing(project, annotator) -> None:
    segment = first_segment(project)
    theme1, theme2, *_ = labels_of(project)
    annotation = annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[theme1]
    ).annotation
    annotation_submit(project=project, segment=segment, annotator=annotator, labels=[theme1])
    annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[theme2], expected_version=1
    )

    with pytest.raises(AnnotationConflict):
        annotation_submit(
            project=project,
            segment=segment,
            annotator=annotator,
            labels=[theme1],
            expected_version=1,
        )

    assert [e.version for e in events(annotation)] == [1, 2]


def test_a_renamed_label_keeps_its_old_name_in_the_history(project, annotator) -> None:
    segment = first_segment(project)
    theme1 = labels_of(project)[0]
    old_name = theme1.name
    annotation_submit(project=project, segment=segment, annotator=annotator, labels=[theme1])
    theme1.name = "Renamed"
    theme1.save()

    (entry,) = segment_history(project=project, segment=segment)

    assert entry.changed == ["created"]
    assert [label.name for label in entry.after.labels] == [old_name]
    assert entry.after.labels[0].color == theme1.color


def test_the_history_reads_every_annotator_in_two_queries(
    project, annotator, django_assert_num_queries
) -> None:
    segment = first_segment(project)
    theme1, theme2, *_ = labels_of(project)
    colleague = MembershipFactory(project=project).user
    wants(project, 2)
    annotation_submit(project=project, segment=segment, annotator=annotator, labels=[theme1])
    annotation_submit(project=project, segment=segment, annotator=colleague, labels=[theme2])
    annotation_submit(
        project=project, segment=segment, annotator=colleague, labels=[theme1], expected_version=1
    )

    with django_assert_num_queries(2):
        entries = segment_history(project=project, segment=segment)

    expected = [(annotator.username, 1), (colleague.username, 1), (colleague.username, 2)]
    assert [(e.annotator, e.version) for e in entries] == sorted(expected)
    by_person = {(e.annotator, e.version): e for e in entries}
    assert by_person[(colleague.username, 2)].changed == ["labels"]


# --- The page ---


def test_a_manager_sees_who_changed_what_on_the_history_page(client, project, manager) -> None:
    segment = first_segment(project)
    annotator = MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user
    theme1, theme2, *_ = labels_of(project)
    annotation_submit(project=project, segment=segment, annotator=annotator, labels=[theme1])
    annotation_submit(
        project=project,
        segment=segment,
        annotator=annotator,
        labels=[theme2],
        comment="<b>second thoughts</b>",
        expected_version=1,
    )
    client.force_login(manager)

    page = client.get(history_url(project, segment))
    partial = client.get(history_url(project, segment), **HTMX)

    html = page.content.decode()
    assert page.status_code == 200
    assert "<html" in html
    assert annotator.username in html
    assert theme1.name in html and theme2.name in html
    assert "labels, comment" in html
    assert "&lt;b&gt;second thoughts&lt;/b&gt;" in html
    assert "<b>second thoughts</b>" not in html
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode()
    assert 'id="history"' in partial.content.decode()


def test_the_history_page_shows_the_gold_labels_changes(client, project, manager) -> None:
    segment = first_segment(project)
    theme1, theme2, *_ = labels_of(project)
    GoldLabelEvent.objects.create(
        project=project,
        segment=segment,
        actor=None,
        version=1,
        after={"labels": [theme1.pk], "source": "unanimous", "reviewer": None, "note": ""},
    )
    GoldLabelEvent.objects.create(
        project=project,
        segment=segment,
        actor=manager,
        version=2,
        before={"labels": [theme1.pk], "source": "unanimous", "reviewer": None, "note": ""},
        after={
            "labels": [theme2.pk],
            "source": GoldLabel.Source.ADJUDICATED,
            "reviewer": manager.pk,
            "note": "<i>see guideline</i>",
        },
    )
    client.force_login(manager)

    html = client.get(history_url(project, segment)).content.decode()

    gold = html[html.index("Gold label") :]
    assert "automatic" in gold
    assert manager.username in gold
    assert gold.index(theme1.name) < gold.index(theme2.name)
    assert "adjudicated" in gold
    assert "&lt;i&gt;see guideline&lt;/i&gt;" in gold


def test_the_labelling_screen_links_the_history_for_managers_only(
    client, project, manager, annotator
) -> None:
    segment = first_segment(project)
    url = reverse("annotations:annotate", kwargs={"slug": project.slug}) + f"?segment={segment.pk}"

    client.force_login(manager)
    as_manager = client.get(url).content.decode()
    client.force_login(annotator)
    as_annotator = client.get(url).content.decode()

    assert history_url(project, segment) in as_manager
    assert history_url(project, segment) not in as_annotator


def test_another_projects_segment_has_no_history_here(
    client, project, other_project, manager
) -> None:
    client.force_login(manager)

    response = client.get(history_url(project, first_segment(other_project)))

    assert response.status_code == 404


def test_the_history_page_runs_a_fixed_number_of_queries(
    client, project, manager, django_assert_max_num_queries
) -> None:
    segment = first_segment(project)
    wants(project, 4)
    for _ in range(4):
        person = MembershipFactory(project=project).user
        annotation_submit(
            project=project, segment=segment, annotator=person, labels=labels_of(project)[:2]
        )
    client.force_login(manager)

    # Session, user, project with role, segment, labels, answer events, gold-label events.
    with django_assert_max_num_queries(7):
        assert client.get(history_url(project, segment)).status_code == 200


# --- Racing edits (PostgreSQL) ---


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent writers; SQLite serialises them by locking the whole file",
)
def test_two_edits_of_one_version_race_one_wins_and_one_event_is_recorded(
    project, annotator
) -> None:
    segment = first_segment(project)
    theme1, theme2, theme3, _ = labels_of(project)
    annotation = annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[theme1]
    ).annotation
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def edit(label) -> None:
        try:
            barrier.wait()
            annotation_submit(
                project=project,
                segment=segment,
                annotator=annotator,
                labels=[label],
                expected_version=1,
            )
            outcomes.append("saved")
        except AnnotationConflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=edit, args=(label,)) for label in (theme2, theme3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["conflict", "saved"]
    stored = Annotation.objects.get(pk=annotation.pk)
    assert stored.version == 2
    (second,) = AnnotationEvent.objects.filter(annotation=annotation, version=2)
    assert slugs(second.after) == [label.slug for label in stored.labels.all()]
    assert second.before["labels"][0]["id"] == theme1.pk
    assert AnnotationEvent.objects.filter(annotation=annotation).count() == 2
