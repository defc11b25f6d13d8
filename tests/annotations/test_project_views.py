from __future__ import annotations

import pytest
from django.urls import reverse

from annotations.models import Annotation
from annotations.services.answers import annotation_submit
from articles.models import Segment
from tests.factories import MembershipFactory, labelled_project

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
HOME = reverse("annotations:home")


def detail_url(project) -> str:
    return reverse("annotations:project_detail", kwargs={"slug": project.slug})


def answer(project, user, count: int, comment: str = "", start: int = 0) -> None:
    label = project.label_set.labels.first()
    segments = Segment.objects.filter(article__collection=project.collection).order_by("pk")
    for segment in segments[start : start + count]:
        annotation_submit(
            project=project, segment=segment, annotator=user, labels=[label], comment=comment
        )


def test_home_lists_only_my_projects_with_my_progress_and_the_teams(
    client, project, other_project, annotator
) -> None:
    colleague = MembershipFactory(project=project).user
    answer(project, annotator, 3)
    answer(project, colleague, 3, start=3)
    client.force_login(annotator)

    response = client.get(HOME)

    html = response.content.decode()
    assert response.status_code == 200
    assert project.name in html
    assert other_project.name not in html
    assert "3 / 6 · 50%" in html  # mine
    assert "100%" in html  # the team has answered all 6 segments once


def test_home_lists_every_project_for_a_superuser(client, project, other_project, admin_user):
    client.force_login(admin_user)

    html = client.get(HOME).content.decode()

    assert project.name in html
    assert other_project.name in html
    assert "New project" in html


def test_home_offers_new_project_only_to_those_who_may_create(client, annotator, manager):
    client.force_login(annotator)
    assert "New project" not in client.get(HOME).content.decode()
    client.force_login(manager)
    assert "New project" in client.get(HOME).content.decode()


@pytest.mark.parametrize("projects", [1, 6])
def test_home_runs_a_fixed_number_of_queries(
    client, annotator, projects, django_assert_max_num_queries
) -> None:
    for _ in range(projects):
        MembershipFactory(project=labelled_project(articles=1), user=annotator)
    client.force_login(annotator)

    with django_assert_max_num_queries(6):
        assert client.get(HOME).status_code == 200


def test_the_project_page_shows_overview_guidelines_queue_and_my_activity(
    client, project, annotator
) -> None:
    colleague = MembershipFactory(project=project).user
    answer(project, annotator, 1, comment="mine")
    answer(project, colleague, 2, start=1)
    client.force_login(annotator)

    response = client.get(detail_url(project))

    html = response.content.decode()
    assert response.status_code == 200
    for label in project.label_set.labels.all():
        assert label.name in html
        assert label.description in html
    assert "Next up" in html
    assert "Continue labelling" in html
    assert "My recent answers" in html
    assert colleague.username not in html  # an annotator sees only their own answers
    assert "Import articles" not in html  # and no management links


def test_a_manager_sees_the_teams_activity_and_the_management_links(
    client, project, manager, annotator
) -> None:
    answer(project, annotator, 2)
    client.force_login(manager)

    html = client.get(detail_url(project)).content.decode()

    assert "Recent activity" in html
    assert annotator.username in html
    for name in ("project_edit", "label_set_edit", "member_list", "import_upload"):
        assert reverse(f"annotations:{name}", kwargs={"slug": project.slug}) in html


def test_a_reviewer_sees_the_project_but_no_labelling_button(client, project, reviewer):
    client.force_login(reviewer)

    response = client.get(detail_url(project))

    assert response.status_code == 200
    assert "Start labelling" not in response.content.decode()


def test_an_outsider_gets_404_for_the_project_page(client, project, outsider) -> None:
    client.force_login(outsider)

    assert client.get(detail_url(project)).status_code == 404
    assert client.get(detail_url(project), **HTMX).status_code == 404


def test_anonymous_visitors_are_sent_to_the_login(client, project) -> None:
    for url in (HOME, detail_url(project)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"
        assert client.get(url, **HTMX).status_code == 401


def test_the_project_pages_reject_post(client, project, annotator) -> None:
    client.force_login(annotator)

    assert client.post(HOME).status_code == 405
    assert client.post(detail_url(project)).status_code == 405


def test_project_texts_are_shown_literally(client, project, annotator) -> None:
    project.name = "{{7*7}} <script>x()</script>"
    project.description = "{% debug %} ${7*7}"
    project.save()
    label = project.label_set.labels.first()
    label.description = "<img src=x onerror=alert(1)>"
    label.save()
    client.force_login(annotator)

    for url in (HOME, detail_url(project)):
        html = client.get(url).content.decode()
        assert "{{7*7}} &lt;script&gt;x()&lt;/script&gt;" in html
        assert "<script>x()" not in html
    html = client.get(detail_url(project)).content.decode()
    assert "{% debug %} ${7*7}" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize("answers", [0, 5])
def test_the_project_page_runs_a_fixed_number_of_queries(
    client, project, manager, answers, django_assert_max_num_queries
) -> None:
    project.annotators_per_segment = 5  # five people answer every segment
    project.save(update_fields=["annotators_per_segment"])
    for _ in range(answers):
        answer(project, MembershipFactory(project=project).user, 6)
    client.force_login(manager)
    # The first visit after an import makes the queue's rows (one chunk): a fixed cost too.
    with django_assert_max_num_queries(20):
        assert client.get(detail_url(project)).status_code == 200

    with django_assert_max_num_queries(11):
        assert client.get(detail_url(project)).status_code == 200


def test_looking_at_someones_work_never_changes_it(client, project, manager, annotator) -> None:
    answer(project, annotator, 2, comment="first pass")
    before = list(Annotation.objects.order_by("pk").values_list("pk", "version", "updated_at"))
    segment = Annotation.objects.order_by("pk").first().segment
    client.force_login(manager)

    client.get(detail_url(project))
    client.get(HOME)
    client.get(reverse("annotations:annotate", kwargs={"slug": project.slug}))
    client.get(
        reverse(
            "annotations:article_detail",
            kwargs={"slug": project.slug, "article_id": segment.article_id},
        )
    )

    after = list(Annotation.objects.order_by("pk").values_list("pk", "version", "updated_at"))
    assert after == before
