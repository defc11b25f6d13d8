from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from annotations.models import Annotation, AnnotatorProgress, Project
from annotations.queue import queue_reserve
from annotations.services.answers import annotation_submit
from articles.models import Segment
from tests.factories import LabelFactory, MembershipFactory, SegmentedArticleFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
# Statements of one submit → next (see the test that pins it).
SUBMIT_QUERIES = 12 if connection.vendor == "postgresql" else 21


def annotate_url(project, segment=None) -> str:
    url = reverse("annotations:annotate", kwargs={"slug": project.slug})
    return f"{url}?segment={segment.pk}" if segment else url


def save_url(project, segment) -> str:
    return reverse(
        "annotations:annotation_save", kwargs={"slug": project.slug, "segment_id": segment.pk}
    )


def article_url(project, segment) -> str:
    url = reverse(
        "annotations:article_detail",
        kwargs={"slug": project.slug, "article_id": segment.article_id},
    )
    return f"{url}?segment={segment.pk}"


def segments_of(project) -> list[Segment]:
    return list(Segment.objects.filter(article__collection=project.collection).order_by("pk"))


def labels_of(project) -> list:
    return list(project.label_set.labels.order_by("order"))


def shown_segment(response) -> int:
    match = re.search(rb'class="segment-card" data-segment-id="(\d+)"', response.content)
    assert match, response.content[:500]
    return int(match.group(1))


@pytest.fixture
def annotator_client(client, annotator) -> Client:
    client.force_login(annotator)
    return client


# --- The annotate page ---


def test_the_annotate_page_shows_the_first_segment_with_its_labels_and_neighbours(
    annotator_client, project
) -> None:
    segments = segments_of(project)

    response = annotator_client.get(annotate_url(project))

    assert response.status_code == 200
    assert shown_segment(response) == segments[0].pk
    html = response.content.decode()
    assert "<html" in html
    assert segments[0].text in html
    assert segments[1].text in html  # the next paragraph, dimmed, for context
    for label in labels_of(project):
        assert f'data-label-id="{label.pk}"' in html
        assert f'data-shortcut="{label.shortcut}"' in html
    assert 'aria-pressed="false"' in html
    assert "0 of 6" in html


def test_the_annotate_partial_is_only_the_workspace(annotator_client, project) -> None:
    response = annotator_client.get(annotate_url(project), **HTMX)

    assert response.status_code == 200
    assert b"<html" not in response.content
    assert response.content.lstrip().startswith(b'<div id="workspace"')


def test_a_segment_i_answered_opens_with_my_answer_pressed(
    annotator_client, project, annotator
) -> None:
    segment = segments_of(project)[2]
    theme2 = labels_of(project)[1]
    annotation_submit(project=project, segment=segment, annotator=annotator, labels=[theme2])

    response = annotator_client.get(annotate_url(project, segment))

    html = response.content.decode()
    assert shown_segment(response) == segment.pk
    assert re.search(rf'data-label-id="{theme2.pk}"[^>]*aria-pressed="true"', html, re.S)
    assert 'name="version" value="1"' in html


def test_submitting_stores_the_answer_and_swaps_in_the_next_segment(
    annotator_client, project, annotator
) -> None:
    first, second, *_ = segments_of(project)
    theme1, theme3 = labels_of(project)[0], labels_of(project)[2]

    response = annotator_client.post(
        save_url(project, first),
        {
            "labels": [theme1.pk, theme3.pk],
            "action": "submit",
            "version": "0",
            "time_spent_ms": "1234",
            "unsure": "on",
            "comment": "hard one",
        },
        **HTMX,
    )

    assert response.status_code == 200
    assert b"<html" not in response.content
    assert shown_segment(response) == second.pk
    assert response["HX-Push-Url"] == annotate_url(project, second)
    annotation = Annotation.objects.get(segment=first, annotator=annotator)
    assert set(annotation.labels.values_list("pk", flat=True)) == {theme1.pk, theme3.pk}
    assert annotation.unsure is True
    assert annotation.comment == "hard one"
    assert annotation.time_spent_ms == 1234
    assert b"1 of 6" in response.content


def test_a_plain_form_post_redirects_to_the_next_segment(annotator_client, project) -> None:
    first, second, *_ = segments_of(project)

    response = annotator_client.post(
        save_url(project, first),
        {"labels": [labels_of(project)[0].pk], "action": "submit", "version": "0"},
    )

    assert response.status_code == 302
    assert response["Location"] == annotate_url(project, second)


def test_skip_stores_a_skip_without_labels(annotator_client, project, annotator) -> None:
    first = segments_of(project)[0]

    response = annotator_client.post(
        save_url(project, first),
        {"labels": [labels_of(project)[0].pk], "action": "skip", "version": "0"},
        **HTMX,
    )

    assert response.status_code == 200
    annotation = Annotation.objects.get(segment=first, annotator=annotator)
    assert annotation.status == Annotation.Status.SKIPPED
    assert not annotation.labels.exists()


def test_a_label_of_another_project_is_refused_with_400_and_nothing_is_stored(
    annotator_client, project, other_project
) -> None:
    first = segments_of(project)[0]
    foreign = labels_of(other_project)[0]

    response = annotator_client.post(
        save_url(project, first),
        {"labels": [labels_of(project)[0].pk, foreign.pk], "action": "submit", "version": "0"},
        **HTMX,
    )

    assert response.status_code == 400
    assert b"not in this project" in response.content
    assert shown_segment(response) == first.pk  # the same segment, the choice kept
    assert not Annotation.objects.exists()


def test_no_label_is_refused_in_place(annotator_client, project) -> None:
    first = segments_of(project)[0]

    response = annotator_client.post(
        save_url(project, first), {"action": "submit", "version": "0"}, **HTMX
    )

    assert response.status_code == 400
    assert b"Choose at least one label" in response.content
    assert not Annotation.objects.exists()


def test_a_single_label_project_refuses_two_labels(annotator_client, project) -> None:
    project.multi_label = False
    project.save()
    theme1, theme2, *_ = labels_of(project)

    response = annotator_client.post(
        save_url(project, segments_of(project)[0]),
        {"labels": [theme1.pk, theme2.pk], "action": "submit", "version": "0"},
        **HTMX,
    )

    assert response.status_code == 400
    assert b"exactly one label" in response.content
    assert not Annotation.objects.exists()


def test_a_malformed_form_is_a_400(annotator_client, project) -> None:
    response = annotator_client.post(
        save_url(project, segments_of(project)[0]),
        {"labels": ["x"], "action": "submit", "version": "0"},
        **HTMX,
    )

    assert response.status_code == 400
    assert not Annotation.objects.exists()


def test_an_inactive_label_cannot_be_chosen_anew(annotator_client, project) -> None:
    retired = LabelFactory(label_set=project.label_set, active=False, shortcut="9")

    response = annotator_client.post(
        save_url(project, segments_of(project)[0]),
        {"labels": [retired.pk], "action": "submit", "version": "0"},
        **HTMX,
    )

    assert response.status_code == 400
    assert b"no longer in use" in response.content


def test_an_edit_from_a_stale_page_is_refused_with_409_and_the_stored_answer_shown(
    annotator_client, project, annotator
) -> None:
    segment = segments_of(project)[0]
    theme1, theme2, theme3, _ = labels_of(project)
    annotation_submit(project=project, segment=segment, annotator=annotator, labels=[theme1])
    # Another tab changes it to theme 2 (version 2) ...
    annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[theme2], expected_version=1
    )

    # ... and this tab, still at version 1, tries theme 3.
    response = annotator_client.post(
        save_url(project, segment),
        {"labels": [theme3.pk], "action": "submit", "version": "1"},
        **HTMX,
    )

    assert response.status_code == 409
    html = response.content.decode()
    assert "changed elsewhere" in html
    assert "Stored now (version 2)" in html
    assert theme2.name in html
    assert 'name="version" value="2"' in html  # submitting again is a deliberate overwrite
    stored = Annotation.objects.get()
    assert stored.version == 2
    assert list(stored.labels.values_list("pk", flat=True)) == [theme2.pk]


def test_going_back_and_changing_an_answer_bumps_its_version(
    annotator_client, project, annotator
) -> None:
    first = segments_of(project)[0]
    theme1, theme2, *_ = labels_of(project)
    annotation_submit(project=project, segment=first, annotator=annotator, labels=[theme1])

    response = annotator_client.post(
        save_url(project, first),
        {"labels": [theme2.pk], "action": "submit", "version": "1"},
        **HTMX,
    )

    assert response.status_code == 200
    stored = Annotation.objects.get()
    assert stored.version == 2
    assert list(stored.labels.values_list("pk", flat=True)) == [theme2.pk]
    assert AnnotatorProgress.objects.get(annotator=annotator).submitted == 1


def test_the_back_link_points_to_my_previous_answer(annotator_client, project, annotator) -> None:
    first, second, third, *_ = segments_of(project)
    annotation_submit(
        project=project, segment=first, annotator=annotator, labels=labels_of(project)[:1]
    )

    response = annotator_client.get(annotate_url(project, third))

    assert f"?segment={first.pk}".encode() in response.content
    assert b'data-key="back"' in response.content


def back_link(response) -> int | None:
    match = re.search(rb'\?segment=(\d+)"[^>]*data-key="back"', response.content)
    return int(match.group(1)) if match else None


def test_back_in_a_shuffled_queue_walks_my_answers_in_the_order_i_gave_them(
    annotator_client, project, annotator
) -> None:
    project.queue_order = Project.QueueOrder.SHUFFLED
    project.save()
    s = segments_of(project)
    for segment in (s[4], s[1], s[5]):  # the order a shuffled queue handed them out
        annotation_submit(
            project=project, segment=segment, annotator=annotator, labels=labels_of(project)[:1]
        )

    fresh = annotator_client.get(annotate_url(project, s[0]))
    assert back_link(fresh) == s[5].pk  # from a segment not answered yet: my last answer
    # Then backwards through my answers as given, not by segment id (which would go 5 → 4).
    assert back_link(annotator_client.get(annotate_url(project, s[5]))) == s[1].pk
    assert back_link(annotator_client.get(annotate_url(project, s[1]))) == s[4].pk
    assert back_link(annotator_client.get(annotate_url(project, s[4]))) is None


def test_after_a_submit_back_returns_to_the_answer_just_given(annotator_client, project) -> None:
    shown = annotator_client.get(annotate_url(project), **HTMX)
    answered = shown_segment(shown)
    url = reverse(
        "annotations:annotation_save", kwargs={"slug": project.slug, "segment_id": answered}
    )
    data = {"labels": [labels_of(project)[0].pk], "action": "submit", "version": "0"}

    response = annotator_client.post(url, data, **HTMX)

    assert shown_segment(response) != answered
    assert back_link(response) == answered


def test_an_empty_queue_says_so(annotator_client, project, annotator) -> None:
    for segment in segments_of(project):
        annotation_submit(
            project=project, segment=segment, annotator=annotator, labels=labels_of(project)[:1]
        )

    response = annotator_client.get(annotate_url(project))

    assert response.status_code == 200
    assert b"Your queue is empty" in response.content
    assert b"6 of 6" in response.content


def test_an_empty_queue_says_why_with_figures(annotator_client, project, annotator) -> None:
    project.annotators_per_segment = 1
    project.save()
    segments, label = segments_of(project), labels_of(project)[:1]
    for segment in segments[:2]:
        annotation_submit(project=project, segment=segment, annotator=annotator, labels=label)
    colleague = MembershipFactory(project=project).user
    for segment in segments[2:4]:
        annotation_submit(project=project, segment=segment, annotator=colleague, labels=label)
    for _ in segments[4:]:  # two more colleagues each hold one of the last two
        queue_reserve(project=project, annotator=MembershipFactory(project=project).user)

    response = annotator_client.get(annotate_url(project))

    text = " ".join(response.content.decode().split())
    assert "Your queue is empty" in text
    assert "You have answered 2 of 6 segments" in text
    assert "2 segments you have not answered already have the 1 answer this project needs" in text
    assert "2 segments still need answers but are reserved by others right now" in text
    assert "after 30 minutes" in text


def test_an_empty_queue_after_answering_everything_says_so(
    annotator_client, project, annotator
) -> None:
    for segment in segments_of(project):
        annotation_submit(
            project=project, segment=segment, annotator=annotator, labels=labels_of(project)[:1]
        )

    response = annotator_client.get(annotate_url(project))

    text = " ".join(response.content.decode().split())
    assert "You answered every segment that this project labels." in text
    assert "reserved by others" not in text


def test_the_article_view_shows_every_segment_with_my_chips(
    annotator_client, project, annotator
) -> None:
    first, second, third, *_ = segments_of(project)
    theme2 = labels_of(project)[1]
    annotation_submit(project=project, segment=second, annotator=annotator, labels=[theme2])

    response = annotator_client.get(article_url(project, first))

    assert response.status_code == 200
    html = response.content.decode()
    for segment in (first, second, third):
        assert segment.text in html
    assert html.count(f">{theme2.name}</span>") >= 1
    assert 'data-view="article"' in html


def test_submitting_in_the_article_view_moves_down_the_article(
    annotator_client, project, annotator
) -> None:
    first, second, *_ = segments_of(project)

    response = annotator_client.post(
        save_url(project, first),
        {
            "labels": [labels_of(project)[0].pk],
            "action": "submit",
            "version": "0",
            "view": "article",
        },
        **HTMX,
    )

    assert response.status_code == 200
    assert b'data-view="article"' in response.content
    assert shown_segment(response) == second.pk


def test_imported_text_is_escaped_everywhere(annotator_client, project) -> None:
    evil = SegmentedArticleFactory(
        collection=project.collection,
        title="<script>alert('t')</script>",
        body="<img src=x onerror=alert(1)> and {{7*7}}",
    )
    label = labels_of(project)[0]
    label.name = "<b>bold</b>"
    label.save()
    segment = evil.segments.get()

    for url in (annotate_url(project, segment), article_url(project, segment)):
        html = annotator_client.get(url).content.decode()
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
        assert "{{7*7}}" in html
        assert "<b>bold</b>" not in html


# --- Access rules ---


@pytest.mark.parametrize("view", ["annotate", "article", "save"])
def test_anonymous_visitors_are_sent_to_the_login(client, project, view) -> None:
    segment = segments_of(project)[0]
    url = {
        "annotate": annotate_url(project),
        "article": article_url(project, segment),
        "save": save_url(project, segment),
    }[view]

    page = client.post(url) if view == "save" else client.get(url)
    partial = client.post(url, **HTMX) if view == "save" else client.get(url, **HTMX)

    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/login/")
    assert partial.status_code == 401
    assert b"workspace" not in partial.content


def test_an_outsider_gets_404_on_every_labelling_url(client, project, outsider) -> None:
    client.force_login(outsider)
    segment = segments_of(project)[0]

    assert client.get(annotate_url(project)).status_code == 404
    assert client.get(annotate_url(project), **HTMX).status_code == 404
    assert client.get(article_url(project, segment)).status_code == 404
    response = client.post(
        save_url(project, segment), {"labels": [labels_of(project)[0].pk]}, **HTMX
    )
    assert response.status_code == 404
    assert not Annotation.objects.exists()


def test_a_reviewer_may_not_label(client, project, reviewer) -> None:
    client.force_login(reviewer)
    segment = segments_of(project)[0]

    assert client.get(annotate_url(project)).status_code == 403
    assert client.get(article_url(project, segment), **HTMX).status_code == 403
    assert client.post(save_url(project, segment), {"labels": [1]}).status_code == 403


def test_segment_ids_of_another_project_give_404(annotator_client, project, other_project) -> None:
    foreign = segments_of(other_project)[0]

    assert annotator_client.get(annotate_url(project, foreign)).status_code == 404
    assert annotator_client.get(article_url(project, foreign)).status_code == 404
    response = annotator_client.post(
        save_url(project, foreign), {"labels": [labels_of(project)[0].pk], "version": "0"}
    )
    assert response.status_code == 404
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("raw", ["abc", "-1", "0", "99999999"])
def test_a_bad_segment_parameter_is_a_404(annotator_client, project, raw) -> None:
    url = reverse("annotations:annotate", kwargs={"slug": project.slug})

    assert annotator_client.get(f"{url}?segment={raw}").status_code == 404


def test_i_never_see_a_colleagues_answer(annotator_client, project) -> None:
    segment = segments_of(project)[0]
    colleague = MembershipFactory(project=project).user
    theme4 = labels_of(project)[3]
    annotation_submit(
        project=project, segment=segment, annotator=colleague, labels=[theme4], comment="SECRET"
    )
    project.annotators_per_segment = 2
    project.save()

    for url in (annotate_url(project, segment), article_url(project, segment)):
        html = annotator_client.get(url).content.decode()
        assert "SECRET" not in html
        assert 'aria-pressed="true"' not in html


def test_posted_fields_cannot_change_the_annotator_or_project(
    annotator_client, project, annotator, other_project
) -> None:
    colleague = MembershipFactory(project=project).user
    segment = segments_of(project)[0]

    annotator_client.post(
        save_url(project, segment),
        {
            "labels": [labels_of(project)[0].pk],
            "action": "submit",
            "version": "0",
            "annotator": colleague.pk,
            "project": other_project.pk,
        },
        **HTMX,
    )

    stored = Annotation.objects.get()
    assert stored.annotator == annotator
    assert stored.project == project


def test_the_save_url_rejects_get_and_the_pages_reject_post(annotator_client, project) -> None:
    segment = segments_of(project)[0]

    assert annotator_client.get(save_url(project, segment)).status_code == 405
    assert annotator_client.post(annotate_url(project)).status_code == 405
    assert annotator_client.post(article_url(project, segment)).status_code == 405


def test_saving_needs_the_csrf_token_which_htmx_sends_as_a_header(project, annotator) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    segment = segments_of(project)[0]
    data = {"labels": [labels_of(project)[0].pk], "action": "submit", "version": "0"}

    refused = client.post(save_url(project, segment), data, **HTMX)
    page = client.get(annotate_url(project))
    token = page.cookies["csrftoken"].value
    accepted = client.post(save_url(project, segment), data, HTTP_X_CSRFTOKEN=token, **HTMX)

    assert refused.status_code == 403
    assert refused["Content-Type"].startswith("text/plain")  # shown by the page as it is
    assert b"security token has expired" in refused.content
    assert accepted.status_code == 200
    assert Annotation.objects.count() == 1


# --- Query counts: fixed, whatever the amount of data ---


def add_data(project, annotator, articles: int) -> None:
    for index in range(articles):
        SegmentedArticleFactory(
            collection=project.collection,
            body="\n\n".join(f"Extra {index}-{p}." for p in range(5)),
        )
    label = labels_of(project)[0]
    # At least one earlier answer: a person's very first answer also creates their
    # progress row (see the test below).
    for segment in segments_of(project)[: articles * 3 + 1]:
        annotation_submit(project=project, segment=segment, annotator=annotator, labels=[label])


@pytest.mark.parametrize("articles", [0, 6])
def test_submit_and_next_runs_a_fixed_number_of_queries(
    annotator_client, project, annotator, articles, django_assert_max_num_queries
) -> None:
    add_data(project, annotator, articles)
    response = annotator_client.get(annotate_url(project), **HTMX)
    url = reverse(
        "annotations:annotation_save",
        kwargs={"slug": project.slug, "segment_id": shown_segment(response)},
    )
    data = {"labels": [labels_of(project)[1].pk], "action": "submit", "version": "0"}

    # Session, user; the gate (project, role, segment, labels, neighbours: one statement);
    # the answer: on PostgreSQL one statement ends my reservation, inserts the answer, counts
    # it on the segment, inserts its labels and history event, moves my progress and locks
    # the review row, then the review reads the answers and writes its row (SQLite: one
    # statement each); "next": lock my queue place and read what it holds, then on
    # PostgreSQL one statement finds, locks and reserves the next segment with its
    # neighbours (SQLite: find it, count its reservation, reserve it, read its neighbours);
    # and the savepoints of the two transactions.
    with django_assert_max_num_queries(SUBMIT_QUERIES):
        response = annotator_client.post(url, data, **HTMX)
    assert response.status_code == 200


def test_a_first_ever_answer_adds_only_the_progress_row_queries(
    annotator_client, project, django_assert_max_num_queries
) -> None:
    # The person opens the labelling screen first, which reserves their first segment.
    first = annotator_client.get(annotate_url(project), **HTMX)
    url = save_url(project, Segment.objects.get(pk=shown_segment(first)))
    data = {"labels": [labels_of(project)[1].pk], "action": "submit", "version": "0"}

    # As above, and the progress row: count, look, savepoint, create, release, count again.
    with django_assert_max_num_queries(SUBMIT_QUERIES + 6):
        assert annotator_client.post(url, data, **HTMX).status_code == 200


def test_the_first_visit_after_an_import_adds_a_fixed_number_of_queries(
    annotator_client, project, annotator, django_assert_max_num_queries
) -> None:
    add_data(project, annotator, 6)

    # My queue place is made, and the queue's rows for the new segments (one chunk).
    with django_assert_max_num_queries(22):
        assert annotator_client.get(annotate_url(project)).status_code == 200


@pytest.mark.parametrize("articles", [0, 6])
def test_the_annotate_and_article_pages_run_a_fixed_number_of_queries(
    annotator_client, project, annotator, articles, django_assert_max_num_queries
) -> None:
    add_data(project, annotator, articles)
    segment = segments_of(project)[-1]
    annotator_client.get(annotate_url(project))  # the first visit (see the test above)

    # The same segment again (still reserved for me): the reservation is read with its
    # segment and neighbours, and kept.
    with django_assert_max_num_queries(9):
        assert annotator_client.get(annotate_url(project)).status_code == 200
    with django_assert_max_num_queries(9):
        assert annotator_client.get(annotate_url(project, segment)).status_code == 200
    # The article view also counts the article's near-identical copies (one query), and
    # reads the gold labels on my answers in the article (one query, none without answers).
    with django_assert_max_num_queries(11):
        assert annotator_client.get(article_url(project, segment)).status_code == 200


def test_a_retired_label_stays_on_an_answer_and_can_be_kept_on_edit(
    annotator_client, project, annotator
) -> None:
    segment = segments_of(project)[0]
    theme1, theme2, *_ = labels_of(project)
    annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[theme1, theme2]
    )
    theme1.active = False
    theme1.save()

    page = annotator_client.get(annotate_url(project, segment)).content.decode()
    kept = annotator_client.post(
        save_url(project, segment),
        {"labels": [theme1.pk, theme2.pk], "action": "submit", "version": "1", "unsure": "on"},
        **HTMX,
    )
    fresh = annotator_client.get(annotate_url(project, segments_of(project)[1])).content

    assert re.search(rf'data-label-id="{theme1.pk}"[^>]*aria-pressed="true"', page, re.S)
    assert "(retired)" in page
    assert kept.status_code == 200
    stored = Annotation.objects.get()
    assert stored.version == 2
    assert set(stored.labels.values_list("pk", flat=True)) == {theme1.pk, theme2.pk}
    assert f'data-label-id="{theme1.pk}"'.encode() not in fresh


def test_after_a_submit_the_next_segment_comes_with_its_true_neighbours(
    annotator_client, project, annotator
) -> None:
    segments = list(Segment.objects.filter(article__collection=project.collection).order_by("pk"))
    data = {"labels": [labels_of(project)[0].pk], "action": "submit", "version": "0"}
    # Answer the third segment first, so that later the walk skips over it.
    annotation_submit(
        project=project, segment=segments[2], annotator=annotator, labels=labels_of(project)[:1]
    )

    # 1 -> 2: the neighbours are the segment just answered and the queue's next one.
    after_first = annotator_client.post(save_url(project, segments[0]), data, **HTMX)
    # 2 -> 4 (3 is done): 4 starts the second article, 5 follows it.
    after_second = annotator_client.post(save_url(project, segments[1]), data, **HTMX)
    # 6 is the last of its article: nothing after it.
    annotator_client.post(save_url(project, segments[3]), data, **HTMX)
    last = annotator_client.post(save_url(project, segments[4]), data, **HTMX)

    def neighbours(response) -> tuple[str | None, str | None]:
        html = response.content.decode()
        before = re.search(r'neighbour-before"[^>]*>([^<]*)<', html)
        after = re.search(r'neighbour-after"[^>]*>([^<]*)<', html)
        return (before and before.group(1), after and after.group(1))

    assert shown_segment(after_first) == segments[1].pk
    assert neighbours(after_first) == (segments[0].text, segments[2].text)
    assert shown_segment(after_second) == segments[3].pk
    assert neighbours(after_second) == (None, segments[4].text)
    assert shown_segment(last) == segments[5].pk
    assert neighbours(last) == (segments[4].text, None)


def test_a_history_restore_request_gets_the_whole_page(annotator_client, project) -> None:
    response = annotator_client.get(
        annotate_url(project), HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX
    )

    assert response.status_code == 200
    assert b"<html" in response.content


@pytest.mark.parametrize(
    ("comment", "message"),
    [("bad\x00byte", b"NUL character"), ("x" * 2001, b"at most 2000 characters")],
)
def test_a_comment_the_database_cannot_take_is_refused_in_place(
    annotator_client, project, comment, message
) -> None:
    response = annotator_client.post(
        save_url(project, segments_of(project)[0]),
        {
            "labels": [labels_of(project)[0].pk],
            "action": "submit",
            "version": "0",
            "comment": comment,
        },
        **HTMX,
    )

    assert response.status_code == 400
    assert message in response.content
    assert not Annotation.objects.exists()


def test_the_article_view_says_how_many_near_identical_copies_an_article_has(
    annotator_client, project
) -> None:
    original = segments_of(project)[0].article
    copies = [
        SegmentedArticleFactory(collection=project.collection, duplicate_of=original)
        for _ in range(2)
    ]
    # From the original and from a copy alike: the other members of the group.
    for article, expected in [
        (original, "2 near-identical copies"),
        (copies[0], "2 near-identical copies"),
    ]:
        segment = Segment.objects.filter(article=article).order_by("position").first()
        page = annotator_client.get(article_url(project, segment)).content.decode()
        assert expected in page
    lone = SegmentedArticleFactory(collection=project.collection)
    segment = Segment.objects.filter(article=lone).order_by("position").first()
    assert (
        "near-identical" not in annotator_client.get(article_url(project, segment)).content.decode()
    )
