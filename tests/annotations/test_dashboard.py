"""The team dashboard: page, polled partial, background figures, freshness, recompute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from annotations.models import Annotation, GoldLabel, Label, Membership, ProjectFigures
from annotations.services import reports
from annotations.services.answers import annotation_submit
from articles.models import Segment
from tests.factories import UserFactory

IMMEDIATE = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


def answer(project, username: str, segment, *slugs: str, seconds: float = 5.0) -> None:
    user = UserFactory(username=username)
    Membership.objects.get_or_create(project=project, user=user)
    labels = list(Label.objects.filter(label_set=project.label_set, slug__in=slugs))
    annotation_submit(
        project=project,
        segment=segment,
        annotator=user,
        labels=labels,
        status="submitted" if labels else Annotation.Status.SKIPPED,
        time_spent_ms=int(seconds * 1000),
    )


def segments(project) -> list[Segment]:
    return list(
        Segment.objects.filter(article__collection=project.collection)
        .select_related("article")
        .order_by("pk")
    )


@pytest.fixture
def disagreeing(project):
    """Two annotators who disagree on every segment (the issue's first complaint)."""
    # Room for the extra answers some tests add (a full segment refuses more).
    project.annotators_per_segment = 6
    project.save()
    for segment in segments(project):
        answer(project, "ann", segment, "theme-1", seconds=1.0)
        answer(project, "bob", segment, "theme-2", seconds=9.0)
    return project


def url(project, name: str = "annotations:dashboard") -> str:
    return reverse(name, args=[project.slug])


@pytest.mark.django_db
def test_first_visit_computes_the_figures_in_the_background(
    client, manager, disagreeing, settings, django_capture_on_commit_callbacks
) -> None:
    settings.TASKS = IMMEDIATE
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.get(url(disagreeing))

    assert response.status_code == 200
    assert len(callbacks) == 1  # the task is enqueued once the request's transaction commits
    figures = ProjectFigures.objects.get(project=disagreeing)
    assert figures.status == ProjectFigures.Status.DONE
    report = figures.data["report"]
    assert report["agreement"]["overall"]["exact_agreement"] == 0.0
    assert report["agreement"]["cohen_kappa"]["ann"]["bob"] is not None
    # The page rendered before the task ran: it says the figures are being computed.
    assert b"Recomputation waiting for the background worker" in response.content

    page = client.get(url(disagreeing)).content.decode()
    assert "Figures as of" in page
    assert "0 answers new or changed since" in page
    assert "<polyline" in page
    assert ">0%<" in page  # exact agreement, and theme-1's agreement between ann and bob
    assert 'class="num kappa-low"' in page  # ann and bob disagree: kappa below 0.4
    assert "ann" in page and "bob" in page


@pytest.mark.django_db
def test_reviewer_sees_it_and_the_project_page_links_it(client, reviewer, project) -> None:
    client.force_login(reviewer)

    assert client.get(url(project)).status_code == 200
    assert url(project).encode() in client.get(url(project, "annotations:project_detail")).content


@pytest.mark.django_db
def test_annotators_get_no_link_and_403(client, annotator, project) -> None:
    client.force_login(annotator)

    project_page = client.get(url(project, "annotations:project_detail")).content
    assert url(project).encode() not in project_page
    assert client.get(url(project)).status_code == 403
    assert client.post(url(project, "annotations:dashboard_recompute")).status_code == 403


@pytest.mark.django_db
def test_htmx_poll_returns_the_live_partial(client, manager, disagreeing) -> None:
    client.force_login(manager)

    response = client.get(url(disagreeing), HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="dashboard-live"')
    assert 'hx-trigger="every 2s"' in body  # computing: polled faster


# Committed for real: the worker checks its connection between tasks, which closes one
# held inside a test's transaction.
@pytest.mark.django_db(transaction=True)
def test_the_real_worker_computes_queued_figures(client, manager, disagreeing) -> None:
    client.force_login(manager)
    client.get(url(disagreeing))
    assert DBTaskResult.objects.count() == 1
    assert ProjectFigures.objects.get(project=disagreeing).status == ProjectFigures.Status.QUEUED

    call_command("db_worker", "--batch", "--interval", "0", verbosity=0)

    figures = ProjectFigures.objects.get(project=disagreeing)
    assert figures.status == ProjectFigures.Status.DONE
    assert figures.data["report"]["answers"]["submitted"] == 12
    assert figures.duration_ms is not None


@pytest.mark.django_db
def test_recompute_queues_one_task_at_a_time(
    client, manager, disagreeing, django_capture_on_commit_callbacks
) -> None:
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url(disagreeing, "annotations:dashboard_recompute"))
        client.post(url(disagreeing, "annotations:dashboard_recompute"))
        partial = client.post(
            url(disagreeing, "annotations:dashboard_recompute"), HTTP_HX_REQUEST="true"
        )

    assert first.status_code == 302 and first["Location"] == url(disagreeing)
    assert DBTaskResult.objects.count() == 1
    assert b"<html" not in partial.content
    assert b"Recompute now</button>" in partial.content and b" disabled>" in partial.content


@pytest.mark.django_db
def test_recompute_after_done_and_lost_computations_queue_again(
    client, manager, disagreeing, django_capture_on_commit_callbacks
) -> None:
    client.force_login(manager)
    ProjectFigures.objects.create(
        project=disagreeing,
        status=ProjectFigures.Status.RUNNING,
        requested_at=timezone.now() - reports.FIGURES_LOST_AFTER - timedelta(seconds=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url(disagreeing, "annotations:dashboard_recompute"))
    assert DBTaskResult.objects.count() == 1  # the running one was presumed lost

    ProjectFigures.objects.update(status=ProjectFigures.Status.DONE)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url(disagreeing, "annotations:dashboard_recompute"))
    assert DBTaskResult.objects.count() == 2


@pytest.mark.django_db
def test_stale_figures_are_refreshed_when_answers_changed(
    client, manager, disagreeing, settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    settings.TASKS = IMMEDIATE
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(url(disagreeing))
    # Fresh figures, nothing changed: no new computation however old they are.
    monkeypatch.setattr(reports, "FIGURES_MAX_AGE", timedelta(0))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        client.get(url(disagreeing))
    assert callbacks == []

    answer(disagreeing, "cid", segments(disagreeing)[0], "theme-1")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        page = client.get(url(disagreeing), HTTP_HX_REQUEST="true")
    assert len(callbacks) == 1
    assert b"1 answer new or changed since" in page.content
    assert b"Recomputation waiting" in page.content
    figures = ProjectFigures.objects.get(project=disagreeing)
    assert figures.data["report"]["answers"]["submitted"] == 13


@pytest.mark.django_db
def test_a_failed_computation_is_shown_and_not_retried_by_itself(
    client, manager, disagreeing, settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    settings.TASKS = IMMEDIATE

    def broken(*, project, progress=None):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(reports, "project_figures", broken)
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(url(disagreeing))

    figures = ProjectFigures.objects.get(project=disagreeing)
    assert figures.status == ProjectFigures.Status.FAILED
    assert "RuntimeError: the database went away" in figures.error
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        page = client.get(url(disagreeing)).content.decode()
    assert callbacks == []
    assert "The last computation failed" in page
    assert "the database went away" in page


@pytest.mark.django_db
def test_names_are_escaped(client, manager, project, settings, django_capture_on_commit_callbacks):
    settings.TASKS = IMMEDIATE
    project.annotators_per_segment = 2
    project.save()
    first, second = segments(project)[:2]
    for segment in (first, second):
        answer(project, "<b>eve</b>", segment, "theme-1")
        answer(project, "mal", segment, "theme-1" if segment == first else "theme-2")
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(url(project))

    page = client.get(url(project)).content.decode()
    assert "<b>eve</b>" not in page
    assert "&lt;b&gt;eve&lt;/b&gt;" in page


def _grow(project, people: int) -> None:
    for n in range(people):
        for segment in segments(project):
            answer(project, f"extra{n}", segment, "theme-3", "theme-4")


@pytest.mark.django_db
def test_page_queries_do_not_grow_with_the_data(
    client, manager, disagreeing, settings, django_assert_num_queries
) -> None:
    settings.TASKS = IMMEDIATE
    reports.figures_refresh(
        project_id=ProjectFigures.objects.create(project=disagreeing).project_id
    )
    client.force_login(manager)
    # session, user, project gate, figures, progress with names, changed-since, gold
    # counts, labels
    with django_assert_num_queries(9):
        client.get(url(disagreeing))
    _grow(disagreeing, 4)
    reports.figures_refresh(project_id=disagreeing.pk)
    with django_assert_num_queries(9):
        response = client.get(url(disagreeing), HTTP_HX_REQUEST="true")
    assert b"extra3" in response.content


@pytest.mark.django_db
def test_gold_counts_are_live(client, reviewer, disagreeing) -> None:
    first = segments(disagreeing)[0]
    GoldLabel.objects.create(
        project=disagreeing, segment=first, source=GoldLabel.Source.ADJUDICATED, reviewer=reviewer
    )
    client.force_login(reviewer)

    page = client.get(url(disagreeing), HTTP_HX_REQUEST="true").content.decode()

    assert '<span class="tile-value" id="gold-total">1</span>' in page
    assert "0 unanimous, 0 majority, 1 adjudicated;" in page
    assert '<span id="awaiting-review">0</span> awaiting review' in page


@pytest.mark.django_db(transaction=True)
def test_figures_computed_inline_show_on_the_same_response(
    client, manager, disagreeing, settings
) -> None:
    # Outside a transaction the task is enqueued at once; the immediate backend then runs
    # it before the page is rendered, and the page shows its figures, not the old state.
    settings.TASKS = IMMEDIATE
    client.force_login(manager)

    page = client.get(url(disagreeing)).content.decode()

    assert "Figures as of" in page
    assert "<polyline" in page


@pytest.mark.django_db
def test_a_running_computation_reports_its_progress(disagreeing, monkeypatch) -> None:
    real = reports.project_figures
    seen = []

    def watched(*, project, progress):
        def report(done: float) -> None:
            progress(done)
            figures = ProjectFigures.objects.get(project=project)
            seen.append((figures.status, figures.progress))

        return real(project=project, progress=report)

    monkeypatch.setattr(reports, "project_figures", watched)
    ProjectFigures.objects.create(project=disagreeing)
    reports.figures_refresh(project_id=disagreeing.pk)

    # After the answers, after their labels, before the agreement figures.
    assert seen == [("running", 40), ("running", 80), ("running", 90)]
    figures = ProjectFigures.objects.get(project=disagreeing)
    assert figures.status == ProjectFigures.Status.DONE
    assert figures.progress is None


@pytest.mark.django_db
def test_the_page_shows_the_progress_and_the_freshness_while_computing(
    client, manager, disagreeing
) -> None:
    computed = timezone.now() - timedelta(minutes=5)
    ProjectFigures.objects.create(
        project=disagreeing,
        status=ProjectFigures.Status.RUNNING,
        requested_at=timezone.now(),
        started_at=timezone.now(),
        computed_at=computed,
        progress=42,
        data={"report": {}},
    )
    client.force_login(manager)

    body = client.get(url(disagreeing), headers={"HX-Request": "true"}).content.decode()

    assert "computing figures… 42 %" in body
    assert '<progress max="100" value="42"' in body
    assert "Figures as of" in body and "5\xa0minutes ago" in body
    assert 'hx-trigger="every 2s"' in body
