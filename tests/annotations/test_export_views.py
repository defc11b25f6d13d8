"""The Export page: the form, starting an export in the background, its progress row, and
downloads (managers and admins only; the role matrix covers every other role)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from annotations.models import Export
from annotations.services.answers import annotation_submit
from annotations.services.exports import ExportOptions, export_build, export_create
from articles.models import Segment

HTMX = {"HTTP_HX_REQUEST": "true"}
IMMEDIATE = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def answered(project, annotator):
    labels = list(project.label_set.labels.all())
    for n, segment in enumerate(Segment.objects.filter(article__collection=project.collection)):
        annotation_submit(
            project=project, segment=segment, annotator=annotator, labels=[labels[n % 2]]
        )
    return project


def page(project) -> str:
    return reverse("annotations:export_list", args=[project.slug])


def test_the_page_shows_the_form_with_defaults(
    client, manager, project, django_assert_max_num_queries
):
    client.force_login(manager)

    with django_assert_max_num_queries(8):
        response = client.get(page(project))

    html = response.content.decode()
    assert response.status_code == 200
    assert '<option value="folder" selected>' in html
    assert '<option value="majority" selected>' in html
    assert 'value="0.8,0.1,0.1"' in html
    assert "No exports yet." in html


def test_starting_an_export_runs_it_and_lists_a_download(
    client, manager, answered, settings, django_capture_on_commit_callbacks
) -> None:
    settings.TASKS = IMMEDIATE
    client.force_login(manager)
    data = {"format": "folder", "labels": "majority", "split": "0.5,0.25,0.25", "seed": "5"}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page(answered), data)

    assert response.status_code == 302
    export = Export.objects.get(project=answered)
    assert export.status == Export.Status.SUCCEEDED, export.error
    assert export.created_by == manager
    assert export.options["split"] == [0.5, 0.25, 0.25] and export.options["seed"] == 5
    assert Path(export.path).name == "team-project-majority.zip"
    listing = client.get(page(answered)).content.decode()
    download = reverse("annotations:export_download", args=[answered.slug, export.pk])
    assert f'href="{download}"' in listing

    response = client.get(download)

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="team-project-majority.zip"'
    assert b"".join(response.streaming_content) == Path(export.path).read_bytes()


# Committed data: the worker closes connections between tasks, as it does in production.
@pytest.mark.django_db(transaction=True)
def test_the_real_worker_runs_a_queued_export(
    client, manager, answered, django_capture_on_commit_callbacks
) -> None:
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(page(answered), {"format": "jsonl", "labels": "raw", "seed": "0"})

    export = Export.objects.get(project=answered)
    assert export.status == Export.Status.QUEUED
    assert DBTaskResult.objects.filter(task_path="annotations.tasks.export_run").count() == 1

    # The worker installs its own SIGINT/SIGTERM handlers; give pytest back its own after.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    export.refresh_from_db()
    assert export.status == Export.Status.SUCCEEDED
    assert export.rows == 6
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


def test_an_htmx_post_answers_with_the_region(client, manager, project, settings) -> None:
    settings.TASKS = IMMEDIATE
    client.force_login(manager)

    response = client.post(page(project), {"format": "jsonl", "labels": "raw", "seed": "0"}, **HTMX)

    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'id="exports"' in response.content
    assert Export.objects.filter(project=project).count() == 1


def test_bad_options_are_shown_in_place(client, manager, project) -> None:
    client.force_login(manager)

    response = client.post(
        page(project),
        {"format": "folder", "labels": "raw", "split": "0.9,0.9,0.1", "seed": "0"},
        **HTMX,
    )

    assert response.status_code == 400
    assert b"add up to 1" in response.content
    assert b"<html" not in response.content
    assert not Export.objects.exists()


def test_the_status_row_polls_until_the_export_has_finished(client, manager, answered, tmp_path):
    client.force_login(manager)
    export = export_create(project=answered, options=ExportOptions(), by=manager)
    url = reverse("annotations:export_status", args=[answered.slug, export.pk])

    running = client.get(url, **HTMX).content.decode()
    export_build(export=export, out=tmp_path / "elsewhere.jsonl")
    done = client.get(url, **HTMX).content.decode()

    assert 'hx-trigger="every 1s"' in running and "<progress" in running
    assert "<html" not in running
    assert "hx-trigger" not in done and "Download" not in done  # not under the export root
    assert "Succeeded" in done


def test_a_plain_get_of_the_status_goes_to_the_page(client, manager, project) -> None:
    client.force_login(manager)
    export = export_create(project=project, options=ExportOptions(), by=manager)

    response = client.get(reverse("annotations:export_status", args=[project.slug, export.pk]))

    assert response.status_code == 302 and response["Location"] == page(project)


def test_no_download_for_unfinished_failed_or_outside_files(
    client, manager, answered, tmp_path
) -> None:
    client.force_login(manager)
    queued = export_create(project=answered, options=ExportOptions(), by=manager)
    elsewhere = export_create(project=answered, options=ExportOptions(), by=None)
    export_build(export=elsewhere, out=tmp_path / "outside" / "raw.jsonl")
    failed = export_create(project=answered, options=ExportOptions(), by=manager)
    Export.objects.filter(pk=failed.pk).update(status=Export.Status.FAILED, path=elsewhere.path)

    for export in (queued, elsewhere, failed):
        url = reverse("annotations:export_download", args=[answered.slug, export.pk])
        assert client.get(url).status_code == 404


def test_another_projects_export_is_404(client, manager, project, other_project, tmp_path):
    client.force_login(manager)
    theirs = export_create(project=other_project, options=ExportOptions(), by=None)

    for name in ("export_status", "export_download"):
        response = client.get(reverse(f"annotations:{name}", args=[project.slug, theirs.pk]))
        assert response.status_code == 404


def test_the_admin_action_asks_for_options_then_queues(
    client, admin_user, answered, settings, django_capture_on_commit_callbacks
) -> None:
    settings.TASKS = IMMEDIATE
    client.force_login(admin_user)
    url = reverse("admin:annotations_project_changelist")
    chosen = {"action": "export_dataset", "_selected_action": [answered.pk]}

    form = client.post(url, chosen)
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            url, {**chosen, "apply": "1", "format": "csv", "labels": "raw", "seed": "0"}
        )

    assert form.status_code == 200 and b"Start export" in form.content
    assert done.status_code == 302
    export = Export.objects.get(project=answered)
    assert export.status == Export.Status.SUCCEEDED and export.path.endswith(".csv")
    change = client.get(reverse("admin:annotations_export_change", args=[export.pk]))
    download = reverse("annotations:export_download", args=[answered.slug, export.pk])
    assert download.encode() in change.content
    assert client.get(download).status_code == 200
