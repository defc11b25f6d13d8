"""The 403, 404 and 500 pages: styled, with the reason the view gave, escaped; a short plain
sentence for htmx requests. DEBUG is off here, as in production (pytest-django's default,
asserted by the fixture so that a changed default cannot hide Django's technical pages)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import Client, RequestFactory
from django.urls import reverse

from articles.models import Segment
from config.views import page_not_found, permission_denied, server_error

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def debug_off(settings) -> None:
    settings.DEBUG = False


def main(response) -> str:
    """The page's own content, without the per-request CSRF token of the header."""
    body = response.content.decode()
    return body[body.index("<main") : body.index("</main>")]


def annotate_url(project) -> str:
    return reverse("annotations:annotate", args=[project.slug])


def test_a_reviewer_opening_the_labelling_url_gets_the_styled_403_with_the_reason(
    client, reviewer, project
) -> None:
    client.force_login(reviewer)

    response = client.get(annotate_url(project))

    body = response.content.decode()
    assert response.status_code == 403
    assert "<h1>Not allowed</h1>" in body
    assert "Your role in this project (Reviewer) does not allow you to label its segments." in body
    assert 'href="/static/css/themata.css"' in body
    assert reviewer.get_username() in body  # the site's own header, logged in


def test_an_annotator_on_a_manager_page_is_told_it_needs_a_manager(
    client, annotator, project
) -> None:
    client.force_login(annotator)

    response = client.get(reverse("annotations:member_list", args=[project.slug]))

    assert response.status_code == 403
    assert "(Annotator) does not allow you to manage it" in response.content.decode()


def test_an_htmx_403_is_the_reason_as_a_short_plain_sentence(client, reviewer, project) -> None:
    client.force_login(reviewer)

    response = client.get(annotate_url(project), **HTMX)

    assert response.status_code == 403
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == (
        "Your role in this project (Reviewer) does not allow you to label its segments."
    )


def test_a_segment_of_another_project_gets_the_styled_404_with_its_reason(
    client, annotator, project, other_project
) -> None:
    elsewhere = Segment.objects.filter(article__collection=other_project.collection).first()
    client.force_login(annotator)

    response = client.get(annotate_url(project), {"segment": elsewhere.pk})

    body = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in body
    assert "No such segment in this project." in body
    assert elsewhere.text not in body


def test_an_htmx_404_is_a_short_plain_sentence(client, annotator, project) -> None:
    client.force_login(annotator)

    response = client.get(annotate_url(project), {"segment": 10**9}, **HTMX)

    assert response.status_code == 404
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == "No such segment in this project."


def test_an_unknown_address_gets_the_general_404_without_the_url_patterns(
    client, annotator
) -> None:
    client.force_login(annotator)

    response = client.get("/no/such/page/")

    body = response.content.decode()
    assert response.status_code == 404
    assert "There is no page at this address, or you cannot see it." in body
    assert "tried" not in body
    assert "p/&lt;slug:slug&gt;" not in body and "p/<slug:slug>" not in body


def test_an_outsider_gets_the_same_404_as_for_a_project_that_does_not_exist(
    client, outsider, project
) -> None:
    client.force_login(outsider)

    real = client.get(reverse("annotations:project_detail", args=[project.slug]))
    invented = client.get(reverse("annotations:project_detail", args=["no-such-project"]))

    assert real.status_code == invented.status_code == 404
    assert "No such project." in real.content.decode()
    assert main(real) == main(invented)


def test_the_reason_on_the_403_and_404_pages_is_escaped(annotator) -> None:
    request = RequestFactory().get("/")
    request.user = annotator
    hostile = "<script>alert(1)</script>"

    pages = [
        permission_denied(request, PermissionDenied(hostile)),
        page_not_found(request, Http404(hostile)),
    ]

    for page in pages:
        body = page.content.decode()
        assert hostile not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_a_permission_denied_without_a_message_gets_a_general_sentence(client, annotator) -> None:
    request = RequestFactory().get("/")
    request.user = annotator

    response = permission_denied(request, PermissionDenied())

    assert response.status_code == 403
    assert "You are not allowed to see this page." in response.content.decode()


def test_the_500_page_needs_no_context_and_no_database(django_assert_num_queries) -> None:
    request = RequestFactory().get("/")  # no user, no session: the middleware may have failed

    with django_assert_num_queries(0):
        response = server_error(request)

    body = response.content.decode()
    assert response.status_code == 500
    assert "<h1>Server error</h1>" in body
    assert "nothing was saved" in body
    assert 'href="/static/css/themata.css"' in body


def test_an_htmx_500_is_a_short_plain_sentence() -> None:
    response = server_error(RequestFactory().get("/", **HTMX))

    assert response.status_code == 500
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode().startswith("Something went wrong on the server")


@pytest.mark.urls("tests.failing_urls")
def test_an_exception_in_a_view_is_answered_by_the_styled_500(client, annotator) -> None:
    client.force_login(annotator)
    client.raise_request_exception = False

    response = client.get("/fail/")

    assert response.status_code == 500
    assert "<h1>Server error</h1>" in response.content.decode()
    assert "ZeroDivisionError" not in response.content.decode()


def test_an_anonymous_visitor_gets_the_404_page_with_a_way_to_log_in(client) -> None:
    response = client.get("/no/such/page/")

    body = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in body
    assert 'href="/accounts/login/"' in body


def test_an_annotator_on_the_review_screen_is_told_their_role_does_not_review(
    client, annotator, project
) -> None:
    client.force_login(annotator)

    response = client.get(reverse("annotations:review", args=[project.slug]))

    assert response.status_code == 403
    assert "(Annotator) does not allow you to review its answers." in response.content.decode()


def test_a_form_refused_by_the_csrf_check_gets_the_styled_403_with_what_to_do(
    project, annotator
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    segment = Segment.objects.filter(article__collection=project.collection).first()
    url = reverse(
        "annotations:annotation_save", kwargs={"slug": project.slug, "segment_id": segment.pk}
    )

    response = client.post(url, {"action": "skip"})

    body = response.content.decode()
    assert response.status_code == 403
    assert "<h1>Form expired</h1>" in body
    assert "security token has expired" in body
    assert "allow cookies" in body
    assert 'href="/static/css/themata.css"' in body  # the site's styled page, not Django's
    assert "CSRF verification failed" not in body


def test_an_htmx_post_refused_by_the_csrf_check_gets_the_short_sentence(project, annotator) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    segment = Segment.objects.filter(article__collection=project.collection).first()
    url = reverse(
        "annotations:annotation_save", kwargs={"slug": project.slug, "segment_id": segment.pk}
    )

    response = client.post(url, {"action": "skip"}, **HTMX)

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    assert "security token has expired" in response.content.decode()
